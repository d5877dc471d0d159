"""The shipped ControlNet, run by diffusers' own pipeline, against held-out outlines anywhere in
the frame, per outline style (issue 19): the generated object must fill the region the outline
encloses, in the prompt's colour and background; the prompt never names the place or size.

Floors sit under the figures measured with `python -m tools.demo_model.evaluate --what outlines`
(docs/DEMO_MODEL.md, "Outlines anywhere"). Generation only: nothing here trains.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from nodestudio.paths import demo_models_dir
from tools.demo_model import evaluate, outlines

pytestmark = pytest.mark.slow

IMAGES_PER_STYLE = 12
# Per style: the floor of the mean IoU with the enclosed region (measured on 24 images per
# style: docs/DEMO_MODEL.md), a little under the figure to allow for the smaller sample.
# (shipped ControlNet before issue 19: 0.50–0.60; after: 0.79–0.84.)
IOU_FLOORS = {"canny": 0.72, "thin": 0.7, "thick": 0.72, "wobbly": 0.7, "gap": 0.68}


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    pipeline = evaluate.load_controlnet_pipeline(demo_models_dir())
    results, _, _ = evaluate.outline_adherence(
        pipeline, IMAGES_PER_STYLE, evaluate.Settings(batch=IMAGES_PER_STYLE), seed=0)
    return evaluate.outline_report(results)


@pytest.mark.parametrize("style", outlines.STYLES)
def test_object_fills_the_outline_wherever_it_is_drawn(report: dict[str, Any],
                                                       style: str) -> None:
    figures = report[style]
    assert figures["controlnet_iou"] >= IOU_FLOORS[style], figures
    assert figures["colour"] >= 0.9, figures
    assert figures["background"] >= 0.9, figures
    assert figures["position"] >= 0.83, figures  # at most two of twelve on a dividing line
    assert figures["worst_iou"] >= 0.4, figures  # no outline ignored (before: 0.02)


def test_every_style_is_measured_on_the_same_scenes(report: dict[str, Any]) -> None:
    assert set(report) == {*outlines.STYLES, "all"}
    means = [report[style]["controlnet_iou"] for style in outlines.STYLES]
    assert report["all"]["worst_style_mean_iou"] == pytest.approx(min(means), abs=1e-4)
    assert report["all"]["mean_iou"] == pytest.approx(np.mean(means), abs=1e-3)
