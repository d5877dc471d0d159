"""The ControlNet stage: teach the ControlNet to carry an outline's place, size and shape.

    python -m tools.demo_model.train --stage import
    python -m tools.demo_model.train --stage controlnet --resume --free-layout 0.75 \
        --steps 2000 --batch 16 --lr 2e-4 --ema 0.99 --high-noise-fraction 0.4

With ``--free-layout F`` (issue 19) each batch is rendered on the fly: a share F of the scenes
sits at a continuous place and size anywhere in the frame (tools.demo_model.outlines), the
rest on the world's nine-place grid; every control picture is drawn in one of the outline
styles people use (canny edges, thin, thick, wobbly, with a gap), and the captions often omit
or contradict the position and size words, so the edges alone have to carry the place. The
scenes are encoded by the frozen VAE each step (it is tiny), so no latent cache is needed.
Without it (F = 0) the stage trains on the cached latents and their canny edges, as the
shipped ControlNet first was. The base UNet is train_state/unet.pt, or, after
``--stage import``, the shipped one (unet_shipped.pt).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nodestudio.demo import world
from tools.demo_model import data, models, outlines
from tools.demo_model.tokenizer import make_tokenizer

# How often each style is drawn in training; canny (the Canny Edges node) stays the most common.
STYLE_WEIGHTS = {"canny": 0.3, "thin": 0.2, "thick": 0.15, "wobbly": 0.2, "gap": 0.15}
# A drawn outline is sometimes passed through Canny Edges as well, as the example workflow does.
CANNY_OF_DRAWING = 0.15
EMPTY_CAPTION = 0.25


def base_unet_state(state_dir: Path) -> dict[str, Any]:
    """The frozen UNet the ControlNet steers: unet.pt if trained here, else the imported one."""
    from tools.demo_model.train import load_stage

    if not (state_dir / "unet.pt").exists() and (state_dir / "unet_shipped.pt").exists():
        return torch.load(state_dir / "unet_shipped.pt", map_location="cpu", weights_only=False)
    return load_stage(state_dir, "unet")


def control_caption(attributes: dict[str, str], rng: random.Random) -> str:
    """A caption whose position and size words are mostly missing or wrong: half omit the
    position, a quarter name another one; size is omitted half the time and wrong a fifth."""
    if rng.random() < EMPTY_CAPTION:
        return ""
    told = dict(attributes)
    roll = rng.random()
    if roll < 0.5:
        del told["position"]
    elif roll < 0.75:
        told["position"] = rng.choice([p for p in world.POSITIONS if p != told["position"]])
    roll = rng.random()
    if roll < 0.5:
        del told["size"]
    elif roll < 0.7:
        told["size"] = "small" if told["size"] == "large" else "large"
    kept = tuple(name for name in ("position", "size") if name in told)
    return world.training_caption(told, rng, kept)


def draw_control(scene: world.Scene, rng: random.Random) -> np.ndarray:
    style = rng.choices(list(STYLE_WEIGHTS), weights=list(STYLE_WEIGHTS.values()))[0]
    edges = outlines.draw(scene, style, rng).edges
    if style != "canny" and rng.random() < CANNY_OF_DRAWING:
        edges = world.canny_edges(np.repeat(edges[..., None], 3, axis=-1))
    return edges


@torch.no_grad()
def free_batch(vae: Any, scaling_factor: float, args: argparse.Namespace, step: int
               ) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """(latents, control [N, 3, H, W], captions) for one step, keyed by (seed, step)."""
    rng = data.step_rng(args.seed, step, "free-control")
    scenes = [outlines.sample_free_scene(rng) if rng.random() < args.free_layout
              else world.sample_scene(rng) for _ in range(args.batch)]
    images = np.stack([world.render(scene) for scene in scenes])
    latents = vae.encode(data.images_to_tensor(images)).latent_dist.mean * scaling_factor
    control = data.edges_to_control(np.stack([draw_control(scene, rng) for scene in scenes]))
    captions = [control_caption(scene.attributes(), rng) for scene in scenes]
    return latents, control, captions


def _frozen_vae(state_dir: Path) -> tuple[Any, float]:
    state = torch.load(state_dir / "vae.pt", map_location="cpu", weights_only=False)
    vae = models.make_vae(state["sizes"])
    vae.load_state_dict(state["model"])
    meta = state_dir / "latents" / "meta.json"
    if meta.exists():
        scaling = float(json.loads(meta.read_text())["scaling_factor"])
    else:
        from nodestudio.paths import demo_models_dir

        config = demo_models_dir() / "nodestudio-shapes" / "vae" / "config.json"
        scaling = float(json.loads(config.read_text())["scaling_factor"])
    return vae.eval().requires_grad_(False), scaling


def _batches(args: argparse.Namespace) -> Any:
    """step -> (latents, control, captions), from the cache or rendered on the fly."""
    from tools.demo_model.train import latent_batch

    if args.free_layout > 0:
        vae, scaling = _frozen_vae(args.state_dir)
        return lambda step: free_batch(vae, scaling, args, step)
    cache = data.LatentCache.load(args.state_dir / "latents")

    def cached(step: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        # Many empty prompts: the edges alone must be enough to place and shape the object.
        indices, latents, captions = latent_batch(cache, args, step, empty_probability=0.3)
        return latents, data.edges_to_control(np.asarray(cache.edges[indices])), captions
    return cached


def _cpu(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Checkpoints hold CPU tensors, so a run resumes (and exports) on any machine."""
    return {name: value.detach().cpu() for name, value in state.items()}


def train_controlnet(args: argparse.Namespace) -> None:
    from tools.demo_model import train as t

    base = base_unet_state(args.state_dir)
    sizes = base["sizes"]
    tokens = data.CaptionTokens(make_tokenizer())
    text_encoder = models.make_text_encoder(tokens.tokenizer, sizes)
    text_encoder.load_state_dict(base["ema_text_encoder"])
    unet = models.make_unet(sizes)
    unet.load_state_dict(base["ema_unet"])
    for frozen in (text_encoder, unet):
        frozen.eval().requires_grad_(False)
    torch.manual_seed(args.seed)
    controlnet = models.make_controlnet(unet, sizes)
    # --device cuda: batches are still drawn (and noised) on the CPU from the same keyed
    # streams, so a run moved between machines sees the same data.
    device = torch.device(args.device)
    for module in (text_encoder, unet, controlnet):
        module.to(device)
    optimizer = torch.optim.AdamW(controlnet.parameters(), lr=args.lr, weight_decay=0.0)
    ema = t.ExponentialAverage(controlnet, args.ema)
    checkpoints = t.Checkpoints(args.state_dir, "controlnet", args.save_minutes)
    start = 0
    if args.resume and checkpoints.path.exists():
        state = checkpoints.load()  # on the CPU; load_state_dict copies onto the device
        controlnet.load_state_dict(state["controlnet"])
        ema.average.load_state_dict(state["ema_controlnet"])
        if "optimizer" in state:  # absent in state imported from the shipped folders
            optimizer.load_state_dict(state["optimizer"])
        start = state["step"]
    print(f"ControlNet {models.parameter_count(controlnet):,} parameters, from step {start}",
          flush=True)
    batches = _batches(args)
    target = t.DiffusionTarget(high_noise_fraction=args.high_noise_fraction)
    schedule = t.Schedule(args.lr, args.steps, warmup=100)
    log = t.Log("controlnet", args.log_every, start)
    controlnet.train()
    for step in range(start, t.last_step(args)):
        latents, control, captions = batches(step)
        generator = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        noisy, timesteps, velocity, weight = (
            tensor.to(device) for tensor in target.sample(latents, generator))
        control = control.to(device)
        lr = schedule(step)
        t.set_lr(optimizer, lr)
        with torch.no_grad():
            encoded = text_encoder(tokens(captions).to(device))[0]
        down, middle = controlnet(noisy, timesteps, encoder_hidden_states=encoded,
                                  controlnet_cond=control, return_dict=False)
        prediction = unet(noisy, timesteps, encoded, down_block_additional_residuals=down,
                          mid_block_additional_residual=middle).sample
        loss = target.loss(prediction, velocity, weight)
        t.optimizer_step(loss, optimizer, list(controlnet.parameters()))
        ema.update(controlnet, step)
        log.add(step, loss.item(), lr)
        checkpoints.save(step + 1, args, lambda: {
            "sizes": sizes, "controlnet": _cpu(controlnet.state_dict()),
            "ema_controlnet": _cpu(ema.average.state_dict()), "optimizer": optimizer.state_dict(),
        })
