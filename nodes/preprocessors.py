"""Preprocessors: turn a picture into the control image a ControlNet expects.

Canny, content shuffle and standard lineart work without any model file (the MediaPipe face
mesh too, once the ``mediapipe`` package is installed). The others are
neural detectors from controlnet-aux whose weights must be in the ``annotators`` model folder
(nothing is downloaded). They use the file names of the ``lllyasviel/Annotators`` repository
on Hugging Face, where the files can be fetched:

==========================  ==========================================================
Node                        File(s) in the annotators folder
==========================  ==========================================================
preprocess.hed              ControlNetHED.pth
preprocess.pidinet          table5_pidinet.pth
preprocess.lineart          sk_model.pth (realistic) or sk_model2.pth (coarse)
preprocess.lineart_anime    netG.pth
preprocess.mlsd             mlsd_large_512_fp32.pth
preprocess.depth_midas      dpt_hybrid-midas-501f0c75.pt
preprocess.depth_zoe        ZoeD_M12_N.pt
preprocess.normal_bae       scannet.pt
preprocess.openpose         body_pose_model.pth, plus hand_pose_model.pth for hands and
                            facenet.pth for faces
==========================  ==========================================================

Every node outputs an image of the same size as its input, whatever resolution the detector
worked at, so the control image lines up with the picture.
"""

from __future__ import annotations

import types
import warnings
from typing import Any

import numpy as np

from nodestudio.api import (
    IMAGE,
    Boolean,
    Float,
    Input,
    Int,
    NodeContext,
    NodeError,
    Output,
    Seed,
    node,
)

from ._annotators import (
    find_annotator_files,
    import_aux,
    inference,
    load_detector,
    load_state_dict,
    numpy_global_seed,
    run_on_batch,
)
from ._imaging import as_image_batch, from_uint8, to_uint8

CATEGORY = "preprocessors"


def _resolution(default: int = 512) -> Any:
    return Int("resolution", default, min=64, max=4096, step=64,
               description="Size the detector works at (shorter side); the result is scaled "
                           "back to the image's size")


# -- without model files -----------------------------------------------------------------------


@node(
    "preprocess.canny",
    display_name="Canny Edges",
    category=CATEGORY,
    description=(
        "Finds the outlines in a picture: white edges on black, for a Canny ControlNet. Lower "
        "thresholds find more (and fainter) edges; edges stronger than 'high' are always kept."
    ),
    inputs=[
        Input("image", IMAGE),
        Int("low_threshold", 100, min=0, max=255, display="slider",
            description="Weaker edges are kept only where they continue a strong one"),
        Int("high_threshold", 200, min=0, max=255, display="slider",
            description="Edges at least this strong are always kept"),
    ],
    outputs=[Output("image", IMAGE)],
)
def canny_edges(image: Any, low_threshold: int, high_threshold: int) -> np.ndarray:
    import cv2

    batch = as_image_batch(image)
    edges = [cv2.Canny(to_uint8(item), low_threshold, high_threshold) for item in batch]
    return from_uint8(np.repeat(np.stack(edges)[..., None], 3, axis=-1))


@node(
    "preprocess.shuffle",
    display_name="Content Shuffle",
    category=CATEGORY,
    description=(
        "Swirls the picture's content around while keeping its colours and textures, for a "
        "shuffle ControlNet (style transfer). The seed picks the swirl."
    ),
    inputs=[Input("image", IMAGE), _resolution(), Seed("seed")],
    outputs=[Output("image", IMAGE)],
)
def content_shuffle(image: Any, resolution: int, seed: int, ctx: NodeContext) -> np.ndarray:
    detector = import_aux("shuffle").ContentShuffleDetector()

    def detect(pixels: np.ndarray) -> np.ndarray:
        # The detector draws from numpy's global generator: seed it for a repeatable result.
        with numpy_global_seed(seed):
            return detector(pixels, detect_resolution=resolution, image_resolution=resolution,
                            output_type="np")

    return run_on_batch(image, ctx, detect)


@node(
    "preprocess.lineart_standard",
    display_name="Lineart (Standard)",
    category=CATEGORY,
    description=(
        "Draws the picture's lines as white on black without a neural network, for a lineart "
        "ControlNet. A larger blur finds broader strokes."
    ),
    inputs=[
        Input("image", IMAGE),
        Float("blur", 6.0, min=0.1, max=32.0, step=0.1, description="Gaussian blur in pixels"),
        Int("intensity_threshold", 8, min=0, max=255,
            description="Darkening needed before a pixel counts as a line"),
        _resolution(),
    ],
    outputs=[Output("image", IMAGE)],
)
def lineart_standard(image: Any, blur: float, intensity_threshold: int, resolution: int,
                     ctx: NodeContext) -> np.ndarray:
    detector = import_aux("lineart_standard").LineartStandardDetector()

    def detect(pixels: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            # A picture without lines makes the detector average an empty selection (it then
            # falls back to a fixed scale): harmless, but numpy warns.
            warnings.simplefilter("ignore", RuntimeWarning)
            return detector(pixels, guassian_sigma=blur, intensity_threshold=intensity_threshold,
                            detect_resolution=resolution, output_type="np")

    return run_on_batch(image, ctx, detect)


@node(
    "preprocess.mediapipe_face",
    display_name="Face Mesh (MediaPipe)",
    category=CATEGORY,
    description=(
        "Draws the face meshes found in the picture, for a face ControlNet. Needs the "
        "'mediapipe' Python package."
    ),
    inputs=[
        Input("image", IMAGE),
        Int("max_faces", 1, min=1, max=50),
        Float("min_confidence", 0.5, min=0.01, max=1.0, step=0.01),
        _resolution(),
    ],
    outputs=[Output("image", IMAGE)],
)
def mediapipe_face(image: Any, max_faces: int, min_confidence: float, resolution: int,
                   ctx: NodeContext) -> np.ndarray:
    try:
        import mediapipe  # noqa: F401  - only to tell the artist clearly what is missing
    except ImportError as error:
        raise NodeError("the face mesh detector needs the 'mediapipe' package: install it with "
                        "'pip install mediapipe' in NodeStudio's environment") from error
    detector = import_aux("mediapipe_face").MediapipeFaceDetector()

    def detect(pixels: np.ndarray) -> np.ndarray:
        return detector(pixels, max_faces=max_faces, min_confidence=min_confidence,
                        detect_resolution=resolution, image_resolution=resolution,
                        output_type="np")

    return run_on_batch(image, ctx, detect)


# -- detectors with weights in the annotators folder -------------------------------------------


def _pretrained(ctx: NodeContext, detector: str, submodule: str, class_name: str,
                file_name: str) -> Any:
    """A controlnet-aux detector built by its ``from_pretrained`` from one annotator file."""
    (weights,) = find_annotator_files(ctx, detector, [file_name])
    detector_class = getattr(import_aux(submodule), class_name)
    # An absolute file name wins over the folder in controlnet-aux's os.path.join.
    return load_detector(detector, [weights], lambda: detector_class.from_pretrained(
        str(weights.parent), filename=str(weights)))


def _run_detector(image: Any, ctx: NodeContext, detector: Any, resolution: int,
                  **options: Any) -> np.ndarray:
    detector.to(ctx.device)
    with inference():
        return run_on_batch(image, ctx, lambda pixels: detector(
            pixels, detect_resolution=resolution, image_resolution=resolution,
            output_type="np", **options))


_SOFT_EDGE_OPTIONS = (
    Boolean("safe", False, description="Quantise the edges, hiding faint detail"),
    Boolean("scribble", False, description="Thin, hard strokes like a scribble"),
)


@node(
    "preprocess.hed",
    display_name="Soft Edges (HED)",
    category=CATEGORY,
    description=(
        "Finds soft, painterly edges with the HED network, for a soft-edge or scribble "
        "ControlNet. Needs ControlNetHED.pth in the annotators folder."
    ),
    inputs=[
        Input("image", IMAGE),
        _resolution(),
        *_SOFT_EDGE_OPTIONS,
    ],
    outputs=[Output("image", IMAGE)],
)
def hed_edges(image: Any, resolution: int, safe: bool, scribble: bool,
              ctx: NodeContext) -> np.ndarray:
    detector = _pretrained(ctx, "HED", "hed", "HEDdetector", "ControlNetHED.pth")
    return _run_detector(image, ctx, detector, resolution, safe=safe, scribble=scribble)


@node(
    "preprocess.pidinet",
    display_name="Soft Edges (PiDiNet)",
    category=CATEGORY,
    description=(
        "Finds soft edges with the small PiDiNet network, for a soft-edge or scribble "
        "ControlNet. Needs table5_pidinet.pth in the annotators folder."
    ),
    inputs=[
        Input("image", IMAGE),
        _resolution(),
        *_SOFT_EDGE_OPTIONS,
    ],
    outputs=[Output("image", IMAGE)],
)
def pidinet_edges(image: Any, resolution: int, safe: bool, scribble: bool,
                  ctx: NodeContext) -> np.ndarray:
    detector = _pretrained(ctx, "PiDiNet", "pidi", "PidiNetDetector", "table5_pidinet.pth")
    return _run_detector(image, ctx, detector, resolution, safe=safe, scribble=scribble)


@node(
    "preprocess.lineart",
    display_name="Lineart",
    category=CATEGORY,
    description=(
        "Draws the picture as clean line art (white lines on black), for a lineart ControlNet. "
        "Needs sk_model.pth (or sk_model2.pth for 'coarse') in the annotators folder."
    ),
    inputs=[
        Input("image", IMAGE),
        _resolution(),
        Boolean("coarse", False, description="Bolder, rougher lines (uses sk_model2.pth)"),
    ],
    outputs=[Output("image", IMAGE)],
)
def lineart(image: Any, resolution: int, coarse: bool, ctx: NodeContext) -> np.ndarray:
    file_name = "sk_model2.pth" if coarse else "sk_model.pth"
    (weights,) = find_annotator_files(ctx, "lineart", [file_name])
    module = import_aux("lineart")

    def build() -> Any:
        # Built here rather than with from_pretrained, which insists on both files.
        network = module.Generator(3, 1, 3)
        network.load_state_dict(load_state_dict(weights))
        network.eval()
        return module.LineartDetector(network, network)

    detector = load_detector("lineart", [weights], build)
    return _run_detector(image, ctx, detector, resolution, coarse=coarse)


@node(
    "preprocess.lineart_anime",
    display_name="Lineart (Anime)",
    category=CATEGORY,
    description=(
        "Draws anime-style line art, for an anime lineart ControlNet. Needs netG.pth in the "
        "annotators folder."
    ),
    inputs=[Input("image", IMAGE), _resolution()],
    outputs=[Output("image", IMAGE)],
)
def lineart_anime(image: Any, resolution: int, ctx: NodeContext) -> np.ndarray:
    detector = _pretrained(ctx, "anime lineart", "lineart_anime", "LineartAnimeDetector",
                           "netG.pth")
    return _run_detector(image, ctx, detector, resolution)


@node(
    "preprocess.mlsd",
    display_name="Straight Lines (M-LSD)",
    category=CATEGORY,
    description=(
        "Finds straight lines (walls, furniture, buildings), for an M-LSD ControlNet. Needs "
        "mlsd_large_512_fp32.pth in the annotators folder."
    ),
    inputs=[
        Input("image", IMAGE),
        _resolution(),
        Float("score_threshold", 0.1, min=0.01, max=2.0, step=0.01,
              description="Higher keeps only the surest lines"),
        Float("distance_threshold", 0.1, min=0.01, max=20.0, step=0.01,
              description="Lines shorter than this are dropped"),
    ],
    outputs=[Output("image", IMAGE)],
)
def mlsd_lines(image: Any, resolution: int, score_threshold: float, distance_threshold: float,
               ctx: NodeContext) -> np.ndarray:
    detector = _pretrained(ctx, "M-LSD", "mlsd", "MLSDdetector", "mlsd_large_512_fp32.pth")
    return _run_detector(image, ctx, detector, resolution, thr_v=score_threshold,
                         thr_d=distance_threshold)


@node(
    "preprocess.depth_midas",
    display_name="Depth (MiDaS)",
    category=CATEGORY,
    description=(
        "Estimates depth (near is white, far is black), for a depth ControlNet. Needs "
        "dpt_hybrid-midas-501f0c75.pt in the annotators folder."
    ),
    inputs=[Input("image", IMAGE), _resolution(384)],
    outputs=[Output("image", IMAGE)],
)
def depth_midas(image: Any, resolution: int, ctx: NodeContext) -> np.ndarray:
    detector = _pretrained(ctx, "MiDaS depth", "midas", "MidasDetector",
                           "dpt_hybrid-midas-501f0c75.pt")
    return _run_detector(image, ctx, detector, resolution)


@node(
    "preprocess.depth_zoe",
    display_name="Depth (ZoeDepth)",
    category=CATEGORY,
    description=(
        "Estimates metric depth with ZoeDepth (near is white), for a depth ControlNet. Needs "
        "ZoeD_M12_N.pt in the annotators folder."
    ),
    inputs=[Input("image", IMAGE), _resolution()],
    outputs=[Output("image", IMAGE)],
)
def depth_zoe(image: Any, resolution: int, ctx: NodeContext) -> np.ndarray:
    detector = _pretrained(ctx, "ZoeDepth", "zoe", "ZoeDetector", "ZoeD_M12_N.pt")
    return _run_detector(image, ctx, detector, resolution)


@node(
    "preprocess.normal_bae",
    display_name="Normal Map (BAE)",
    category=CATEGORY,
    description=(
        "Estimates which way each surface faces, as a colour normal map, for a normal "
        "ControlNet. Needs scannet.pt in the annotators folder."
    ),
    inputs=[Input("image", IMAGE), _resolution()],
    outputs=[Output("image", IMAGE)],
)
def normal_bae(image: Any, resolution: int, ctx: NodeContext) -> np.ndarray:
    detector = _pretrained(ctx, "normal BAE", "normalbae", "NormalBaeDetector", "scannet.pt")
    return _run_detector(image, ctx, detector, resolution)


@node(
    "preprocess.openpose",
    display_name="Pose (OpenPose)",
    category=CATEGORY,
    description=(
        "Finds people's poses and draws them as coloured stick figures, for an OpenPose "
        "ControlNet. Needs body_pose_model.pth in the annotators folder, plus "
        "hand_pose_model.pth for hands and facenet.pth for faces."
    ),
    inputs=[
        Input("image", IMAGE),
        _resolution(),
        Boolean("body", True),
        Boolean("hands", False),
        Boolean("face", False),
    ],
    outputs=[Output("image", IMAGE)],
)
def openpose(image: Any, resolution: int, body: bool, hands: bool, face: bool,
             ctx: NodeContext) -> np.ndarray:
    # The body network finds the people even when only hands or faces are drawn.
    names = ["body_pose_model.pth"]
    names += ["hand_pose_model.pth"] if hands else []
    names += ["facenet.pth"] if face else []
    paths = dict(zip(names, find_annotator_files(ctx, "OpenPose", names), strict=True))
    module = import_aux("open_pose")

    def build() -> Any:
        # Built here rather than with from_pretrained, which insists on all three files.
        parts = types.SimpleNamespace(
            body=module.Body(str(paths["body_pose_model.pth"])),
            hand=module.Hand(str(paths["hand_pose_model.pth"])) if hands else None,
            face=module.Face(str(paths["facenet.pth"])) if face else None,
        )
        for part in (parts.body, parts.hand, parts.face):
            if part is not None:
                part.to(ctx.device)
        return module.OpenposeDetector(parts.body, parts.hand, parts.face)

    detector = load_detector("OpenPose", list(paths.values()), build)
    with inference():
        return run_on_batch(image, ctx, lambda pixels: detector(
            pixels, detect_resolution=resolution, image_resolution=resolution,
            include_body=body, include_hand=hands, include_face=face, output_type="np"))
