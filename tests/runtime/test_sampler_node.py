"""The Sampler node on the tiny SD model: every sampler, progress, cancellation, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from nodestudio.api import Cancelled, ModelNotFoundError, NodeError
from nodestudio.runtime import schedulers

PROMPT_FIELDS = {"clip_skip": 0}


@pytest.fixture(scope="module")
def prompts(sd_checkpoint, run_node):
    _, clip, _ = sd_checkpoint
    positive = run_node("diffusion.text_encode", clip=clip, text="a red square")
    negative = run_node("diffusion.text_encode", clip=clip, text="")
    return positive, negative


def _generate(run_node, sd_checkpoint, prompts, ctx, **settings):
    model, _, vae = sd_checkpoint
    positive, negative = prompts
    latent = run_node("diffusion.empty_latent", model=model, width=32, height=32,
                      batch_size=settings.pop("batch_size", 1))
    values = {"seed": 3, "steps": 3, "cfg": 5.0, **settings}
    out = run_node("diffusion.sampler", model=model, positive=positive, negative=negative,
                   latent=latent, ctx=ctx, **values)
    return run_node("diffusion.vae_decode", vae=vae, latent=out, ctx=ctx)


def test_node_lists_every_runtime_sampler_and_schedule(diffusion_registry):
    node = diffusion_registry.get("diffusion.sampler")
    assert node.input("sampler").choices == schedulers.SAMPLER_NAMES
    assert node.input("scheduler").choices == schedulers.SCHEDULE_NAMES
    assert {"euler", "euler_ancestral", "heun", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_sde", "ddim",
            "ddpm", "uni_pc", "lms", "lcm"} <= set(schedulers.SAMPLER_NAMES)


@pytest.mark.parametrize("sampler", schedulers.SAMPLER_NAMES)
def test_every_sampler_makes_a_finite_image(sampler, run_node, sd_checkpoint, prompts, ctx):
    image = _generate(run_node, sd_checkpoint, prompts, ctx, sampler=sampler, steps=2)
    assert image.shape == (1, 32, 32, 3) and np.isfinite(image).all()
    assert image.std() > 0


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["euler_ancestral", "dpmpp_sde", "dpmpp_2m_sde"])
def test_random_samplers_repeat_their_image_for_the_same_seed(sampler, run_node, sd_checkpoint,
                                                              prompts, ctx):
    first = _generate(run_node, sd_checkpoint, prompts, ctx, sampler=sampler, steps=3)
    again = _generate(run_node, sd_checkpoint, prompts, ctx, sampler=sampler, steps=3)
    other = _generate(run_node, sd_checkpoint, prompts, ctx, sampler=sampler, steps=3, seed=4)
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 1e-3


@pytest.mark.slow
def test_schedules_change_the_image_and_unsupported_pairs_say_why(run_node, sd_checkpoint,
                                                                  prompts, ctx):
    normal = _generate(run_node, sd_checkpoint, prompts, ctx, scheduler="normal")
    karras = _generate(run_node, sd_checkpoint, prompts, ctx, scheduler="karras")
    assert np.abs(normal - karras).max() > 1e-3
    with pytest.raises(NodeError, match="ddim sampler does not support the karras schedule"):
        _generate(run_node, sd_checkpoint, prompts, ctx, sampler="ddim", scheduler="karras")


def test_seed_changes_the_image_and_batches_draw_different_noise(run_node, sd_checkpoint,
                                                                 prompts, ctx):
    one = _generate(run_node, sd_checkpoint, prompts, ctx, seed=1, batch_size=2)
    two = _generate(run_node, sd_checkpoint, prompts, ctx, seed=2)
    assert np.abs(one[0] - two[0]).max() > 1e-3
    assert np.abs(one[0] - one[1]).max() > 1e-3


def test_progress_is_reported_each_step_with_a_preview_at_the_end(run_node, sd_checkpoint,
                                                                  prompts, recorder):
    _generate(run_node, sd_checkpoint, prompts, recorder.context, steps=4)
    progress = recorder.progress()
    assert [(event.done, event.total) for event in progress] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    preview = progress[-1].preview
    assert preview.shape == (1, 4, 4, 3) and preview.dtype == np.float32
    assert preview.min() >= 0.0 and preview.max() <= 1.0


def test_heun_reports_steps_not_model_calls(run_node, sd_checkpoint, prompts, recorder):
    _generate(run_node, sd_checkpoint, prompts, recorder.context, sampler="heun", steps=3)
    assert [event.done for event in recorder.progress()] == [1, 2, 3]


def test_cancel_stops_within_one_step(run_node, sd_checkpoint, prompts, recorder):
    def cancel_after_first_step(event):
        recorder.events.append(event)
        if type(event).__name__ == "NodeProgress" and event.done == 1:
            recorder.cancel.cancel()

    recorder.context._emit = cancel_after_first_step
    with pytest.raises(Cancelled):
        _generate(run_node, sd_checkpoint, prompts, recorder.context, steps=10)
    assert [event.done for event in recorder.progress()] == [1]


def test_cfg_one_needs_no_negative_and_skips_guidance(run_node, sd_checkpoint, prompts, ctx):
    model, _, _ = sd_checkpoint
    positive, _ = prompts
    latent = run_node("diffusion.empty_latent", model=model, width=32, height=32)
    out = run_node("diffusion.sampler", model=model, positive=positive, latent=latent, seed=1,
                   steps=2, cfg=1.0, ctx=ctx)
    assert out.samples.shape == (1, 4, 4, 4)
    with pytest.raises(NodeError, match="negative prompt"):
        run_node("diffusion.sampler", model=model, positive=positive, latent=latent, seed=1,
                 steps=2, cfg=7.0, ctx=ctx)


def test_denoise_too_small_for_the_steps_is_explained(run_node, sd_checkpoint, prompts, ctx):
    with pytest.raises(NodeError, match="leaves no step to run"):
        _generate(run_node, sd_checkpoint, prompts, ctx, steps=4, denoise=0.1)


def test_missing_checkpoint_names_the_folder_to_fill(run_node, ctx, tiny_models):
    with pytest.raises(ModelNotFoundError) as raised:
        run_node("diffusion.load_checkpoint", checkpoint="nothing-here.safetensors", ctx=ctx)
    assert str(tiny_models.root / "checkpoints") in str(raised.value)
    for type_id, field, folder in (("diffusion.load_controlnet", "control_net", "controlnet"),
                                   ("diffusion.load_vae", "vae_name", "vae")):
        with pytest.raises(ModelNotFoundError, match=str(tiny_models.root / folder)):
            run_node(type_id, ctx=ctx, **{field: "missing.safetensors"})


def test_a_controlnet_file_loaded_as_checkpoint_says_what_it_is(run_node, ctx, tiny_models):
    with pytest.raises(NodeError, match=r"ControlNet.*controlnet folder"):
        run_node("diffusion.load_checkpoint", checkpoint=str(
            tiny_models.controlnet(tiny_models.controlnet_file)), ctx=ctx)


def test_prompts_of_another_model_are_refused(run_node, sd_checkpoint, ctx, tiny_models):
    model, _, _ = sd_checkpoint
    _, sdxl_clip, _ = run_node("diffusion.load_checkpoint", checkpoint=tiny_models.sdxl_folder,
                               ctx=ctx)
    foreign = run_node("diffusion.text_encode", clip=sdxl_clip, text="a cat")
    latent = run_node("diffusion.empty_latent", model=model, width=32, height=32)
    with pytest.raises(NodeError, match="CLIP of another model"):
        run_node("diffusion.sampler", model=model, positive=foreign, negative=foreign,
                 latent=latent, seed=1, steps=1, ctx=ctx)
