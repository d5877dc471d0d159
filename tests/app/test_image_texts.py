"""Graphs carried by pictures: the texts read as Pillow reads them, but without decoding the
pixels, so a huge picture, a big workflow and a damaged or hostile file each get a clear
answer (before, a picture over Pillow's bomb size raised DecompressionBombError out of the
reader, and a workflow over 1 MB in a compressed chunk could not be read)."""

from __future__ import annotations

import io
import json
import struct
import zlib

import pytest
from PIL import Image, PngImagePlugin

from nodestudio.app import image_texts
from nodestudio.app.formats import read_graph_bytes
from nodestudio.app.image_texts import png_text_chunks
from nodestudio.app.packs import create_registry
from nodestudio.graph import files
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import GraphFileError


@pytest.fixture(scope="module")
def registry():
    return create_registry(entry_points=False)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, *texts: bytes) -> bytes:
    """A PNG that declares width × height pixels; its image data is a few bytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + b"".join(texts)
            + _chunk(b"IDAT", zlib.compress(b"\0" * 16)) + _chunk(b"IEND", b""))


def _graph_text() -> str:
    graph = Graph()
    graph.add_node("primitive.int", {"value": 7}, id="seven")
    return json.dumps(files.to_document(graph))


def test_every_kind_of_text_chunk_reads_as_pillow_reads_it():
    info = PngImagePlugin.PngInfo()
    info.add_text("nodestudio", '{"café": "naïve"}')  # Latin-1: a tEXt chunk
    info.add_text("workflow", '{"日本": 1}')  # beyond Latin-1: Pillow writes iTXt
    info.add_text("parameters", "a prompt, " * 200, zip=True)  # zTXt
    info.add_itxt("prompt", "ünïcode " * 100, zip=True)  # compressed iTXt
    picture = io.BytesIO()
    Image.new("RGB", (6, 4), "red").save(picture, "PNG", pnginfo=info)
    with Image.open(io.BytesIO(picture.getvalue())) as image:
        image.load()
        pillow_reads = dict(image.text)
    assert png_text_chunks(picture.getvalue()) == pillow_reads
    assert len(pillow_reads) == 4


def test_a_picture_beyond_pillows_bomb_size_still_opens_as_its_graph(registry):
    raw = _png(40_000, 40_000, _chunk(b"tEXt", b"nodestudio\0" + _graph_text().encode()))
    with pytest.raises(Image.DecompressionBombError):  # why Pillow cannot be asked
        Image.open(io.BytesIO(raw))
    graph = read_graph_bytes(raw, registry)
    assert graph.nodes["seven"].values["value"] == 7


def test_a_workflow_over_a_megabyte_in_a_compressed_chunk_opens(registry):
    document = json.loads(_graph_text())
    document["nodes"][0]["title"] = "x" * 3_000_000  # a big workflow: past Pillow's 1 MB cap
    packed = zlib.compress(json.dumps(document).encode())
    raw = _png(8, 8, _chunk(b"zTXt", b"nodestudio\0\0" + packed))
    graph = read_graph_bytes(raw, registry)
    assert len(graph.nodes["seven"].title) == 3_000_000


def test_a_text_bomb_is_refused_before_it_unpacks(monkeypatch):
    assert image_texts.MAX_TEXT_BYTES == 256 << 20
    monkeypatch.setattr(image_texts, "MAX_TEXT_BYTES", 1 << 20)  # a smaller bomb, same path
    bomb = zlib.compress(b"{" * (3 << 20), 9)  # 3 MB in 3 kB
    for kind, head in ((b"zTXt", b"workflow\0\0"), (b"iTXt", b"workflow\0\1\0en\0\0")):
        with pytest.raises(GraphFileError) as refused:
            png_text_chunks(_png(8, 8, _chunk(kind, head + bomb)))
        assert [p.message for p in refused.value.problems] == [
            "its texts are larger than 1 MB; no workflow is"]
    # The cap is on all texts together: two chunks under it each, over it together.
    half = zlib.compress(b"{" * (600 << 10))
    with pytest.raises(GraphFileError):
        png_text_chunks(_png(8, 8, _chunk(b"zTXt", b"a\0\0" + half),
                             _chunk(b"zTXt", b"b\0\0" + half)))


def test_damaged_cut_and_foreign_bytes_are_told_apart():
    text = _chunk(b"tEXt", b"prompt\0{}")
    damaged = bytearray(_png(8, 8, text))
    damaged[damaged.index(b"prompt") + 2] ^= 0x20
    with pytest.raises(GraphFileError) as refused:
        png_text_chunks(bytes(damaged))
    assert refused.value.problems[0].message == (
        "its tEXt chunk is damaged (its checksum is wrong)")
    # A file cut short (a partial download) keeps the texts before the cut.
    assert png_text_chunks(_png(8, 8, text)[:-30]) == {"prompt": "{}"}
    with pytest.raises(GraphFileError, match="it is not a PNG file"):
        png_text_chunks(b"GIF89a" + bytes(40))
