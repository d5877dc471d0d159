"""Models load where the memory mode says and every model a run uses is on the device when it
runs: the checks a GPU would make, on the CPU (tests/virtual_accelerator.py).

Under ``offload`` a loader leaves a new model in system memory (so Flux-dev's 24 GB
transformer loads on a 12 GB card at all) and the node that uses it brings it to the device;
after the run every model, ControlNets included, is back in system memory. Under ``keep``
models load straight onto the device and stay there. The pictures equal a plain CPU run's.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from virtual_accelerator import ACCELERATOR, SYSTEM_MEMORY, place_of, virtual_accelerator

import nodestudio
from nodestudio.app.packs import create_registry
from nodestudio.app.settings import Settings
from nodestudio.graph.model import Graph
from nodestudio.runtime import memory_manager


@pytest.fixture(scope="module")
def registry():
    return create_registry(entry_points=False)


@pytest.fixture(scope="module")
def hint_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("virtual-input")
    pixels = (np.random.default_rng(4).random((32, 32, 3)) * 255).astype(np.uint8)
    Image.fromarray(pixels).save(folder / "hint.png")
    return folder


@pytest.fixture
def new_session(registry, tiny_models, tiny_dit_models, hint_folder, tmp_path
                ) -> Callable[[str, str], nodestudio.Session]:
    """A Session with its own model cache: ``new_session(device, memory_mode)``."""

    def make(device: str, mode: str) -> nodestudio.Session:
        return nodestudio.Session(device=device, models_dir=[tiny_models.root,
                                                             tiny_dit_models.root],
                                  output_dir=tmp_path / "output", input_dir=hint_folder,
                                  registry=registry, settings=Settings(memory_mode=mode))

    yield make
    memory_manager.configure("auto")


def controlled_graph(checkpoint: str, controlnet: str, cfg: float) -> Graph:
    """Checkpoint → prompts → Apply ControlNet (a hint picture) → Sampler → VAE Decode."""
    g = Graph()
    g.add_node("diffusion.load_checkpoint", {"checkpoint": checkpoint}, id="checkpoint")
    for name, text in (("positive", "a red square"), ("negative", "")):
        g.add_node("diffusion.text_encode", {"text": text}, id=name)
        g.connect("checkpoint", "clip", name, "clip")
    g.add_node("image.load", {"image": "hint.png"}, id="hint")
    g.add_node("diffusion.load_controlnet", {"control_net": controlnet}, id="controlnet")
    g.add_node("diffusion.apply_controlnet", {"strength": 0.8}, id="control")
    for source, output, input_name in (("controlnet", "control_net", "control_net"),
                                       ("hint", "image", "image"), ("checkpoint", "vae", "vae"),
                                       ("positive", "conditioning", "positive"),
                                       ("negative", "conditioning", "negative")):
        g.connect(source, output, "control", input_name)
    g.add_node("diffusion.empty_latent", {"width": 32, "height": 32}, id="latent")
    g.connect("checkpoint", "model", "latent", "model")
    g.add_node("diffusion.sampler", {"seed": 3, "steps": 2, "cfg": cfg}, id="sampler")
    for source, output, input_name in (("checkpoint", "model", "model"),
                                       ("control", "positive", "positive"),
                                       ("control", "negative", "negative"),
                                       ("latent", "latent", "latent")):
        g.connect(source, output, "sampler", input_name)
    g.add_node("diffusion.vae_decode", {}, id="decode")
    g.connect("checkpoint", "vae", "decode", "vae")
    g.connect("sampler", "latent", "decode", "latent")
    return g


def _models(session: nodestudio.Session, graph: Graph) -> dict[str, torch.nn.Module]:
    """The run's models by role, from the loader nodes' cached outputs."""
    result = session.run(graph, outputs=["checkpoint", "controlnet", "decode"])
    model, clip, vae = (result.outputs["checkpoint"][name] for name in ("model", "clip", "vae"))
    return {"denoiser": model.denoiser, "vae": vae.model,
            "controlnet": result.outputs["controlnet"]["control_net"].model,
            **{encoder.slot: encoder.model for encoder in clip.encoders}}


CASES = [("sd", "tiny_models", "sd_folder", "controlnet_folder", 5.0),
         ("flux", "tiny_dit_models", "flux_folder", "flux_controlnet_folder", 1.0)]


@pytest.mark.parametrize(("family", "root", "checkpoint", "controlnet", "cfg"), CASES,
                         ids=[case[0] for case in CASES])
def test_offload_loads_to_system_memory_and_brings_each_model_for_its_node(
        family, root, checkpoint, controlnet, cfg, request, new_session, monkeypatch):
    models = request.getfixturevalue(root)
    graph = controlled_graph(getattr(models, checkpoint), getattr(models, controlnet), cfg)
    reference = new_session("cpu", "keep").run(graph, outputs=["decode"]).outputs
    with virtual_accelerator(monkeypatch) as residency:
        session = new_session(str(ACCELERATOR), "offload")
        image = session.run(graph, outputs=["decode"]).outputs["decode"]["image"]
        placed = _models(session, graph)
    assert residency.violations == []
    # Every model came to the device for its node and went back to system memory after it.
    assert {name: place_of(module) for name, module in placed.items()} == dict.fromkeys(
        placed, SYSTEM_MEMORY)
    brought = {name for name, module in placed.items()
               if (type(module).__name__, str(ACCELERATOR)) in residency.moves}
    assert brought == set(placed)
    np.testing.assert_allclose(image, reference["decode"]["image"], atol=1e-5)
    assert image.std() > 0.01


def test_keep_loads_onto_the_device_and_leaves_models_there(tiny_models, new_session,
                                                            monkeypatch):
    graph = controlled_graph(tiny_models.sd_folder, tiny_models.controlnet_folder, 5.0)
    with virtual_accelerator(monkeypatch) as residency:
        placed = _models(new_session(str(ACCELERATOR), "keep"), graph)
    assert residency.violations == []
    assert {place_of(module) for module in placed.values()} == {ACCELERATOR}
    # Straight from the loader to the device: nothing went through system memory.
    assert all(device == str(ACCELERATOR) for _, device in residency.moves)


def test_the_check_fails_a_model_run_from_system_memory(tiny_models, monkeypatch):
    """The harness itself: a loader's model run without being brought to the device is
    caught (on a GPU: "Expected all tensors to be on the same device")."""
    from nodestudio.runtime.checkpoints import load_checkpoint

    with virtual_accelerator(monkeypatch) as residency, memory_manager.policy("offload"):
        checkpoint = load_checkpoint(tiny_models.checkpoint(tiny_models.sd_folder),
                                     ACCELERATOR)
        vae = checkpoint.vae.model
        assert place_of(vae) == SYSTEM_MEMORY
        with torch.no_grad():
            vae.decode(torch.zeros(1, 4, 4, 4))
        assert residency.violations and "ran with its weights on cpu" in residency.violations[0]
        residency.violations.clear()
        with memory_manager.models_in_use([vae], ACCELERATOR), torch.no_grad():
            vae.decode(torch.zeros(1, 4, 4, 4))
        assert residency.violations == []
        assert place_of(vae) == SYSTEM_MEMORY  # offload sent it back after its node


def _upscaler(folder: Path):
    from nodestudio.runtime.upscale import load_upscale_model, upscale_image
    from tests.runtime.test_upscale import _compact

    torch.save(_compact(), folder / "compact_x2.pth")
    model = load_upscale_model(folder / "compact_x2.pth", ACCELERATOR)
    picture = np.random.default_rng(1).random((1, 24, 24, 3), dtype=np.float32)
    return model.module, lambda: upscale_image(model, picture)


def _clip_vision(folder: Path):
    from nodestudio.runtime.clip_vision import encode_image, load_clip_vision
    from nodestudio.runtime.tiny_unclip import save_clip_vision, tiny_clip_vision

    model = load_clip_vision(save_clip_vision(tiny_clip_vision(3), folder / "vision.safetensors"),
                             ACCELERATOR)
    picture = np.random.default_rng(2).random((1, 40, 40, 3), dtype=np.float32)
    return model.model, lambda: encode_image(model, picture)


@pytest.mark.parametrize("build", [_upscaler, _clip_vision], ids=["upscaler", "clip-vision"])
def test_offload_holds_a_node_s_own_model_for_the_node_only(build, tmp_path, monkeypatch):
    """Load Upscale Model → Upscale Image; Load CLIP Vision → CLIP Vision Encode."""
    with virtual_accelerator(monkeypatch) as residency, memory_manager.policy("offload"):
        module, use = build(tmp_path)
        assert place_of(module) == SYSTEM_MEMORY  # the loader left it in system memory
        first = use()
        assert place_of(module) == SYSTEM_MEMORY  # and the node sent it back
        assert (type(module).__name__, str(ACCELERATOR)) in residency.moves
        again = use()
    assert residency.violations == []
    # The same answer each time it is brought back (pixels, or the image embedding).
    first, again = (np.asarray(getattr(out, "image_embeds", out)) for out in (first, again))
    np.testing.assert_array_equal(first, again)
    assert first.std() > 0


def test_offload_sends_back_what_a_node_brought_itself(registry, tmp_path, monkeypatch):
    """Shap-E's nodes bring their parts with ``devices.ensure_on``: the Session's node scope
    returns them to system memory when each node ends (under keep they stay)."""
    from nodestudio.runtime.tiny_audio_3d import save_shap_e_folder
    from tests.fidelity.test_shap_e import shap_e_graph

    save_shap_e_folder(tmp_path / "checkpoints" / "tiny-shap-e")
    graph = shap_e_graph(2, 3.0, grid=8)
    places = {}
    for mode in ("offload", "keep"):
        with virtual_accelerator(monkeypatch) as residency:
            session = nodestudio.Session(device=str(ACCELERATOR), models_dir=tmp_path,
                                         output_dir=tmp_path / mode, registry=registry,
                                         settings=Settings(memory_mode=mode))
            result = session.run(graph, outputs=["load", "mesh"])
        assert residency.violations == []
        shap_e = result.outputs["load"]["model"]
        places[mode] = {name: place_of(getattr(shap_e, name))
                        for name in ("prior", "text_encoder", "renderer")}
        assert len(result.outputs["mesh"]["mesh"].faces) > 0
    memory_manager.configure("auto")
    assert places == {"offload": dict.fromkeys(places["offload"], SYSTEM_MEMORY),
                      "keep": dict.fromkeys(places["keep"], ACCELERATOR)}


def test_auto_loads_what_fits_the_free_memory_and_runs_the_rest_from_system_memory(
        tiny_models, new_session, monkeypatch):
    """The default mode on a card whose free memory holds every model but the largest (CUDA's
    mem_get_info, simulated): that one loads into system memory, the rest onto the device,
    and the run still gives the plain CPU run's picture."""
    graph = controlled_graph(tiny_models.sd_folder, tiny_models.controlnet_folder, 5.0)
    reference = new_session("cpu", "keep").run(graph, outputs=["decode"]).outputs
    with virtual_accelerator(monkeypatch) as residency:
        session = new_session(str(ACCELERATOR), "auto")
        # Sized from the models themselves once loaded (a keep-mode load of the same folder).
        sizes = {name: memory_manager.parameter_bytes(module)
                 for name, module in _models(new_session("cpu", "keep"), graph).items()}
        memory_manager.configure("auto")
        largest, second = sorted(sizes, key=sizes.get, reverse=True)[:2]
        room = sizes[second] * memory_manager.HEADROOM * 1.01
        assert sizes[largest] * memory_manager.HEADROOM > room
        monkeypatch.setattr(memory_manager, "free_bytes",
                            lambda device, budget=None: budget if budget is not None
                            else int(room))
        loaded = session.run(graph, outputs=["checkpoint", "controlnet"]).outputs
        model, clip, vae = (loaded["checkpoint"][name] for name in ("model", "clip", "vae"))
        places = {"denoiser": place_of(model.denoiser), "vae": place_of(vae.model),
                  "controlnet": place_of(loaded["controlnet"]["control_net"].model),
                  **{encoder.slot: place_of(encoder.model) for encoder in clip.encoders}}
        image = session.run(graph, outputs=["decode"]).outputs["decode"]["image"]
    assert residency.violations == []
    assert places == {**dict.fromkeys(places, ACCELERATOR), largest: SYSTEM_MEMORY}
    np.testing.assert_allclose(image, reference["decode"]["image"], atol=1e-5)
