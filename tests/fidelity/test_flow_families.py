"""SD3 and Flux graphs equal their diffusers pipelines (≤ 2/255 per pixel) on tiny models,
and the single-file layouts people keep give the folder's image.

Each test runs a real graph through a Session on ``tiny_dit_models``, then the pipeline loaded
from the same folder with the same scheduler class and config, seed and CPU generator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import nodestudio
from nodestudio.graph.model import Graph
from tests.fidelity.pipelines import shared_pipeline

pytestmark = pytest.mark.slow
SEED = 4321
PROMPT, NEGATIVE = "a photo of a red fox in the snow", "blurry"


@pytest.fixture(scope="module")
def session(flow_session) -> nodestudio.Session:
    return flow_session


def generator() -> torch.Generator:
    return torch.Generator("cpu").manual_seed(SEED)


class FlowGraph:
    """checkpoint (or split loaders) → prompts → [guidance] → latent → sampler → decode."""

    def __init__(self, checkpoint: str | None = None) -> None:
        self.graph = Graph()
        self.model = self.clip = self.vae = None
        if checkpoint is not None:
            self.graph.add_node("diffusion.load_checkpoint", {"checkpoint": checkpoint},
                                id="checkpoint")
            self.model = self.clip = self.vae = "checkpoint"

    def split(self, diffusion_model: str, encoders: list[str], family: str, vae: str,
              **loader_values: Any) -> FlowGraph:
        self.graph.add_node("diffusion.load_diffusion_model",
                            {"model_name": diffusion_model, **loader_values}, id="unet")
        names = {f"text_encoder_{i}": name for i, name in enumerate(encoders, 1)}
        self.graph.add_node("diffusion.load_text_encoders", {**names, "type": family},
                            id="clip")
        self.graph.add_node("diffusion.load_vae", {"vae_name": vae}, id="vae")
        self.model, self.clip, self.vae = "unet", "clip", "vae"
        return self

    def run(self, session: nodestudio.Session, width: int, height: int, guidance: float | None
            = None, batch_size: int = 1, rewire: Any = None, **sampler: Any) -> np.ndarray:
        """Add prompts, latent, sampler and decode, let ``rewire(graph)`` change them, run."""
        g = self.graph
        for name, text in (("positive", PROMPT), ("negative", NEGATIVE)):
            g.add_node("diffusion.text_encode", {"text": text}, id=name)
            g.connect(self.clip, "clip", name, "clip")
        positive = "positive"
        if guidance is not None:
            g.add_node("diffusion.flux_guidance", {"guidance": guidance}, id="guidance")
            g.connect("positive", "conditioning", "guidance", "conditioning")
            positive = "guidance"
        g.add_node("diffusion.empty_latent", {"width": width, "height": height,
                                              "batch_size": batch_size}, id="latent")
        g.connect(self.model, "model", "latent", "model")
        g.add_node("diffusion.sampler", {"seed": SEED, "scheduler": "normal", **sampler},
                   id="sampler")
        g.connect(self.model, "model", "sampler", "model")
        g.connect(positive, "conditioning", "sampler", "positive")
        g.connect("negative", "conditioning", "sampler", "negative")
        g.connect("latent", "latent", "sampler", "latent")
        g.add_node("diffusion.vae_decode", {}, id="decode")
        g.connect(self.vae, "vae", "decode", "vae")
        g.connect("sampler", "latent", "decode", "latent")
        g.add_node("image.preview", {}, id="preview")
        g.connect("decode", "image", "preview", "images")
        if rewire is not None:
            rewire(g)
        return session.run(g, outputs=["decode"]).outputs["decode"]["image"]


#: The folders' pipelines, read once for this module (conftest.shared_pipeline).
_LOADED: dict[Any, Any] = {}


@pytest.fixture(scope="module", autouse=True)
def _forget_pipelines():
    yield
    _LOADED.clear()


def pipeline(models, pipeline_class: Any, folder: str, sampler: str = "euler",
             fresh: bool = False) -> Any:
    """The pipeline over ``folder``'s modules with the Sampler's scheduler; ``fresh``: read
    from disk for this test alone (it changes the modules: a LoRA)."""
    from nodestudio.runtime import families
    from nodestudio.runtime.schedulers import build_scheduler

    if fresh:
        loaded = pipeline_class.from_pretrained(models.checkpoint(folder), local_files_only=True)
    else:
        loaded = shared_pipeline(_LOADED, models.checkpoint(folder), pipeline_class)
    family = families.SD3 if "3" in pipeline_class.__name__ else families.FLUX
    loaded.scheduler = build_scheduler(sampler, "normal", loaded.scheduler.config, SEED, family)
    loaded.set_progress_bar_config(disable=True)
    return loaded


@pytest.mark.parametrize("sampler", ["euler", "heun", "dpmpp_2m"])
def test_sd3_graph_equals_the_pipeline(sampler, session, tiny_dit_models, same_image):
    from diffusers import StableDiffusion3Pipeline

    image = FlowGraph(tiny_dit_models.sd3_folder).run(
        session, 48, 32, batch_size=2, steps=4, cfg=4.5, sampler=sampler)
    reference = pipeline(tiny_dit_models, StableDiffusion3Pipeline, tiny_dit_models.sd3_folder,
                         sampler)
    expected = reference(prompt=PROMPT, negative_prompt=NEGATIVE, width=48, height=32,
                         num_inference_steps=4, guidance_scale=4.5, num_images_per_prompt=2,
                         generator=generator(), output_type="np").images
    same_image(image, expected)


def test_sd3_runs_without_t5_as_the_pipeline_does(session, tiny_dit_models, same_image):
    from diffusers import StableDiffusion3Pipeline

    image = FlowGraph().split(tiny_dit_models.sd3_transformer_file,
                              [tiny_dit_models.clip_l_file, tiny_dit_models.clip_g_file], "sd3",
                              tiny_dit_models.sd3_vae_folder
                              ).run(session, 32, 32, steps=3, cfg=3.0, sampler="euler")
    reference = pipeline(tiny_dit_models, StableDiffusion3Pipeline, tiny_dit_models.sd3_folder)
    reference.text_encoder_3 = reference.tokenizer_3 = None
    expected = reference(prompt=PROMPT, negative_prompt=NEGATIVE, width=32, height=32,
                         num_inference_steps=3, guidance_scale=3.0, generator=generator(),
                         output_type="np").images
    same_image(image, expected)


@pytest.mark.parametrize(("guidance", "steps"), [(None, 3), (5.0, 4)])
def test_flux_dev_graph_equals_the_pipeline(guidance, steps, session, tiny_dit_models,
                                            same_image):
    from diffusers import FluxPipeline

    image = FlowGraph(tiny_dit_models.flux_folder).run(
        session, 48, 32, guidance=guidance, steps=steps, cfg=1.0, sampler="euler")
    reference = pipeline(tiny_dit_models, FluxPipeline, tiny_dit_models.flux_folder)
    expected = reference(prompt=PROMPT, width=48, height=32, num_inference_steps=steps,
                         guidance_scale=3.5 if guidance is None else guidance,
                         generator=generator(), output_type="np").images
    same_image(image, expected)


def test_flux_true_cfg_and_schnell_equal_the_pipeline(session, tiny_dit_models, same_image):
    from diffusers import FluxPipeline

    image = FlowGraph(tiny_dit_models.flux_folder).run(session, 32, 32, steps=3, cfg=2.5,
                                                       sampler="euler")
    reference = pipeline(tiny_dit_models, FluxPipeline, tiny_dit_models.flux_folder)
    expected = reference(prompt=PROMPT, negative_prompt=NEGATIVE, true_cfg_scale=2.5, width=32,
                         height=32, num_inference_steps=3, generator=generator(),
                         output_type="np").images
    same_image(image, expected)

    image = FlowGraph(tiny_dit_models.flux_schnell_folder).run(session, 32, 32, steps=2,
                                                               cfg=1.0, sampler="euler")
    reference = pipeline(tiny_dit_models, FluxPipeline, tiny_dit_models.flux_schnell_folder)
    expected = reference(prompt=PROMPT, width=32, height=32, num_inference_steps=2,
                         generator=generator(), output_type="np").images
    same_image(image, expected)


def _folder_image(session, name: str, **values: Any) -> np.ndarray:
    return FlowGraph(name).run(session, 32, 32, steps=3, sampler="euler", **values)


@pytest.mark.parametrize("family", ["sd3", "flux"])
def test_single_files_give_the_folders_image(family, session, tiny_dit_models, same_image):
    m = tiny_dit_models
    cfg = 4.0 if family == "sd3" else 1.0
    expected = _folder_image(session, m.sd3_folder if family == "sd3" else m.flux_folder, cfg=cfg)
    all_in_one = _folder_image(session, m.sd3_file if family == "sd3" else m.flux_file, cfg=cfg)
    np.testing.assert_allclose(all_in_one, expected, atol=1e-5)
    if family == "sd3":
        split = FlowGraph().split(m.sd3_transformer_file, [m.clip_l_file, m.clip_g_file, m.t5_file],
                                  "sd3", m.sd3_vae_folder)
    else:
        split = FlowGraph().split(m.flux_transformer_file, [m.t5_file, m.clip_l_file], "flux",
                                  m.flux_vae_file)
    image = split.run(session, 32, 32, steps=3, sampler="euler", cfg=cfg)
    np.testing.assert_allclose(image, expected, atol=1e-5)
    same_image(image, expected)


def test_fp8_diffusion_model_holds_the_folders_weights_in_8_bits(tiny_dit_models):
    from diffusers import FluxTransformer2DModel

    from nodestudio.runtime.split_files import load_diffusion_model

    m = tiny_dit_models
    loaded = load_diffusion_model(m.diffusion_model(m.flux_fp8_transformer_file), "cpu")
    folder = FluxTransformer2DModel.from_pretrained(m.checkpoint(m.flux_folder),
                                                    subfolder="transformer")
    ours = loaded.denoiser.state_dict()
    for key, value in folder.state_dict().items():
        stored = value.to(torch.float8_e4m3fn).float() if value.ndim == 2 else value.to(
            torch.bfloat16).float()
        torch.testing.assert_close(ours[key].float(), stored, rtol=0, atol=0)
    kept = load_diffusion_model(m.diffusion_model(m.flux_transformer_file), "cpu",
                                weight_dtype="fp8_e4m3fn")
    assert kept.denoiser.x_embedder.weight.dtype == torch.float8_e4m3fn


def _controlled(session, checkpoint: str, controlnet: str, hint: str, **sampler: Any
                ) -> np.ndarray:
    flow = FlowGraph(checkpoint)
    g = flow.graph
    g.add_node("image.load", {"image": hint}, id="hint")
    g.add_node("diffusion.load_controlnet", {"control_net": controlnet}, id="controlnet")
    g.add_node("diffusion.apply_controlnet", {"strength": 0.8, "end_percent": 0.75},
               id="control")
    for source, output, input_name in (("controlnet", "control_net", "control_net"),
                                       ("hint", "image", "image"), ("checkpoint", "vae", "vae")):
        g.connect(source, output, "control", input_name)

    def through_control(graph: Graph) -> None:
        graph.connect("positive", "conditioning", "control", "positive")
        graph.connect("negative", "conditioning", "control", "negative")
        graph.connect("control", "positive", "sampler", "positive")
        graph.connect("control", "negative", "sampler", "negative")

    return flow.run(session, 48, 32, rewire=through_control, **sampler)


@pytest.fixture(scope="module")
def hint(session) -> tuple[str, np.ndarray]:
    from PIL import Image

    rng = np.random.default_rng(11)
    pixels = (rng.random((32, 48, 3)) * 255).astype(np.uint8)
    session.settings.input_dir.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(session.settings.input_dir / "hint.png")
    return "hint.png", pixels


def test_sd3_controlnet_graph_equals_the_pipeline(session, tiny_dit_models, hint, same_image):
    from diffusers import SD3ControlNetModel, StableDiffusion3ControlNetPipeline
    from PIL import Image

    m = tiny_dit_models
    image = _controlled(session, m.sd3_folder, m.sd3_controlnet_folder, hint[0], steps=4,
                        cfg=4.0, sampler="euler")
    controlnet = SD3ControlNetModel.from_pretrained(m.controlnet(m.sd3_controlnet_folder))
    reference = shared_pipeline(_LOADED, m.checkpoint(m.sd3_folder),
                                StableDiffusion3ControlNetPipeline, controlnet=controlnet)
    expected = reference(prompt=PROMPT, negative_prompt=NEGATIVE, control_image=Image.fromarray(
        hint[1]), controlnet_conditioning_scale=0.8, control_guidance_end=0.75, width=48,
        height=32, num_inference_steps=4, guidance_scale=4.0, generator=generator(),
        output_type="np").images
    same_image(image, expected)
    plain = FlowGraph(m.sd3_folder).run(session, 48, 32, steps=4, cfg=4.0, sampler="euler")
    assert np.abs(plain - image).max() > 0.05  # the ControlNet acts


def test_flux_controlnet_graph_equals_the_pipeline(session, tiny_dit_models, hint, same_image):
    from diffusers import FluxControlNetModel, FluxControlNetPipeline
    from diffusers.utils.torch_utils import randn_tensor
    from PIL import Image

    from nodestudio.runtime.families.flux import pack

    m = tiny_dit_models
    image = _controlled(session, m.flux_folder, m.flux_controlnet_folder, hint[0], steps=3,
                        cfg=1.0, sampler="euler")
    controlnet = FluxControlNetModel.from_pretrained(m.controlnet(m.flux_controlnet_folder))
    reference = shared_pipeline(_LOADED, m.checkpoint(m.flux_folder), FluxControlNetPipeline,
                                controlnet=controlnet)
    # The pipeline draws the hint's posterior sample from the generator before the noise;
    # hand it the noise the Sampler draws (its VAE's posterior is narrow: sample = mode).
    noise = pack(randn_tensor((1, 16, 4, 6), generator=generator()))
    expected = reference(prompt=PROMPT, control_image=Image.fromarray(hint[1]),
                         controlnet_conditioning_scale=0.8, control_guidance_end=0.75, width=48,
                         height=32, num_inference_steps=3, guidance_scale=3.5, latents=noise,
                         generator=generator(), output_type="np").images
    same_image(image, expected)


def test_flux_lora_graph_equals_the_pipeline(session, tiny_dit_models, same_image):
    from diffusers import FluxPipeline

    m = tiny_dit_models
    flow = FlowGraph(m.flux_folder)
    flow.graph.add_node("diffusion.load_lora", {"lora": m.flux_lora_file, "strength_model": 0.7,
                                                "strength_clip": 0.7}, id="lora")
    flow.graph.connect("checkpoint", "model", "lora", "model")
    flow.graph.connect("checkpoint", "clip", "lora", "clip")
    flow.model, flow.clip = "lora", "lora"
    image = flow.run(session, 32, 32, steps=3, cfg=1.0, sampler="euler")

    reference = pipeline(m, FluxPipeline, m.flux_folder, fresh=True)  # the LoRA goes in
    reference.load_lora_weights(str(m.lora(m.flux_lora_file)), adapter_name="reference")
    reference.set_adapters(["reference"], adapter_weights=[0.7])
    expected = reference(prompt=PROMPT, width=32, height=32, num_inference_steps=3,
                         generator=generator(), output_type="np").images
    same_image(image, expected)
    plain = _folder_image(session, m.flux_folder, cfg=1.0)
    assert np.abs(plain - image).max() > 0.02  # the LoRA acts


def _flow_pairs() -> list[tuple[str, str]]:
    from nodestudio.runtime.families.base import Scheduling
    from nodestudio.runtime.schedulers import FLOW_SAMPLER_NAMES, supported_schedules

    return [(sampler, schedule) for sampler in FLOW_SAMPLER_NAMES
            for schedule in supported_schedules(sampler, Scheduling.FLOW)]


@pytest.mark.parametrize(("sampler", "schedule"), _flow_pairs())
def test_every_flow_sampler_and_schedule_makes_an_image(sampler, schedule, session,
                                                        tiny_dit_models):
    flux = FlowGraph(tiny_dit_models.flux_folder)

    def scheduled(graph: Graph) -> None:
        graph.set_value("sampler", "scheduler", schedule)

    image = flux.run(session, 32, 32, steps=4, cfg=1.0, sampler=sampler, rewire=scheduled)
    assert image.shape == (1, 32, 32, 3) and np.isfinite(image).all() and image.std() > 0.01


def test_a_sampler_without_a_flow_variant_is_refused_by_name(session, tiny_dit_models):
    from nodestudio.engine.executor import NodeExecutionError

    with pytest.raises(NodeExecutionError) as raised:
        FlowGraph(tiny_dit_models.sd3_folder).run(session, 32, 32, steps=2, cfg=1.0,
                                                  sampler="dpmpp_sde")
    message = raised.value.result.failed["sampler"]
    assert "does not work with flow-matching models" in message and "heun" in message


def test_sd35_medium_shaped_model_equals_the_pipeline(session, tiny_dit_models, same_image):
    """SD3.5's MMDiT-X: RMS-normalised queries and keys, dual attention in the first block."""
    from diffusers import StableDiffusion3Pipeline

    from nodestudio.runtime import tiny_dit

    components = tiny_dit.tiny_sd3_components(7)
    components["transformer"] = tiny_dit.tiny_sd3_transformer(
        8, qk_norm="rms_norm", dual_attention_layers=(0,))
    folder = tiny_dit_models.checkpoint("tiny-sd35-medium")
    tiny_dit.save_pipeline_folder("StableDiffusion3Pipeline", components, folder)

    image = FlowGraph(folder.name).run(session, 32, 32, steps=3, cfg=5.0, sampler="euler")
    reference = pipeline(tiny_dit_models, StableDiffusion3Pipeline, folder.name)
    expected = reference(prompt=PROMPT, negative_prompt=NEGATIVE, width=32, height=32,
                         num_inference_steps=3, guidance_scale=5.0, generator=generator(),
                         output_type="np").images
    same_image(image, expected)


def test_empty_latents_of_flow_models_have_16_channels_on_the_packing_grid(session,
                                                                           tiny_dit_models):
    graph = Graph()
    graph.add_node("diffusion.load_checkpoint", {"checkpoint": tiny_dit_models.flux_folder},
                   id="checkpoint")
    graph.add_node("diffusion.empty_latent", {"width": 72, "height": 40, "batch_size": 2},
                   id="latent")
    graph.connect("checkpoint", "model", "latent", "model")
    latent = session.run(graph, outputs=["latent"]).outputs["latent"]["latent"]
    # 16 channels; sides rounded down to Flux's 16-pixel grid (8× VAE, 2 × 2 packing).
    assert tuple(latent.samples.shape) == (2, 16, 4, 8) and latent.pixel_size == (32, 64)


@pytest.mark.parametrize("family", ["sd3", "flux"])
def test_single_files_load_to_the_folders_weights(family, tiny_dit_models):
    from nodestudio.runtime.checkpoints import load_checkpoint
    from nodestudio.runtime.split_files import load_diffusion_model, load_text_encoders

    m = tiny_dit_models
    folder_name, file_name, transformer_file = (
        (m.sd3_folder, m.sd3_file, m.sd3_transformer_file) if family == "sd3"
        else (m.flux_folder, m.flux_file, m.flux_transformer_file))
    tokenizer = m.tokenizer(m.t5_tokenizer_folder)
    folder = load_checkpoint(m.checkpoint(folder_name), "cpu")
    bundled = load_checkpoint(m.checkpoint(file_name), "cpu", t5_tokenizer=tokenizer)
    alone = load_diffusion_model(m.diffusion_model(transformer_file), "cpu")
    names = [m.clip_l_file, m.clip_g_file, m.t5_file] if family == "sd3" else [
        m.clip_l_file, m.t5_file]
    encoders = load_text_encoders([m.text_encoder(name) for name in names], family, "cpu",
                                  tokenizer)

    def same(first: torch.nn.Module, second: torch.nn.Module) -> None:
        theirs = second.state_dict()
        for key, value in first.state_dict().items():
            assert torch.equal(value, theirs[key]), key

    for model in (bundled.model, alone):
        same(folder.model.denoiser, model.denoiser)
    same(folder.vae.model, bundled.vae.model)
    for clip in (bundled.clip, encoders):
        assert [e.slot for e in clip.encoders] == [e.slot for e in folder.clip.encoders]
        for ours, reference in zip(clip.encoders, folder.clip.encoders, strict=True):
            same(reference.model, ours.model)
