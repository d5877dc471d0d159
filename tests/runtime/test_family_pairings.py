"""Parts of different model families wired together fail with a message that names the node,
the families involved and what fits — never a shape error from inside torch."""

from __future__ import annotations

from typing import Any

import pytest

import nodestudio
from nodestudio.app.packs import create_registry
from nodestudio.app.settings import Settings
from nodestudio.engine.executor import NodeExecutionError
from nodestudio.graph.model import Graph


@pytest.fixture(scope="module")
def session(tiny_models, tiny_dit_models, tmp_path_factory) -> nodestudio.Session:
    folder = tmp_path_factory.mktemp("pairings")
    return nodestudio.Session(device="cpu", models_dir=[tiny_models.root, tiny_dit_models.root],
                              output_dir=folder / "output", input_dir=folder / "input",
                              registry=create_registry(entry_points=False), settings=Settings())


def failure(session: nodestudio.Session, graph: Graph, node_id: str) -> str:
    with pytest.raises(NodeExecutionError) as raised:
        session.run(graph)
    return raised.value.result.failed[node_id]


def text_to_image(model: str, clip: str, vae: str, checkpoints: dict[str, str],
                  between: Any = None) -> Graph:
    """A text-to-image graph whose MODEL, CLIP and VAE come from the named nodes: the
    checkpoints, or what ``between(graph)`` adds after them."""
    graph = Graph()
    for node_id, name in checkpoints.items():
        graph.add_node("diffusion.load_checkpoint", {"checkpoint": name}, id=node_id)
    if between is not None:
        between(graph)
    graph.add_node("diffusion.text_encode", {"text": "a red fox"}, id="positive")
    graph.connect(clip, "clip", "positive", "clip")
    graph.add_node("diffusion.empty_latent", {"width": 32, "height": 32}, id="latent")
    graph.connect(model, "model", "latent", "model")
    graph.add_node("diffusion.sampler", {"seed": 1, "steps": 2, "cfg": 1.0}, id="sampler")
    graph.connect(model, "model", "sampler", "model")
    graph.connect("positive", "conditioning", "sampler", "positive")
    graph.connect("latent", "latent", "sampler", "latent")
    graph.add_node("diffusion.vae_decode", {}, id="decode")
    graph.connect(vae, "vae", "decode", "vae")
    graph.connect("sampler", "latent", "decode", "latent")
    graph.add_node("image.preview", {}, id="preview")
    graph.connect("decode", "image", "preview", "images")
    return graph


def test_an_sdxl_vae_on_a_flux_latent(session, tiny_models, tiny_dit_models):
    graph = text_to_image("flux", "flux", "sdxl", {"flux": tiny_dit_models.flux_folder,
                                                   "sdxl": tiny_models.sdxl_folder})
    message = failure(session, graph, "decode")
    assert "16 channels (SD3, Flux latents)" in message and "4 (SD 1.x, SD 2.x, SDXL" in message
    assert "VAE of the model that made the latent" in message


def test_an_sdxl_prompt_on_flux(session, tiny_models, tiny_dit_models):
    graph = text_to_image("flux", "sdxl", "flux", {"flux": tiny_dit_models.flux_folder,
                                                   "sdxl": tiny_models.sdxl_folder})
    message = failure(session, graph, "sampler")
    assert "encoded with SDXL text encoders, but this is a Flux model" in message


def test_a_flux_lora_on_sd15(session, tiny_models, tiny_dit_models):
    import shutil

    lora = tiny_models.root / "loras" / "flux-style.safetensors"
    shutil.copy(tiny_dit_models.lora(tiny_dit_models.flux_lora_file), lora)

    def add_lora(graph: Graph) -> None:
        graph.add_node("diffusion.load_lora", {"lora": lora.name}, id="lora")
        graph.connect("sd", "model", "lora", "model")
        graph.connect("sd", "clip", "lora", "clip")

    graph = text_to_image("lora", "lora", "sd", {"sd": tiny_models.sd_folder}, add_lora)
    message = failure(session, graph, "lora")
    assert "is for Flux; this model is SD 1.x: use a SD 1.x LoRA" in message


def _split_flux(names: list[str]) -> dict[str, Any]:
    values = {f"text_encoder_{i}": name for i, name in enumerate(names, 1)}
    return {**values, "type": "flux"}


def test_flux_without_t5(session, tiny_dit_models):
    graph = Graph()
    graph.add_node("diffusion.load_text_encoders",
                   _split_flux([tiny_dit_models.clip_l_file]), id="clip")
    graph.add_node("diffusion.text_encode", {"text": "a fox"}, id="positive")
    graph.connect("clip", "clip", "positive", "clip")
    graph.add_node("diffusion.flux_guidance", {}, id="guidance")
    graph.connect("positive", "conditioning", "guidance", "conditioning")
    graph.add_node("diffusion.load_checkpoint", {"checkpoint": tiny_dit_models.flux_folder},
                   id="flux")
    graph.add_node("diffusion.empty_latent", {"width": 32, "height": 32}, id="latent")
    graph.connect("flux", "model", "latent", "model")
    graph.add_node("diffusion.sampler", {"steps": 1, "cfg": 1.0}, id="sampler")
    graph.connect("flux", "model", "sampler", "model")
    graph.connect("guidance", "conditioning", "sampler", "positive")
    graph.connect("latent", "latent", "sampler", "latent")
    graph.add_node("diffusion.vae_decode", {}, id="decode")
    graph.connect("flux", "vae", "decode", "vae")
    graph.connect("sampler", "latent", "decode", "latent")
    graph.add_node("image.preview", {}, id="preview")
    graph.connect("decode", "image", "preview", "images")
    message = failure(session, graph, "clip")
    assert message.endswith("Flux needs clip_l + t5: t5 is missing")


def test_a_t5_file_without_its_tokenizer_names_the_folder(tiny_dit_models, tmp_path):
    from nodestudio.api.errors import ModelNotFoundError
    from nodestudio.app.models import ModelLibrary
    from nodestudio.runtime.families.transformer import TokenizerMissingError
    from nodestudio.runtime.split_files import load_text_encoders

    with pytest.raises(ModelNotFoundError) as looked_up:
        ModelLibrary([tmp_path], include_demo=False).find("tokenizers", "t5")
    paths = [tiny_dit_models.text_encoder(name) for name in (tiny_dit_models.clip_l_file,
                                                            tiny_dit_models.t5_file)]
    with pytest.raises(TokenizerMissingError, match=r"tokenizer\.json") as raised:
        load_text_encoders(paths, "flux", "cpu", looked_up.value)
    assert str(tmp_path / "tokenizers") in str(raised.value)


def test_an_sd15_controlnet_on_flux(session, tiny_models, tiny_dit_models):
    import numpy as np
    from PIL import Image

    session.settings.input_dir.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(session.settings.input_dir / "hint.png")
    graph = text_to_image("flux", "flux", "flux", {"flux": tiny_dit_models.flux_folder})
    graph.add_node("image.load", {"image": "hint.png"}, id="hint")
    graph.add_node("diffusion.load_controlnet", {"control_net": tiny_models.controlnet_folder},
                   id="controlnet")
    graph.add_node("diffusion.apply_controlnet", {}, id="control")
    graph.connect("positive", "conditioning", "control", "positive")
    graph.connect("positive", "conditioning", "control", "negative")
    graph.connect("controlnet", "control_net", "control", "control_net")
    graph.connect("hint", "image", "control", "image")
    graph.connect("control", "positive", "sampler", "positive")
    message = failure(session, graph, "sampler")
    assert "is for SD 1.x; this model is Flux" in message


def test_the_shift_nodes_refuse_a_unet_model(session, tiny_models):

    def add_shift(graph: Graph) -> None:
        graph.add_node("diffusion.model_sampling_shift", {"shift": 2.0}, id="shift")
        graph.connect("sd", "model", "shift", "model")

    graph = text_to_image("shift", "sd", "sd", {"sd": tiny_models.sd_folder}, add_shift)
    message = failure(session, graph, "shift")
    assert "SD 1.x model: the shift only applies to flow-matching models" in message


def test_the_sdxl_refiner_reads_original_size_crop_and_aesthetic_score():
    import torch

    from nodestudio.runtime.families import SDXL_REFINER
    from nodestudio.runtime.types import Conditioning, SizeConditioning

    prompt = Conditioning(embeds=torch.zeros(1, 77, 64),
                          size=SizeConditioning(original_size=(96, 128), crop_top_left=(8, 16)),
                          extra={"aesthetic_score": 6.5})
    negative = Conditioning(embeds=torch.zeros(1, 77, 64), extra={"aesthetic_score": 2.5})
    assert SDXL_REFINER.time_ids(prompt, prompt, 64, 48) == [96, 128, 8, 16, 6.5]
    # A negative prompt without sizes takes the prompt's, but keeps its own score.
    assert SDXL_REFINER.time_ids(negative, prompt, 64, 48) == [96, 128, 8, 16, 2.5]
    assert SDXL_REFINER.time_ids(negative, negative, 64, 48) == [64, 48, 0, 0, 2.5]
