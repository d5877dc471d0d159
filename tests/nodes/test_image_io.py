"""Loading and saving images: formats, masks from alpha, file names, embedded graphs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from nodestudio.api import NodeError


def _save_rgba(path: Path, rgba: np.ndarray) -> None:
    Image.fromarray(rgba).save(path)


def test_load_png_with_alpha_gives_mask_of_transparent_area(node, ctx, folders):
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 255
    rgba[:, :4, 3] = 0  # left half fully transparent
    rgba[0, 7, 3] = 64
    _save_rgba(folders.input / "cut.png", rgba)

    image, mask = node("image.load").function(image="cut.png", ctx=ctx)

    assert image.dtype == np.float32 and image.shape == (1, 6, 8, 3)
    assert mask.dtype == np.float32 and mask.shape == (1, 6, 8)
    np.testing.assert_allclose(image[0, 3, 6], [200 / 255, 0, 0], atol=1e-6)
    assert np.all(mask[0, :, :4] == 1.0)
    assert mask[0, 3, 6] == 0.0
    assert mask[0, 0, 7] == pytest.approx(1 - 64 / 255)


def test_load_without_alpha_gives_an_empty_mask_of_the_image_size(node, ctx, folders):
    Image.new("RGB", (10, 4), (0, 128, 255)).save(folders.input / "plain.png")
    image, mask = node("image.load").function(image="plain.png", ctx=ctx)
    np.testing.assert_allclose(image[0, 2, 5], [0, 128 / 255, 1.0], atol=1e-6)
    assert mask.shape == (1, 4, 10) and not mask.any()


def test_load_turns_jpeg_upright_by_its_exif_orientation(node, ctx, folders):
    # Stored 40 wide and 20 high: red left half, blue right half. Orientation 6 means the
    # camera was turned: shown upright, the picture is 20 wide, 40 high, red on top.
    stored = Image.new("RGB", (40, 20), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(folders.input / "camera.jpg", quality=95, exif=exif)

    image, _ = node("image.load").function(image="camera.jpg", ctx=ctx)

    assert image.shape == (1, 40, 20, 3)
    np.testing.assert_allclose(image[0, 5, 10], [1, 0, 0], atol=0.05)
    np.testing.assert_allclose(image[0, 35, 10], [0, 0, 1], atol=0.05)


def test_load_keeps_16_bit_precision(node, ctx, folders):
    grey = np.linspace(0, 65535, 64, dtype=np.uint16).reshape(8, 8)
    cv2.imwrite(str(folders.input / "grey16.png"), grey)
    colour = np.zeros((4, 4, 3), np.uint16)
    colour[..., 2] = 40000  # opencv writes BGR: this is red
    colour[..., 0] = 123
    cv2.imwrite(str(folders.input / "colour16.png"), colour)

    grey_image, _ = node("image.load").function(image="grey16.png", ctx=ctx)
    colour_image, _ = node("image.load").function(image="colour16.png", ctx=ctx)

    np.testing.assert_allclose(grey_image[0, ..., 1], grey / 65535.0, atol=1e-6)
    np.testing.assert_allclose(colour_image[0, 0, 0], [40000 / 65535, 0, 123 / 65535], atol=1e-6)


def test_load_palette_greyscale_and_webp(node, ctx, folders):
    palette = Image.new("P", (4, 2), 0)
    palette.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    palette.putpixel((3, 1), 1)
    palette.info["transparency"] = 0
    palette.save(folders.input / "palette.png", transparency=0)
    Image.new("L", (3, 3), 51).save(folders.input / "grey.png")
    Image.new("RGB", (5, 5), (10, 20, 30)).save(folders.input / "pic.webp", lossless=True)
    load = node("image.load").function

    image, mask = load(image="palette.png", ctx=ctx)
    np.testing.assert_allclose(image[0, 1, 3], [0, 1, 0])
    assert mask[0, 0, 0] == 1.0 and mask[0, 1, 3] == 0.0

    image, _ = load(image="grey.png", ctx=ctx)
    np.testing.assert_allclose(image[0, 1, 1], [0.2, 0.2, 0.2], atol=1e-6)

    image, _ = load(image="pic.webp", ctx=ctx)
    np.testing.assert_allclose(image[0, 2, 2], np.array([10, 20, 30]) / 255, atol=1e-6)


def test_load_accepts_an_absolute_path_only_in_an_allowed_folder(node, ctx, tmp_path):
    """Issue 14 item 11: a shared graph must not read the user's files outside the input
    folder; the app hands the folders the user allowed to the node as ctx.readable_roots."""
    elsewhere = tmp_path / "elsewhere" / "picture.png"
    elsewhere.parent.mkdir()
    Image.new("RGB", (2, 2), (255, 255, 255)).save(elsewhere)
    with pytest.raises(NodeError, match="outside the input folder"):
        node("image.load").function(image=str(elsewhere), ctx=ctx)
    ctx.readable_roots = (Path(ctx.input_dir), elsewhere.parent)
    image, _ = node("image.load").function(image=str(elsewhere), ctx=ctx)
    assert image.shape == (1, 2, 2, 3) and np.all(image == 1.0)


def test_the_example_workflows_picture_loads_by_name_unless_the_input_folder_has_one(
        node, ctx, folders):
    from nodestudio.paths import workflows_dir

    load = node("image.load").function
    shipped = np.asarray(Image.open(workflows_dir() / "controlnet_shape.png").convert("RGB"))
    image, _ = load(image="controlnet_shape.png", ctx=ctx)
    assert np.array_equal(np.rint(image[0] * 255).astype(np.uint8), shipped)
    # The user's own file of that name wins.
    Image.new("RGB", (3, 3), (0, 0, 0)).save(folders.input / "controlnet_shape.png")
    image, _ = load(image="controlnet_shape.png", ctx=ctx)
    assert image.shape == (1, 3, 3, 3)


def test_missing_or_broken_files_are_clear_errors(node, ctx, folders):
    load = node("image.load").function
    with pytest.raises(NodeError) as missing:
        load(image="nope.png", ctx=ctx)
    assert str(folders.input / "nope.png") in str(missing.value)
    assert f"input folder: {folders.input}" in str(missing.value)
    (folders.input / "notes.png").write_text("not a picture")
    with pytest.raises(NodeError, match="not an image"):
        load(image="notes.png", ctx=ctx)
    with pytest.raises(NodeError, match="choose an image"):
        load(image="", ctx=ctx)


def test_load_fingerprint_follows_the_file(node, ctx, folders):
    load_type = node("image.load")
    assert not load_type.deterministic
    path = folders.input / "changing.png"
    Image.new("RGB", (4, 4), (0, 0, 0)).save(path)
    first = load_type.fingerprint(image="changing.png", ctx=ctx)
    assert load_type.fingerprint(image="changing.png", ctx=ctx) == first
    Image.new("RGB", (8, 4), (0, 0, 0)).save(path)
    os.utime(path, ns=(1, 1))
    assert load_type.fingerprint(image="changing.png", ctx=ctx) != first


def test_save_numbers_files_after_the_highest_existing_and_embeds_the_graph(
        node, make_context, folders):
    graph_document = {"format": "nodestudio.graph", "nodes": [{"id": "1", "type": "x"}]}
    recorder = make_context(graph_document)
    (folders.output / "shot_00007_.png").write_bytes(b"an older picture")
    (folders.output / "shot_00002_.png").write_bytes(b"an older picture")
    (folders.output / "shots_00050_.png").write_bytes(b"another prefix")
    images = np.zeros((2, 3, 4, 3), np.float32)
    images[0, ..., 0] = 1.0
    images[1, ..., 2] = 0.5

    returned = node("image.save").function(images=images, filename_prefix="shot",
                                           ctx=recorder.context)

    assert returned == ()
    saved = [folders.output / "shot_00008_.png", folders.output / "shot_00009_.png"]
    assert recorder.context.files == saved
    assert (folders.output / "shot_00007_.png").read_bytes() == b"an older picture"
    with Image.open(saved[0]) as first:
        assert first.mode == "RGB" and first.size == (4, 3)
        assert first.getpixel((0, 0)) == (255, 0, 0)
        assert json.loads(first.text["nodestudio"]) == graph_document
    with Image.open(saved[1]) as second:
        assert second.getpixel((3, 2)) == (0, 0, 128)
    assert len(recorder.context.images) == 1
    np.testing.assert_array_equal(recorder.context.images[0], images)
    assert sorted(p.name for p in folders.output.iterdir()) == [
        "shot_00002_.png", "shot_00007_.png", "shot_00008_.png", "shot_00009_.png",
        "shots_00050_.png"]  # no temporary files left behind


def test_save_into_a_sub_folder_without_graph(node, ctx, folders):
    ctx.graph_document = None
    node("image.save").function(images=np.ones((1, 2, 2, 3), np.float32),
                                filename_prefix="portraits/face", ctx=ctx)
    saved = folders.output / "portraits" / "face_00001_.png"
    assert ctx.files == [saved]
    with Image.open(saved) as picture:
        assert "nodestudio" not in picture.text


@pytest.mark.parametrize("prefix", ["../escape", "a/../../escape", "/tmp/absolute", "", "dir/",
                                    "bad:name"])
def test_save_refuses_prefixes_that_leave_the_output_folder_or_name_nothing(
        node, ctx, folders, prefix):
    with pytest.raises(NodeError, match="filename prefix"):
        node("image.save").function(images=np.ones((1, 2, 2, 3), np.float32),
                                    filename_prefix=prefix, ctx=ctx)
    assert list(folders.output.iterdir()) == []
    assert not (folders.output.parent / "escape_00001_.png").exists()


def test_save_says_in_words_that_a_file_stands_where_its_folder_goes(node, ctx, folders):
    (folders.output / "portraits").write_text("a file, not a folder")
    with pytest.raises(NodeError) as refused:
        node("image.save").function(images=np.ones((1, 2, 2, 3), np.float32),
                                    filename_prefix="portraits/face", ctx=ctx)
    assert str(refused.value) == (f"cannot save the image in {folders.output / 'portraits'}: "
                                  f"{folders.output / 'portraits'} is a file, not a folder")


def test_preview_shows_without_writing(node, ctx, folders):
    images = np.full((1, 2, 2, 3), 0.25, np.float32)
    assert node("image.preview").function(images=images, ctx=ctx) == ()
    assert len(ctx.images) == 1 and ctx.files == []
    assert list(folders.output.iterdir()) == []
