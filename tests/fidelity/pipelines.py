"""Diffusers pipelines over the tiny folders, read from disk once and shared between tests.

Reading a tiny folder (tokenizer, configs, weights) costs more than running its pipeline, and
the fidelity tests compare many graphs with the same folder's pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

#: Graph against pipeline: two 8-bit levels per pixel (the rounding of float16 paths).
MAX_FRAME_DIFFERENCE = 2 / 255


def shared_pipeline(loaded: dict[Any, Any], folder: Path, pipeline_class: Any,
                    **extra: Any) -> Any:
    """A new ``pipeline_class`` over the modules of ``folder``, read from disk once per folder
    (``from_pipe`` shares them; reading a tiny folder costs more than running it), with a fresh
    copy of the folder's scheduler. ``extra``: further components (a ControlNet) and options.
    Only for tests that leave the modules as they are: one that loads a LoRA into them loads
    its own pipeline."""
    import diffusers

    # A ControlNet pipeline is its plain sibling's modules plus the ControlNet.
    base_class = getattr(diffusers, pipeline_class.__name__.replace("ControlNet", ""))
    options = {key: extra.pop(key) for key in ("safety_checker", "requires_safety_checker",
                                                "add_watermarker") if key in extra}
    key = (str(folder), base_class)
    if key not in loaded:
        loaded[key] = base_class.from_pretrained(folder, local_files_only=True, **options)
    base = loaded[key]
    pipeline = pipeline_class.from_pipe(base, **options, **extra)
    # Schedulers keep state between calls (step index, sigmas): never share one.
    pipeline.scheduler = type(base.scheduler).from_config(base.scheduler.config)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def assert_same_frames(ours: np.ndarray, theirs: np.ndarray,
                       shape: tuple[int, ...] | None = None) -> None:
    """The graph's frames equal the pipeline's within MAX_FRAME_DIFFERENCE, frame by frame (and
    have ``shape`` when given); blank frames would prove nothing."""
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    if shape is not None:
        assert ours.shape == shape, ours.shape
    assert ours.std() > 0.01, "blank frames prove nothing"
    for index, (mine, expected) in enumerate(zip(ours, theirs, strict=True)):
        difference = float(np.abs(mine - expected).max())
        assert difference <= MAX_FRAME_DIFFERENCE, f"frame {index}: {difference * 255:.2f}/255"
