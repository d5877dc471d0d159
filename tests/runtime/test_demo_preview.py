"""The live preview of the demo model looks like its result (issue 13, item 5): the demo VAE's
latent space has a fitted latent→RGB map, so a sampled latent's preview has the colours the
VAE decodes (a yellow square on grey previews yellow on grey, not a red blob on green)."""

from __future__ import annotations

import numpy as np
import pytest

from nodestudio.app.recipes import text_to_image
from nodestudio.app.session import Session
from nodestudio.app.settings import Settings
from nodestudio.runtime.previews import PreviewMaker

PROMPTS = ("a large yellow square at the center on a gray background",
           "a large blue triangle at the top left on a white background",
           "a large red circle at the bottom right on a black background")


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[object, object, np.ndarray]]:
    """(model, latent, decoded image [H, W, 3]) for each prompt, made by the shipped model."""
    folder = tmp_path_factory.mktemp("demo")
    session = Session(settings=Settings(models_dirs=[folder / "models"],
                                        output_dir=folder / "output", input_dir=folder / "input",
                                        user_packs_dir=folder / "packs", device="cpu"))
    made = []
    for seed, prompt in enumerate(PROMPTS):
        graph, ids = text_to_image("nodestudio-shapes", prompt, width=64, height=64, steps=12,
                                   seed=seed)
        result = session.run(graph, outputs=[ids["checkpoint"], ids["sampler"], ids["decode"]])
        made.append((result.outputs[ids["checkpoint"]]["model"],
                     result.outputs[ids["sampler"]]["latent"],
                     np.asarray(result.outputs[ids["decode"]]["image"])[0]))
    return made


def test_the_demo_model_has_a_latent_format_of_its_own(sampled):
    model = sampled[0][0]
    assert model.latent_format == "nodestudio-shapes"


@pytest.mark.parametrize("index", range(len(PROMPTS)))
def test_the_preview_has_the_decoded_images_colours(sampled, index):
    model, latent, decoded = sampled[index]
    preview = PreviewMaker(model.latent_format)(latent.samples)[0]  # [h, w, 3], a cell a pixel
    assert preview.shape == (16, 16, 3)
    # The picture's mean colour (what the eye reads first: mostly the background) …
    mean_error = np.abs(preview.mean(axis=(0, 1)) - decoded.mean(axis=(0, 1)))
    assert mean_error.mean() < 0.05 and mean_error.max() < 0.08, (
        PROMPTS[index], preview.mean((0, 1)), decoded.mean((0, 1)))
    # … and each cell against the 4 × 4 pixels it decodes to (the old map was off by 0.3-0.6).
    cells = decoded.reshape(16, 4, 16, 4, 3).mean(axis=(1, 3))
    assert np.abs(preview - cells).mean() < 0.12
