"""The acceptance criterion: a graph's image equals the diffusers pipeline's (≤ 2/255 per pixel).

Every test runs a real graph through a Session on the tiny models, then the matching diffusers
pipeline loaded from the same folder, with the same scheduler, seed and CPU generator.

VAE Encode takes the posterior's mode while the img2img/inpaint pipelines *sample* it (drawing
from the generator first), so those pipelines are handed the graph's encoded latents as
``image`` (4-channel tensors are taken as latents) — and ``masked_image_latents`` for the
inpainting UNet. tests/runtime/test_vae.py checks separately that VAE Encode is the mode.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nodestudio.runtime.schedulers import SAMPLER_NAMES, supported_schedules

SEED = 1234

# Seconds each on 2 CPU cores (pipelines load, several images per test).
pytestmark = pytest.mark.slow
PLAIN_PROMPTS = ("positive", "conditioning", "negative", "conditioning")


def generator(seed: int = SEED) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(seed)


def test_text_to_image(session, chain, pipeline_parts, run_pipeline, same_image):
    from diffusers import StableDiffusionPipeline

    build = chain.start("tiny-sd", "a photo of a red fox", "blurry, dark")
    build.sample(build.empty_latent(64, 48, batch_size=2), seed=SEED, steps=4, cfg=6.5,
                 sampler="euler_ancestral", scheduler="normal")
    image = session.run(build.graph).outputs["decode"]["image"]

    pipeline = pipeline_parts("tiny-sd", StableDiffusionPipeline, "euler_ancestral", SEED)
    expected = run_pipeline(pipeline, prompt="a photo of a red fox", negative_prompt="blurry, dark",
                            width=64, height=48, num_inference_steps=4, guidance_scale=6.5,
                            num_images_per_prompt=2, generator=generator())
    same_image(image, expected)


@pytest.mark.parametrize("sampler", SAMPLER_NAMES)
@pytest.mark.parametrize("schedule", ["normal", "karras"])
def test_text_to_image_with_every_sampler(sampler, schedule, session, chain, pipeline_parts,
                                          run_pipeline, same_image):
    from diffusers import StableDiffusionPipeline

    if schedule not in supported_schedules(sampler):
        pytest.skip(f"{sampler} has no {schedule} schedule")
    build = chain.start("tiny-sd", "a blue vase", "")
    build.sample(build.empty_latent(32, 32), seed=SEED, steps=3, cfg=4.0, sampler=sampler,
                 scheduler=schedule)
    image = session.run(build.graph).outputs["decode"]["image"]

    pipeline = pipeline_parts("tiny-sd", StableDiffusionPipeline, sampler, SEED, schedule)
    expected = run_pipeline(pipeline, prompt="a blue vase", negative_prompt="", width=32,
                            height=32, num_inference_steps=3, guidance_scale=4.0,
                            generator=generator())
    same_image(image, expected)


def test_single_file_checkpoint_gives_the_folders_image(session, chain, same_image):
    images = []
    for checkpoint in ("tiny-sd", "tiny-sd.safetensors"):
        build = chain.start(checkpoint, "a lighthouse", "")
        build.sample(build.empty_latent(32, 32), seed=SEED, steps=3, cfg=5.0, sampler="dpmpp_2m",
                     scheduler="karras")
        images.append(session.run(build.graph).outputs["decode"]["image"])
    same_image(images[1], images[0])
    np.testing.assert_array_equal(images[1], images[0])


def test_image_to_image(session, chain, pictures, pipeline_parts, run_pipeline, same_image):
    from diffusers import StableDiffusionImg2ImgPipeline

    build = chain.start("tiny-sd", "an oil painting", "")
    build.sample(build.encoded("photo.png"), seed=SEED, steps=5, cfg=5.0, sampler="dpmpp_2m",
                 scheduler="normal", denoise=0.6)
    result = session.run(build.graph)
    latents = result.outputs["encode"]["latent"].samples

    pipeline = pipeline_parts("tiny-sd", StableDiffusionImg2ImgPipeline, "dpmpp_2m", SEED)
    expected = run_pipeline(pipeline, prompt="an oil painting", negative_prompt="", image=latents,
                            strength=0.6, num_inference_steps=5, guidance_scale=5.0,
                            generator=generator())
    same_image(result.outputs["decode"]["image"], expected)


@pytest.mark.parametrize(("checkpoint", "denoise"), [
    ("tiny-sd", 1.0), ("tiny-sd", 0.75), ("tiny-sd-inpaint", 1.0),
])
def test_inpainting(checkpoint, denoise, session, chain, pictures, pipeline_parts, run_pipeline,
                    same_image):
    from diffusers import StableDiffusionInpaintPipeline

    build = chain.start(checkpoint, "a stone wall", "people")
    build.sample(build.encoded("holed.png", with_mask=True), seed=SEED, steps=4, cfg=4.0,
                 sampler="euler", scheduler="normal", denoise=denoise)
    result = session.run(build.graph)
    latent = result.outputs["encode"]["latent"]
    mask = latent.noise_mask[:, 0].numpy()  # Load Image's mask, as VAE Encode attached it
    assert mask.sum() == 32 * 32  # the transparent hole

    pipeline = pipeline_parts(checkpoint, StableDiffusionInpaintPipeline, "euler", SEED)
    expected = run_pipeline(
        pipeline, prompt="a stone wall", negative_prompt="people", image=latent.samples,
        mask_image=mask, masked_image_latents=latent.masked_image_latents, height=64, width=64,
        strength=denoise, num_inference_steps=4, guidance_scale=4.0, generator=generator(),
    )
    image = result.outputs["decode"]["image"]
    same_image(image, expected)


def _add_control(graph, name: str, model: str, picture: str, strength: float, start: float,
                 end: float, after: tuple[str, str, str, str]) -> tuple[str, str, str, str]:
    graph.add_node("diffusion.load_controlnet", {"control_net": model}, id=f"{name}_model")
    graph.add_node("image.load", {"image": picture}, id=f"{name}_hint")
    graph.add_node("diffusion.apply_controlnet", {"strength": strength, "start_percent": start,
                                                  "end_percent": end}, id=name)
    positive_node, positive_output, negative_node, negative_output = after
    graph.connect(positive_node, positive_output, name, "positive")
    graph.connect(negative_node, negative_output, name, "negative")
    graph.connect(f"{name}_model", "control_net", name, "control_net")
    graph.connect(f"{name}_hint", "image", name, "image")
    return name, "positive", name, "negative"


def _rewire_prompts(graph, sampler: str, source: tuple[str, str, str, str]) -> None:
    graph.disconnect(sampler, "positive")
    graph.disconnect(sampler, "negative")
    graph.connect(source[0], source[1], sampler, "positive")
    graph.connect(source[2], source[3], sampler, "negative")


def test_one_controlnet(session, chain, pictures, tiny_models, pipeline_parts, run_pipeline,
                        same_image):
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

    build = chain.start("tiny-sd", "a house", "")
    build.sample(build.empty_latent(64, 64), seed=SEED, steps=4, cfg=5.0, sampler="euler")
    prompts = _add_control(build.graph, "control", "tiny-controlnet", "hint_a.png", 0.8, 0.0,
                           0.75, PLAIN_PROMPTS)
    _rewire_prompts(build.graph, "sampler", prompts)
    result = session.run(build.graph)
    hint = result.outputs["control_hint"]["image"]

    controlnet = ControlNetModel.from_pretrained(tiny_models.controlnet("tiny-controlnet"))
    pipeline = pipeline_parts("tiny-sd", StableDiffusionControlNetPipeline, "euler", SEED,
                              controlnet=controlnet)
    expected = run_pipeline(pipeline, prompt="a house", negative_prompt="", image=hint,
                            height=64, width=64, num_inference_steps=4, guidance_scale=5.0,
                            controlnet_conditioning_scale=0.8, control_guidance_start=0.0,
                            control_guidance_end=0.75, generator=generator())
    same_image(result.outputs["decode"]["image"], expected)

    # The ControlNet acts: without it the picture differs.
    _rewire_prompts(build.graph, "sampler", PLAIN_PROMPTS)
    plain = session.run(build.graph).outputs["decode"]["image"]
    assert np.abs(plain - expected).max() > 0.01


def test_two_chained_controlnets_sum_like_multicontrolnet(session, chain, pictures, tiny_models,
                                                         pipeline_parts, run_pipeline, same_image):
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

    build = chain.start("tiny-sd", "a castle", "fog")
    build.sample(build.empty_latent(64, 64), seed=SEED, steps=4, cfg=5.0, sampler="dpmpp_2m")
    first = _add_control(build.graph, "control_a", "tiny-controlnet", "hint_a.png", 0.9, 0.0, 1.0,
                         PLAIN_PROMPTS)
    second = _add_control(build.graph, "control_b", "tiny-controlnet-b", "hint_b.png", 0.6, 0.25,
                          1.0, first)
    _rewire_prompts(build.graph, "sampler", second)
    result = session.run(build.graph)
    hints = [result.outputs["control_a_hint"]["image"], result.outputs["control_b_hint"]["image"]]

    controlnets = [ControlNetModel.from_pretrained(tiny_models.controlnet(name))
                   for name in ("tiny-controlnet", "tiny-controlnet-b")]
    pipeline = pipeline_parts("tiny-sd", StableDiffusionControlNetPipeline, "dpmpp_2m", SEED,
                              controlnet=controlnets)
    expected = run_pipeline(pipeline, prompt="a castle", negative_prompt="fog", image=hints,
                            height=64, width=64, num_inference_steps=4, guidance_scale=5.0,
                            controlnet_conditioning_scale=[0.9, 0.6],
                            control_guidance_start=[0.0, 0.25], control_guidance_end=[1.0, 1.0],
                            generator=generator())
    same_image(result.outputs["decode"]["image"], expected)


@pytest.mark.parametrize("checkpoint", ["tiny-sdxl", "tiny-sdxl.safetensors"])
def test_sdxl_text_to_image_with_size_conditioning(checkpoint, session, chain, pipeline_parts,
                                                    run_pipeline, same_image):
    from diffusers import StableDiffusionXLPipeline

    build = chain.start(checkpoint, "a mountain lake at dawn", "low quality",
                        original_width=128, original_height=96, crop_left=16, crop_top=8)
    build.sample(build.empty_latent(64, 64), seed=SEED, steps=4, cfg=6.0, sampler="euler",
                 scheduler="normal")
    image = session.run(build.graph).outputs["decode"]["image"]

    pipeline = pipeline_parts("tiny-sdxl", StableDiffusionXLPipeline, "euler", SEED)
    expected = run_pipeline(pipeline, prompt="a mountain lake at dawn",
                            negative_prompt="low quality", width=64, height=64,
                            num_inference_steps=4, guidance_scale=6.0,
                            original_size=(96, 128), crops_coords_top_left=(8, 16),
                            generator=generator())
    same_image(image, expected)


def test_lora_on_the_unet_matches_diffusers_adapters(session, chain, tiny_models, pipeline_parts,
                                                     run_pipeline, same_image):
    from diffusers import StableDiffusionPipeline
    from diffusers.loaders import StableDiffusionLoraLoaderMixin

    build = chain.start("tiny-sd", "a bowl of fruit", "")
    build.graph.add_node("diffusion.load_lora", {"lora": tiny_models.lora_file,
                                                 "strength_model": 0.7, "strength_clip": 0.0},
                         id="lora")
    build.graph.connect("checkpoint", "model", "lora", "model")
    build.graph.connect("checkpoint", "clip", "lora", "clip")
    build.sample(build.empty_latent(32, 32), model=("lora", "model"), seed=SEED, steps=3, cfg=5.0)
    image = session.run(build.graph).outputs["decode"]["image"]

    # Its own pipeline: the adapter goes into the UNet, which the shared pipelines keep.
    pipeline = pipeline_parts("tiny-sd", StableDiffusionPipeline, "euler", SEED, fresh=True)
    state_dict, alphas = StableDiffusionLoraLoaderMixin.lora_state_dict(
        str(tiny_models.lora(tiny_models.lora_file)))
    pipeline.unet.load_lora_adapter(state_dict, prefix="unet", network_alphas=alphas,
                                    adapter_name="reference")
    pipeline.unet.set_adapters(["reference"], weights=[0.7])
    expected = run_pipeline(pipeline, prompt="a bowl of fruit", negative_prompt="", width=32,
                            height=32, num_inference_steps=3, guidance_scale=5.0,
                            generator=generator())
    same_image(image, expected)


def test_sdxl_controlnet(session, chain, pictures, tiny_models, pipeline_parts, run_pipeline,
                         same_image):
    from diffusers import ControlNetModel, StableDiffusionXLControlNetPipeline

    build = chain.start("tiny-sdxl", "a bridge", "")
    build.sample(build.empty_latent(64, 64), seed=SEED, steps=3, cfg=5.0, sampler="euler")
    prompts = _add_control(build.graph, "control", "tiny-sdxl-controlnet", "hint_a.png", 0.7,
                           0.0, 1.0, PLAIN_PROMPTS)
    _rewire_prompts(build.graph, "sampler", prompts)
    result = session.run(build.graph)

    controlnet = ControlNetModel.from_pretrained(tiny_models.controlnet("tiny-sdxl-controlnet"))
    pipeline = pipeline_parts("tiny-sdxl", StableDiffusionXLControlNetPipeline, "euler", SEED,
                              controlnet=controlnet)
    expected = run_pipeline(pipeline, prompt="a bridge", negative_prompt="",
                            image=result.outputs["control_hint"]["image"], height=64, width=64,
                            num_inference_steps=3, guidance_scale=5.0,
                            controlnet_conditioning_scale=0.7, generator=generator())
    same_image(result.outputs["decode"]["image"], expected)


@pytest.fixture(scope="module")
def demo_shaped(tmp_path_factory) -> str:
    """A model shaped like the embedded demo: 4× VAE, 32-token prompts, cosine v-prediction."""
    from diffusers import EulerDiscreteScheduler

    from nodestudio.runtime.tiny import SCHEDULER_CONFIG, save_sd_folder, tiny_sd_components

    parts = tiny_sd_components(seed=8, vae_factor=4, max_length=32)
    parts["scheduler"] = EulerDiscreteScheduler.from_config({
        **SCHEDULER_CONFIG, "beta_schedule": "squaredcos_cap_v2",
        "prediction_type": "v_prediction", "timestep_spacing": "trailing",
    })
    return str(save_sd_folder(parts, tmp_path_factory.mktemp("demo-shaped") / "model"))


def test_a_model_unlike_sd_four_times_vae_short_prompts_v_prediction(
    demo_shaped, session, chain, run_pipeline, same_image
):
    from diffusers import StableDiffusionPipeline

    from nodestudio.runtime.schedulers import build_scheduler

    build = chain.start(demo_shaped, "a small green triangle", "")
    build.sample(build.empty_latent(48, 32), seed=SEED, steps=4, cfg=3.0, sampler="dpmpp_2m")
    result = session.run(build.graph)
    assert result.outputs["sampler"]["latent"].samples.shape == (1, 4, 8, 12)  # 4 px per cell

    pipeline = StableDiffusionPipeline.from_pretrained(
        demo_shaped, local_files_only=True, safety_checker=None, requires_safety_checker=False)
    pipeline.scheduler = build_scheduler("dpmpp_2m", "normal", pipeline.scheduler.config, SEED)
    expected = run_pipeline(pipeline, prompt="a small green triangle", negative_prompt="",
                            width=48, height=32, num_inference_steps=4, guidance_scale=3.0,
                            generator=generator())
    same_image(result.outputs["decode"]["image"], expected)


@pytest.mark.parametrize("checkpoint", ["tiny-sdxl-refiner", "tiny-sdxl-refiner.safetensors"])
def test_sdxl_refiner_with_aesthetic_scores(checkpoint, session, chain, pictures,
                                            pipeline_parts, run_pipeline, same_image):
    from diffusers import StableDiffusionXLImg2ImgPipeline

    build = chain.start(checkpoint, "a harbour at night", "blurry")
    graph = build.graph
    for node_id, score in (("positive", 6.5), ("negative", 2.5)):
        text = graph.node(node_id).values["text"]
        graph.remove_node(node_id)
        graph.add_node("diffusion.text_encode_sdxl_refiner",
                       {"text": text, "aesthetic_score": score}, id=node_id)
        graph.connect("checkpoint", "clip", node_id, "clip")
    build.sample(build.encoded("photo.png"), seed=SEED, steps=5, cfg=5.0, sampler="euler",
                 scheduler="normal", denoise=0.6)
    result = session.run(graph)
    latents = result.outputs["encode"]["latent"].samples
    assert result.outputs["checkpoint"]["model"].family.label == "SDXL refiner"

    pipeline = pipeline_parts("tiny-sdxl-refiner", StableDiffusionXLImg2ImgPipeline, "euler",
                              SEED)
    expected = run_pipeline(pipeline, prompt="a harbour at night", negative_prompt="blurry",
                            image=latents, strength=0.6, num_inference_steps=5,
                            guidance_scale=5.0, aesthetic_score=6.5,
                            negative_aesthetic_score=2.5, generator=generator())
    same_image(result.outputs["decode"]["image"], expected)
