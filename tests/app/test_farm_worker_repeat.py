"""A farm worker sent the same graph twice sends the pictures back both times (its cache must
not replay a Save node whose files went with the first job's scratch folder), while the
nodes upstream stay cached. The worker runs in this process; tests/app/test_farm.py runs it
as a Ray actor."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from nodestudio.graph.model import Graph


def _mask_graph(value: float) -> Graph:
    graph = Graph()
    solid = graph.add_node("mask.solid", {"value": value, "width": 8, "height": 8}, id="solid")
    image = graph.add_node("mask.to_image", id="image")
    save = graph.add_node("image.save", {"filename_prefix": "m"}, id="save")
    graph.connect(solid.id, "mask", image.id, "mask")
    graph.connect(image.id, "image", save.id, "images")
    return graph


def test_the_same_graph_twice_sends_its_pictures_both_times(tmp_path: Path):
    from nodestudio.app.farm.worker import FarmWorker
    from nodestudio.graph.files import to_document

    worker = FarmWorker("worker-1", [str(tmp_path / "models")], "cpu")
    document = to_document(_mask_graph(0.5))
    first = worker.run({"id": "j1", "document": document, "outputs": None})
    second = worker.run({"id": "j2", "document": document, "outputs": None})
    for reply in (first, second):
        assert reply["status"] == "finished", reply.get("error")
        [(name, data)] = reply["files"]
        pixels = np.asarray(Image.open(io.BytesIO(data)))
        assert name.endswith(".png") and pixels.shape[:2] == (8, 8)
        assert abs(int(pixels.reshape(-1)[0]) - 128) <= 1
    assert second["executed"] == ["save"] and "image" in second["cached"]
