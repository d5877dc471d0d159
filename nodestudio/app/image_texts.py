"""The texts a picture carries (a graph, a ComfyUI workflow or prompt), read without decoding
its pixels.

A PNG keeps them in tEXt, zTXt and iTXt chunks, which may come after the image data; reading
them through Pillow would decode every pixel first (an 8K picture dropped on the canvas) and
refuse any picture over Pillow's decompression-bomb size, graph or not, while its compressed
text chunks stop at 1 MB unpacked, less than a big workflow. So the chunks are walked here:
the format is a length, a type, the data and a checksum per chunk. Unpacking is capped, so a
hostile picture cannot unpack gigabytes of text.
"""

from __future__ import annotations

import struct
import warnings
import zlib

from nodestudio.graph.problems import GraphFileError, Problem

#: The PNG text chunk in which NodeStudio stores the graph that made an image.
PNG_GRAPH_CHUNK = "nodestudio"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: All text a picture may unpack to, together: far above any workflow (a few megabytes).
MAX_TEXT_BYTES = 256 << 20
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")


def png_text_chunks(raw: bytes) -> dict[str, str]:
    """The tEXt/iTXt/zTXt chunks of a PNG, key → text; raises GraphFileError when the bytes
    are not a PNG or a text chunk is damaged. A file cut short keeps the texts before the cut
    (a partly downloaded picture often still carries its graph)."""
    if not raw.startswith(PNG_SIGNATURE):
        raise _damaged("it is not a PNG file")
    texts: dict[str, str] = {}
    budget = [MAX_TEXT_BYTES]
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(raw):
        length, kind = struct.unpack_from(">I4s", raw, offset)
        end = offset + 8 + length
        if end + 4 > len(raw) or kind == b"IEND":
            break
        if kind in _TEXT_CHUNKS:
            data = raw[offset + 8:end]
            (checksum,) = struct.unpack_from(">I", raw, end)
            if zlib.crc32(kind + data) != checksum:
                raise _damaged(f"its {kind.decode()} chunk is damaged (its checksum is wrong)")
            key, value = _text_chunk(kind, data, budget)
            texts.setdefault(key, value)  # the first of a repeated key, as Pillow keeps it
        offset = end + 4
    return texts


def _text_chunk(kind: bytes, data: bytes, budget: list[int]) -> tuple[str, str]:
    key, _, rest = data.partition(b"\0")
    if kind == b"tEXt":
        return key.decode("latin-1"), _charged(rest, budget).decode("latin-1")
    if kind == b"zTXt":  # a compression method byte, then zlib data
        return key.decode("latin-1"), _inflate(rest[1:], budget).decode("latin-1")
    # iTXt: compression flag and method, a language tag, a translated key, then the text.
    compressed = rest[:1] == b"\x01"
    _, _, rest = rest[2:].partition(b"\0")
    _, _, text = rest.partition(b"\0")
    text = _inflate(text, budget) if compressed else _charged(text, budget)
    return key.decode("latin-1"), text.decode("utf-8", errors="replace")


def _charged(text: bytes, budget: list[int]) -> bytes:
    budget[0] -= len(text)
    if budget[0] < 0:
        raise _damaged(f"its texts are larger than {MAX_TEXT_BYTES >> 20} MB; no workflow is")
    return text


def _inflate(packed: bytes, budget: list[int]) -> bytes:
    unpacker = zlib.decompressobj()
    try:
        text = unpacker.decompress(packed, max(budget[0], 0) + 1)
    except zlib.error:
        raise _damaged("a compressed text chunk does not unpack") from None
    return _charged(text, budget)


def webp_exif_texts(raw: bytes) -> dict[str, str]:
    """What ComfyUI stores in a WEBP's EXIF: "workflow:{…}" and "prompt:{…}" strings (in the
    Make and Model tags, and further tags down for more entries), as key → JSON text."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # A big picture is no bomb here: only its EXIF is read, never its pixels.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(raw)) as image:
                exif = image.getexif()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
            Image.DecompressionBombError) as error:
        raise GraphFileError("the WEBP could not be read", [Problem(str(error), kind="webp")]) \
            from None
    texts: dict[str, str] = {}
    for value in exif.values():
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        if isinstance(value, str) and ":" in value:
            key, _, text = value.partition(":")
            if key in (PNG_GRAPH_CHUNK, "workflow", "prompt"):
                texts[key] = text.rstrip("\x00")
    return texts


def _damaged(reason: str) -> GraphFileError:
    return GraphFileError("the PNG could not be read", [Problem(reason, kind="png")])
