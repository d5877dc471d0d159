"""Running controlnet-aux detectors ("annotators") on image batches, offline.

Weights come only from the local ``annotators`` model folder, found through ``ctx.models``;
nothing is downloaded. A detector module is imported on first use: controlnet-aux pulls in
torch, timm and more, which a node module must not do when the pack loads.
"""

from __future__ import annotations

import importlib
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

import numpy as np

from nodestudio.api import ModelNotFoundError, NodeContext, NodeError

from ._imaging import as_image_batch, from_uint8, to_uint8

ANNOTATORS = "annotators"
#: Where the original files are published, named (never fetched) in errors so an artist knows
#: what to copy into the folder by hand.
ANNOTATORS_SOURCE = "the lllyasviel/Annotators repository on Hugging Face"

T = TypeVar("T")


class AnnotatorFilesMissingError(ModelNotFoundError):
    """One or more weight files of a detector are missing from the annotators folder."""

    def __init__(self, detector: str, names: Sequence[str], folders: Sequence[Path]) -> None:
        super().__init__(ANNOTATORS, ", ".join(names), list(folders))
        self.names = list(names)
        where = " or ".join(str(folder) for folder in folders) or "the annotators model folder"
        files = " and ".join(repr(name) for name in names)
        self.args = (
            f"the {detector} detector needs {files} in {where} "
            f"(copy them there by hand from {ANNOTATORS_SOURCE})",
        )


def find_annotator_files(ctx: NodeContext, detector: str, names: Sequence[str]) -> list[Path]:
    """The paths of the weight files ``names``; all missing ones are reported together."""
    found: list[Path] = []
    missing: list[str] = []
    folders: list[Path] = []
    for name in names:
        try:
            found.append(Path(ctx.models.find(ANNOTATORS, name)))
        except ModelNotFoundError as error:
            missing.append(name)
            folders.extend(folder for folder in error.folders if folder not in folders)
    if missing:
        raise AnnotatorFilesMissingError(detector, missing, folders)
    return found


def import_aux(submodule: str) -> ModuleType:
    """``controlnet_aux.<submodule>``, without the warnings its optional parts print."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return importlib.import_module(f"controlnet_aux.{submodule}")


def load_detector(detector: str, paths: Sequence[Path], build: Callable[[], T]) -> T:
    """Run ``build`` (which reads ``paths``), turning unreadable weights into a clear error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return build()
    except NodeError:
        raise
    except Exception as error:
        # torch.load and load_state_dict report a wrong or damaged file in many ways
        # (UnpicklingError, RuntimeError, KeyError, IndexError …): all mean "not these weights".
        names = ", ".join(str(path) for path in paths)
        raise NodeError(
            f"cannot load the {detector} detector from {names}: the file is damaged or holds "
            f"other weights than the ones from {ANNOTATORS_SOURCE} ({_first_line(error)})"
        ) from error


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def load_state_dict(path: Path) -> dict[str, Any]:
    """Tensors saved with torch.save, read without running any pickled code."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


def to_three_channels(detected: np.ndarray) -> np.ndarray:
    """A detector's 8-bit map (greyscale or colour) as [H, W, 3]."""
    if detected.ndim == 2:
        detected = detected[..., None]
    if detected.shape[2] == 1:
        detected = np.repeat(detected, 3, axis=2)
    return detected[..., :3]


def run_on_batch(images: Any, ctx: NodeContext,
                 detect: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Apply ``detect`` (8-bit RGB [H, W, 3] in, 8-bit map out) to every image of a batch.

    Each map is scaled back to its image's size, so it lines up with the picture it came from
    whatever resolution the detector worked at.
    """
    import cv2

    batch = as_image_batch(images)
    height, width = batch.shape[1:3]
    results = []
    for index, image in enumerate(batch):
        ctx.check_cancelled()
        detected = to_three_channels(np.asarray(detect(to_uint8(image))))
        if detected.shape[:2] != (height, width):
            shrinking = detected.shape[0] > height
            interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
            detected = cv2.resize(detected, (width, height), interpolation=interpolation)
        results.append(from_uint8(detected))
        ctx.progress(index + 1, len(batch))
    return np.stack(results)


@contextmanager
def inference() -> Iterator[None]:
    """No autograd bookkeeping while detecting (some detectors forget to turn it off)."""
    import torch

    with torch.inference_mode():
        yield


_GLOBAL_RANDOM_LOCK = threading.Lock()


@contextmanager
def numpy_global_seed(seed: int) -> Iterator[None]:
    """Seed numpy's global generator for detectors that use it, restoring it afterwards."""
    with _GLOBAL_RANDOM_LOCK:
        saved = np.random.get_state()
        np.random.seed(seed % 2**32)
        try:
            yield
        finally:
            np.random.set_state(saved)
