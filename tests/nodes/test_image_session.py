"""Image nodes in real graphs run by a Session: load -> resize -> save, and back to the graph."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

import nodestudio
from nodestudio.app.settings import Settings
from nodestudio.graph.model import Graph


def _two_colour_picture(path, left, right) -> None:
    picture = Image.new("RGB", (8, 4), right)
    picture.paste(left, (0, 0, 4, 4))
    picture.save(path)


@pytest.fixture
def session(registry, folders):
    return nodestudio.Session(device="cpu", models_dir=folders.models, output_dir=folders.output,
                              input_dir=folders.input, registry=registry, settings=Settings())


@pytest.fixture
def graph() -> Graph:
    graph = Graph()
    load = graph.add_node("image.load", {"image": "source.png"}, id="load")
    resize = graph.add_node("image.resize", {"width": 4, "height": 0, "method": "area"},
                            id="resize")
    save = graph.add_node("image.save", {"filename_prefix": "trip/out"}, id="save")
    graph.connect(load.id, "image", resize.id, "image")
    graph.connect(resize.id, "image", save.id, "images")
    return graph


def test_saved_file_has_the_pixels_and_carries_the_graph(session, graph, folders, registry):
    _two_colour_picture(folders.input / "source.png", (255, 0, 0), (0, 0, 255))

    result = session.run(graph)

    saved = folders.output / "trip" / "out_00001_.png"
    assert result.files == [saved]
    with Image.open(saved) as picture:
        assert picture.size == (4, 2)
        pixels = np.asarray(picture.convert("RGB"))
        document = json.loads(picture.text["nodestudio"])
    assert np.all(pixels[:, :2] == [255, 0, 0]) and np.all(pixels[:, 2:] == [0, 0, 255])
    assert {node["type"] for node in document["nodes"]} == {"image.load", "image.resize",
                                                            "image.save"}
    # Dropping the PNG on the canvas gives the graph back.
    assert nodestudio.load_graph(saved, registry) == graph


def test_unchanged_graph_runs_nothing_and_an_edited_file_is_read_again(session, graph, folders):
    source = folders.input / "source.png"
    _two_colour_picture(source, (255, 0, 0), (0, 0, 255))
    session.run(graph)

    again = session.run(graph)
    assert again.executed == [] and again.files == []

    _two_colour_picture(source, (0, 255, 0), (0, 255, 0))
    os.utime(source, ns=(10**9, 10**9))  # a different time even on coarse-clock file systems
    edited = session.run(graph)

    assert edited.executed == ["load", "resize", "save"]
    assert edited.files == [folders.output / "trip" / "out_00002_.png"]
    with Image.open(edited.files[0]) as picture:
        assert picture.getpixel((0, 0)) == (0, 255, 0)
