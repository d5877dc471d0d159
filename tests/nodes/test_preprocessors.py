"""Preprocessors: canny, controlnet-aux detectors without weights, and weights from the
annotators folder (missing, damaged, and real randomly initialised networks)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from nodestudio.api import Cancelled, ModelNotFoundError, NodeError
from nodestudio.engine.events import NodeProgress

#: Tests that run controlnet-aux: the first to import it waits seconds for torch, timm and co.
uses_controlnet_aux = pytest.mark.slow


def test_canny_draws_white_edges_on_the_shape_border(node, rectangle):
    image = rectangle(64, 48, box=(16, 12, 48, 36), colour=(0.9, 0.6, 0.1),
                      background=(0.1, 0.1, 0.3))

    edges = node("preprocess.canny").function(image=image, low_threshold=100,
                                              high_threshold=200)

    assert edges.shape == (1, 48, 64, 3) and edges.dtype == np.float32
    assert set(np.unique(edges)) == {0.0, 1.0}
    assert np.array_equal(edges[..., 0], edges[..., 2])  # grey: the same in every channel
    found = np.argwhere(edges[0, ..., 0] == 1.0)
    # Every edge pixel lies on the rectangle's border (within a pixel either side)...
    near_vertical = (np.abs(found[:, 1] - 16) <= 1) | (np.abs(found[:, 1] - 47) <= 1)
    near_horizontal = (np.abs(found[:, 0] - 12) <= 1) | (np.abs(found[:, 0] - 35) <= 1)
    assert np.all(near_vertical | near_horizontal)
    # ...and the border is traced all round: each side has edge pixels along its length.
    assert edges[0, 20:28, 15:18, 0].any(axis=1).all()  # left side, rows 20-27
    assert edges[0, 11:14, 20:44, 0].any(axis=0).all()  # top side, columns 20-43
    assert not edges[0, :8].any() and not edges[0, 16:32, 20:44].any()


def test_canny_higher_thresholds_find_fewer_edges(node, rectangle):
    image = rectangle(64, 48, colour=(0.4, 0.4, 0.4), background=(0.3, 0.3, 0.3))
    canny = node("preprocess.canny").function
    assert canny(image=image, low_threshold=20, high_threshold=40).sum() > 0
    assert canny(image=image, low_threshold=200, high_threshold=250).sum() == 0


@uses_controlnet_aux
def test_content_shuffle_runs_for_real_and_repeats_with_its_seed(node, ctx):
    rng = np.random.default_rng(0)
    image = rng.random((2, 40, 56, 3), dtype=np.float32)
    shuffle = node("preprocess.shuffle").function

    first = shuffle(image=image, resolution=64, seed=1, ctx=ctx)
    again = shuffle(image=image, resolution=64, seed=1, ctx=ctx)
    other = shuffle(image=image, resolution=64, seed=2, ctx=ctx)

    assert first.shape == image.shape and first.dtype == np.float32
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.allclose(first, image, atol=0.1)  # the content has moved


@uses_controlnet_aux
def test_standard_lineart_finds_the_outline(node, ctx, rectangle):
    image = rectangle(64, 64, box=(16, 16, 48, 48), colour=(0.1, 0.1, 0.1),
                      background=(0.95, 0.95, 0.95))
    lines = node("preprocess.lineart_standard").function(
        image=image, blur=2.0, intensity_threshold=8, resolution=64, ctx=ctx)
    assert lines.shape == (1, 64, 64, 3)
    assert lines[0, 14:18, 20:44].max() > 0.5  # bright along the dark shape's top edge
    assert lines[0, :6, :6].max() < 0.05  # dark in the empty corner


@uses_controlnet_aux
def test_detectors_report_progress_and_stop_when_cancelled(node, make_context):
    recorder = make_context()
    image = np.zeros((3, 32, 32, 3), np.float32)
    node("preprocess.lineart_standard").function(image=image, blur=2.0, intensity_threshold=8,
                                                 resolution=64, ctx=recorder.context)
    progress = [(e.done, e.total) for e in recorder.events if isinstance(e, NodeProgress)]
    assert progress == [(1, 3), (2, 3), (3, 3)]
    recorder.cancel.cancel()
    with pytest.raises(Cancelled):
        node("preprocess.shuffle").function(image=image, resolution=64, seed=0,
                                            ctx=recorder.context)


WEIGHTED = [
    ("preprocess.hed", {"resolution": 64, "safe": False, "scribble": False},
     ["ControlNetHED.pth"]),
    ("preprocess.pidinet", {"resolution": 64, "safe": False, "scribble": False},
     ["table5_pidinet.pth"]),
    ("preprocess.lineart", {"resolution": 64, "coarse": False}, ["sk_model.pth"]),
    ("preprocess.lineart", {"resolution": 64, "coarse": True}, ["sk_model2.pth"]),
    ("preprocess.lineart_anime", {"resolution": 64}, ["netG.pth"]),
    ("preprocess.mlsd", {"resolution": 64, "score_threshold": 0.1, "distance_threshold": 0.1},
     ["mlsd_large_512_fp32.pth"]),
    ("preprocess.depth_midas", {"resolution": 64}, ["dpt_hybrid-midas-501f0c75.pt"]),
    ("preprocess.depth_zoe", {"resolution": 64}, ["ZoeD_M12_N.pt"]),
    ("preprocess.normal_bae", {"resolution": 64}, ["scannet.pt"]),
    ("preprocess.openpose", {"resolution": 64, "body": True, "hands": True, "face": True},
     ["body_pose_model.pth", "hand_pose_model.pth", "facenet.pth"]),
]


@pytest.mark.parametrize(("type_id", "options", "files"), WEIGHTED,
                         ids=[f"{t}-{'-'.join(f)}" for t, _, f in WEIGHTED])
def test_missing_weights_name_every_file_and_the_annotators_folder(
        node, ctx, folders, type_id, options, files):
    image = np.zeros((1, 32, 32, 3), np.float32)
    with pytest.raises(ModelNotFoundError) as raised:
        node(type_id).function(image=image, ctx=ctx, **options)
    message = str(raised.value)
    for file_name in files:
        assert repr(file_name) in message
    assert str(folders.annotators) in message
    assert "lllyasviel/Annotators" in message


def test_openpose_needs_hand_and_face_files_only_when_asked(node, ctx, folders):
    (folders.annotators / "body_pose_model.pth").write_bytes(b"")
    with pytest.raises(ModelNotFoundError) as raised:
        node("preprocess.openpose").function(image=np.zeros((1, 8, 8, 3), np.float32),
                                             resolution=64, body=True, hands=True, face=False,
                                             ctx=ctx)
    assert raised.value.names == ["hand_pose_model.pth"]


@uses_controlnet_aux
def test_damaged_weights_are_a_clear_error(node, ctx, folders):
    (folders.annotators / "ControlNetHED.pth").write_bytes(b"these are not weights")
    with pytest.raises(NodeError, match=r"cannot load the HED detector from .*ControlNetHED\.pth"):
        node("preprocess.hed").function(image=np.zeros((1, 32, 32, 3), np.float32),
                                        resolution=64, safe=False, scribble=False, ctx=ctx)


def _seeded_state_dict(network_class, *args):
    import torch

    torch.manual_seed(0)
    network = network_class(*args)
    return network, {name: value.clone() for name, value in network.state_dict().items()}


@uses_controlnet_aux
def test_hed_loads_weights_from_the_annotators_folder_and_runs(node, ctx, folders):
    import torch
    from controlnet_aux.hed import ControlNetHED_Apache2, HEDdetector

    network, weights = _seeded_state_dict(ControlNetHED_Apache2)
    torch.save(weights, folders.annotators / "ControlNetHED.pth")
    rng = np.random.default_rng(3)
    # 64 x 64 at resolution 64: the detector works at the image's own size, no rescaling.
    image = rng.random((1, 64, 64, 3), dtype=np.float32)

    edges = node("preprocess.hed").function(image=image, resolution=64, safe=False,
                                            scribble=False, ctx=ctx)

    assert edges.shape == (1, 64, 64, 3) and edges.min() >= 0.0 and edges.max() <= 1.0
    # The very weights in the file made the map: a network of the saved weights gives it too,
    # a differently initialised one does not.
    network.eval()
    expected = HEDdetector(network)(to_uint8(image[0]), detect_resolution=64,
                                    image_resolution=64, output_type="np")
    np.testing.assert_array_equal(edges[0], expected / np.float32(255.0))
    other = HEDdetector(ControlNetHED_Apache2().eval())(
        to_uint8(image[0]), detect_resolution=64, image_resolution=64, output_type="np")
    assert not np.allclose(edges[0], other / 255.0, atol=2 / 255)


@uses_controlnet_aux
def test_lineart_builds_only_the_network_it_needs(node, ctx, folders):
    import torch
    from controlnet_aux.lineart import Generator

    _, weights = _seeded_state_dict(Generator, 3, 1, 3)
    torch.save(weights, folders.annotators / "sk_model2.pth")  # only the coarse model
    image = np.full((1, 32, 48, 3), 0.5, np.float32)
    lines = node("preprocess.lineart").function(image=image, resolution=64, coarse=True, ctx=ctx)
    assert lines.shape == (1, 32, 48, 3) and lines.dtype == np.float32
    with pytest.raises(ModelNotFoundError, match=r"sk_model\.pth"):
        node("preprocess.lineart").function(image=image, resolution=64, coarse=False, ctx=ctx)


@pytest.mark.skipif(importlib.util.find_spec("mediapipe") is not None,
                    reason="mediapipe is installed here")
def test_face_mesh_without_mediapipe_says_what_to_install(node, ctx):
    with pytest.raises(NodeError, match="pip install mediapipe"):
        node("preprocess.mediapipe_face").function(image=np.zeros((1, 8, 8, 3), np.float32),
                                                   max_faces=1, min_confidence=0.5,
                                                   resolution=64, ctx=ctx)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    return (np.clip(pixels, 0, 1) * 255 + 0.5).astype(np.uint8)
