"""Loaders report progress as the parts of a model load, so the GUI's bar moves meanwhile."""

from __future__ import annotations

from typing import Any

import pytest

import nodestudio
from nodestudio.app.settings import Settings
from nodestudio.engine.cancel import CancelToken
from nodestudio.graph.model import Graph


@pytest.fixture
def session(tiny_models, diffusion_registry, tmp_path) -> nodestudio.Session:
    """A fresh session each time: nothing cached, every loader runs."""
    folder = tmp_path
    return nodestudio.Session(device="cpu", models_dir=tiny_models.root,
                              output_dir=folder / "output", input_dir=folder / "input",
                              registry=diffusion_registry, settings=Settings())


def _loaders(checkpoint: str, lora: str, controlnet: str, vae: str) -> Graph:
    graph = Graph()
    graph.add_node("diffusion.load_checkpoint", {"checkpoint": checkpoint}, id="checkpoint")
    graph.add_node("diffusion.load_lora", {"lora": lora, "strength_model": 0.5}, id="lora")
    graph.connect("checkpoint", "model", "lora", "model")
    graph.connect("checkpoint", "clip", "lora", "clip")
    graph.add_node("diffusion.load_controlnet", {"control_net": controlnet}, id="controlnet")
    graph.add_node("diffusion.load_vae", {"vae_name": vae}, id="vae")
    return graph


def _timeline(events: list[Any], node_id: str) -> list[Any]:
    """The node's events in order: "started", (done, total) for progress, "finished"."""
    timeline = []
    for event in events:
        if getattr(event, "node_id", None) != node_id:
            continue
        name = type(event).__name__
        if name == "NodeProgress":
            timeline.append((event.done, event.total))
        elif name in ("NodeStarted", "NodeFinished"):
            timeline.append(name.removeprefix("Node").lower())
    return timeline


@pytest.mark.parametrize(("checkpoint", "parts"), [
    ("tiny-sd", 4),                 # model index, UNet, VAE, one text encoder
    ("tiny-sd.safetensors", 4),     # weights file, UNet, VAE, one text encoder
    ("tiny-sdxl.safetensors", 5),   # … and SDXL's second text encoder
])
def test_loaders_report_their_parts_in_order(checkpoint, parts, session, tiny_models):
    controlnet = tiny_models.controlnet_file if "xl" not in checkpoint else \
        tiny_models.sdxl_controlnet_folder
    graph = _loaders(checkpoint, tiny_models.lora_file, controlnet, tiny_models.vae_folder)
    if "xl" in checkpoint:
        graph.remove_node("lora")  # the tiny LoRA is for the SD model
    events: list[Any] = []
    outputs = [node.id for node in graph]
    session.run(graph, outputs=outputs, on_event=events.append)

    steps = [(done, parts) for done in range(1, parts + 1)]
    assert _timeline(events, "checkpoint") == ["started", *steps, "finished"]
    if "xl" not in checkpoint:
        # file read, UNet, one text encoder; single files: read, then build
        assert _timeline(events, "lora") == ["started", (1, 3), (2, 3), (3, 3), "finished"]
        assert _timeline(events, "controlnet") == ["started", (1, 2), (2, 2), "finished"]
    else:
        # a diffusers folder loads in one go: nothing in between to report
        assert _timeline(events, "controlnet") == ["started", "finished"]
    assert _timeline(events, "vae") == ["started", "finished"]


def test_a_checkpoint_load_can_be_cancelled_between_parts(session, tiny_models):
    graph = _loaders(tiny_models.sd_folder, tiny_models.lora_file,
                     tiny_models.controlnet_folder, tiny_models.vae_folder)
    token = CancelToken()
    events: list[Any] = []

    def cancel_after_the_unet(event: Any) -> None:
        events.append(event)
        if type(event).__name__ == "NodeProgress" and event.node_id == "checkpoint" \
                and event.done == 2:
            token.cancel()

    result = session.run(graph, outputs=["checkpoint"], on_event=cancel_after_the_unet,
                         cancel=token, check=False)
    assert "checkpoint" not in result.executed
    assert _timeline(events, "checkpoint") == ["started", (1, 4), (2, 4)]


def test_a_lora_cancelled_half_way_leaves_the_model_as_it_was(session, tiny_models):
    graph = _loaders(tiny_models.sd_folder, tiny_models.lora_file,
                     tiny_models.controlnet_folder, tiny_models.vae_folder)
    token = CancelToken()

    def cancel_once_in_the_unet(event: Any) -> None:
        if type(event).__name__ == "NodeProgress" and event.node_id == "lora" \
                and event.done == 2:
            token.cancel()

    result = session.run(graph, outputs=["lora"], on_event=cancel_once_in_the_unet,
                         cancel=token, check=False)
    assert result.executed == ["checkpoint"]
    unet = session.run(graph, outputs=["checkpoint"]).outputs["checkpoint"]["model"].denoiser
    assert not getattr(unet, "peft_config", {})  # the half-added LoRA was taken out again
