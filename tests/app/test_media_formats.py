"""Opening videos, sounds and meshes as graph files: found by content (not by name), the
graph restored, ComfyUI's tags understood, and files without a graph refused clearly."""

from __future__ import annotations

import json
from fractions import Fraction

import av
import numpy as np
import pytest

from nodestudio.app.formats import read_graph, read_graph_bytes
from nodestudio.app.media_metadata import media_kind
from nodestudio.app.packs import create_registry
from nodestudio.graph import files
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import GraphFileError


@pytest.fixture(scope="module")
def registry():
    return create_registry(entry_points=False)


@pytest.fixture(scope="module")
def document(registry):
    graph = Graph()
    graph.add_node("primitive.int", {"value": 7}, id="seven")
    return files.to_document(graph)


def _mp4(path, tags: dict[str, str]) -> None:
    with av.open(str(path), "w", format="mp4",
                 options={"movflags": "use_metadata_tags"}) as output:
        for key, value in tags.items():
            output.metadata[key] = value
        stream = output.add_stream("libx264", rate=Fraction(4))
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
        output.mux(stream.encode(frame))
        output.mux(stream.encode(None))


@pytest.mark.parametrize(("kind", "node_type", "values"), [
    ("mp4", "video.save", {"format": "mp4", "crf": 30}),
    ("webm", "video.save", {"format": "webm", "crf": 40}),
    ("webp", "video.save", {"format": "webp", "crf": 19}),
    ("flac", "audio.save", {"format": "flac"}),
    ("wav", "audio.save", {"format": "wav"}),
    ("opus", "audio.save", {"format": "opus"}),
    ("glb", "mesh.save", {"format": "glb"}),
    ("ply", "mesh.save", {"format": "ply"}),
    ("obj", "mesh.save", {"format": "obj"}),
])
def test_every_saved_kind_opens_as_its_graph(tmp_path, registry, document, kind, node_type,
                                             values):
    from nodestudio.api import Audio, Mesh, Video
    from nodestudio.engine.cancel import CancelToken
    from nodestudio.engine.context import RunContext, RunEnvironment

    environment = RunEnvironment(device="cpu", output_dir=tmp_path, input_dir=tmp_path)
    ctx = RunContext("save", environment, CancelToken(), lambda event: None, "run",
                     document)
    value = {"video.save": Video(np.full((2, 8, 8, 3), 0.5, np.float32), 4.0),
             "audio.save": Audio(np.zeros((2, 4800), np.float32), 48000),
             "mesh.save": Mesh(np.eye(3), [[0, 1, 2]])}[node_type]
    argument = {"video.save": "video", "audio.save": "audio", "mesh.save": "mesh"}[node_type]
    registry.get(node_type).function(**{argument: value}, filename_prefix="x", ctx=ctx,
                                     **values)
    [path] = ctx.files
    renamed = path.rename(tmp_path / "no_suffix")  # found by content, not by name
    graph = read_graph(renamed, registry)
    assert graph.node("seven").values["value"] == 7


def test_a_video_larger_than_any_graph_file_still_opens_as_its_graph(tmp_path, registry,
                                                                    document):
    """Its tags are read in place: the 1 GB cap of graph files is for what is read whole."""
    from nodestudio.api import Video
    from nodestudio.engine.cancel import CancelToken
    from nodestudio.engine.context import RunContext, RunEnvironment

    environment = RunEnvironment(device="cpu", output_dir=tmp_path, input_dir=tmp_path)
    ctx = RunContext("save", environment, CancelToken(), lambda event: None, "run", document)
    registry.get("video.save").function(video=Video(np.full((2, 8, 8, 3), 0.5, np.float32), 4.0),
                                        filename_prefix="long", ctx=ctx, format="mp4", crf=30)
    [path] = ctx.files
    with path.open("r+b") as video:  # sparse: 3 GiB on disk that cost nothing
        video.truncate(3 << 30)
    assert read_graph(path, registry).node("seven").values["value"] == 7


def test_comfyui_video_tags_open_through_its_importer(tmp_path, registry):
    prompt = {"1": {"class_type": "PrimitiveInt", "inputs": {"value": 3}},
              "2": {"class_type": "PreviewImage", "inputs": {}}}
    _mp4(tmp_path / "comfy.mp4", {"prompt": json.dumps(prompt)})
    graph = read_graph(tmp_path / "comfy.mp4", registry)
    assert graph.node("1").values["value"] == 3


def test_media_without_a_graph_or_damaged_is_one_clear_error(tmp_path, registry):
    _mp4(tmp_path / "plain.mp4", {"title": "holiday"})
    with pytest.raises(GraphFileError, match="this MP4 carries no graph"):
        read_graph(tmp_path / "plain.mp4", registry)
    damaged = (tmp_path / "plain.mp4").read_bytes()[:40]
    with pytest.raises(GraphFileError, match="the MP4 file could not be read"):
        read_graph_bytes(damaged, registry)
    with pytest.raises(GraphFileError, match="the GLB file could not be read"):
        read_graph_bytes(b"glTF\x02\x00\x00\x00" + b"\x00" * 4, registry)
    assert media_kind(b'{"format": "nodestudio.graph"}') is None  # JSON stays JSON
