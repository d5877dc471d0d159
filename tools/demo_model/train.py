"""Train the demo model on the CPU, stage by stage.

    python -m tools.demo_model.train --stage vae --steps 3000 --lr 2e-3
    python -m tools.demo_model.train --stage latents --count 40000
    python -m tools.demo_model.train --stage unet --steps 6500 --batch 64 --lr 1e-3 \
        --ema 0.998 --high-noise-fraction 0.25
    python -m tools.demo_model.train --stage unet --state-dir train_state/probe \
        --grow-from train_state/unet.pt --steps 3100 --batch 64 --lr 3e-4 --ema 0.995 \
        --high-noise-fraction 0.15 --shape-focus 0.4 --word-probe 0.1
    python -m tools.demo_model.train --stage unet --state-dir train_state/shapes \
        --grow-from train_state/probe/unet.pt --steps 4000 --batch 64 --lr 3e-4 --ema 0.995 \
        --high-noise-fraction 0.4 --shape-focus 0.4 --word-probe 0.1
    python -m tools.demo_model.train --stage controlnet --steps 3000 --batch 32 --lr 5e-4 \
        --ema 0.995 --high-noise-fraction 0.25            # on the 6,500-step UNet, then:
    python -m tools.demo_model.train --stage controlnet --state-dir train_state/shapes \
        --resume --steps 4000 --batch 32 --lr 5e-4 --ema 0.995 --high-noise-fraction 0.25
    python -m tools.demo_model.train --stage export --state-dir train_state/shapes
    python -m tools.demo_model.train --stage import   # the shipped folders back into state
    python -m tools.demo_model.train --stage controlnet --resume --free-layout 0.75 \
        --steps 2000 --batch 16 --lr 2e-4 --ema 0.99 --high-noise-fraction 0.4
        # issue 19: outlines anywhere, in five styles, on the shipped UNet and ControlNet

(A new --state-dir holds a phase's own checkpoint: link `latents/` and `vae.pt` into it, and
`controlnet.pt` before resuming the ControlNet there; docs/DEMO_MODEL.md has the details.)
Each stage keeps its checkpoint in --state-dir (default train_state/), saves it every few
minutes and at the end, and continues from it with --resume. Batches and noise are drawn from
streams keyed by (--seed, step), so a resumed run matches an uninterrupted one. Nothing in the
app or the tests imports this module: shipping a model never trains one.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import re
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nodestudio.demo import world
from tools.demo_model import data, models
from tools.demo_model.tokenizer import make_tokenizer

DEFAULT_STATE_DIR = Path("train_state")
# The shapes --shape-focus draws by default, with their weights (--focus-shapes overrides).
DEFAULT_FOCUS_SHAPES = "circle:1,square:1"


def parse_focus_shapes(text: str) -> dict[int, float]:
    """"square:2,circle:1" → {index in world.SHAPES (as the latent cache stores it): weight}."""
    weights: dict[int, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, weight = item.partition(":")
        if name not in world.SHAPES:
            raise SystemExit(f"--focus-shapes: unknown shape {name!r} (one of {world.SHAPES})")
        weights[world.SHAPES.index(name)] = float(weight or 1)
    if not weights or min(weights.values()) <= 0:
        raise SystemExit("--focus-shapes needs at least one shape, each with a positive weight")
    return weights


class Schedule:
    """Linear warm-up, then cosine decay to `floor` × the peak learning rate."""

    def __init__(self, peak: float, total_steps: int, warmup: int, floor: float = 0.1) -> None:
        self.peak, self.total, self.warmup, self.floor = peak, total_steps, warmup, floor

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return self.peak * (step + 1) / self.warmup
        progress = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        return self.peak * (self.floor + (1 - self.floor) * cosine)


class ExponentialAverage:
    """EMA of a module's parameters; sampling from the average gives cleaner images than the
    last noisy optimizer step."""

    def __init__(self, module: torch.nn.Module, decay: float) -> None:
        self.average = copy.deepcopy(module).eval().requires_grad_(False)
        self.decay = decay

    @torch.no_grad()
    def update(self, module: torch.nn.Module, step: int) -> None:
        # Short memory at first, so the average is not dominated by the random init.
        decay = min(self.decay, (1 + step) / (10 + step))
        averaged = list(self.average.parameters())
        current = [parameter.detach() for parameter in module.parameters()]
        torch._foreach_lerp_(averaged, current, 1 - decay)


class Log:
    """Prints mean loss and speed every `every` steps, flushed for `tail -f`."""

    def __init__(self, stage: str, every: int, start_step: int) -> None:
        self.stage, self.every = stage, every
        self.losses: list[float] = []
        self.window_start = time.perf_counter()
        self.window_step = start_step
        self.started = time.perf_counter()

    def add(self, step: int, loss: float, lr: float) -> None:
        self.losses.append(loss)
        if (step + 1) % self.every == 0:
            now = time.perf_counter()
            speed = (step + 1 - self.window_step) / (now - self.window_start)
            print(
                f"[{self.stage}] step {step + 1} loss {np.mean(self.losses):.5f} lr {lr:.2e} "
                f"{speed:.2f} steps/s elapsed {(now - self.started) / 60:.1f} min",
                flush=True,
            )
            self.losses.clear()
            self.window_start, self.window_step = now, step + 1


class Checkpoints:
    """One resumable checkpoint file per stage, rewritten atomically.

    SIGTERM (a plain `kill`) saves at the end of the current step and exits, so a run can be
    stopped and resumed (say with another --steps) without losing work.
    """

    def __init__(self, state_dir: Path, stage: str, every_minutes: float) -> None:
        self.path = state_dir / f"{stage}.pt"
        self.every_seconds = every_minutes * 60
        self.last_save = time.perf_counter()
        self.stop_requested = False
        signal.signal(signal.SIGTERM, self._request_stop)

    def _request_stop(self, signum: int, frame: object) -> None:
        self.stop_requested = True

    def load(self) -> dict[str, Any]:
        return torch.load(self.path, map_location="cpu", weights_only=False)

    def save(self, step: int, args: argparse.Namespace,
             make_state: Callable[[], dict[str, Any]]) -> None:
        """Every few minutes and at the run's last step: `make_state()` plus the step and
        whether the stage's schedule is complete."""
        due = time.perf_counter() - self.last_save >= self.every_seconds
        if not (due or self.stop_requested or step == last_step(args)):
            return
        state = make_state() | {"step": step, "finished": step == args.steps}
        partial = self.path.with_suffix(".partial")
        torch.save(state, partial)
        partial.replace(self.path)
        self.last_save = time.perf_counter()
        print(f"saved {self.path} at step {state['step']}", flush=True)
        if self.stop_requested:
            sys.exit(f"stopped on request after step {step}; continue with --resume")


def load_stage(state_dir: Path, stage: str) -> dict[str, Any]:
    path = state_dir / f"{stage}.pt"
    if not path.exists():
        sys.exit(f"{path} is missing: run --stage {stage} first")
    state = torch.load(path, map_location="cpu", weights_only=False)
    if not state.get("finished"):
        print(f"warning: {path} is from an unfinished run (step {state['step']})", flush=True)
    return state


def last_step(args: argparse.Namespace) -> int:
    """Where this run stops: the end of the schedule, or earlier with --stop-after."""
    return args.steps if args.stop_after is None else min(args.steps, args.stop_after)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def optimizer_step(
    loss: torch.Tensor, optimizer: torch.optim.Optimizer, parameters: list[torch.nn.Parameter]
) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(parameters, 1.0)
    optimizer.step()


# --- VAE -----------------------------------------------------------------------------------


def vae_loss(
    vae: torch.nn.Module, images: torch.Tensor, coverage: torch.Tensor, kl_weight: float
) -> torch.Tensor:
    posterior = vae.encode(images).latent_dist
    decoded = vae.decode(posterior.sample()).sample
    # Shapes are a small part of each image; weighting their pixels up keeps the VAE from
    # settling on backgrounds first.
    weight = 1.0 + 3.0 * coverage[:, None]
    reconstruction = ((decoded - images).abs() * weight).mean()
    # Matching image gradients keeps the flat shapes' edges crisp instead of blurred.
    edge = (decoded.diff(dim=-1) - images.diff(dim=-1)).abs().mean() + (
        decoded.diff(dim=-2) - images.diff(dim=-2)
    ).abs().mean()
    return reconstruction + 0.5 * edge + kl_weight * posterior.kl().mean()


def train_vae(args: argparse.Namespace) -> None:
    sizes = sizes_from_args(args)
    torch.manual_seed(args.seed)
    vae = models.make_vae(sizes)
    # Start with a nearly deterministic posterior (std e^-4): with the default std of 1 the
    # sampled latents are mostly noise and the decoder learns nothing for hundreds of steps.
    # The KL term is then free to widen it where the decoder tolerates it.
    with torch.no_grad():
        vae.encoder.conv_out.bias[models.LATENT_CHANNELS:] = -8.0
    optimizer = torch.optim.AdamW(vae.parameters(), lr=args.lr, weight_decay=0.0)
    checkpoints = Checkpoints(args.state_dir, "vae", args.save_minutes)
    start = 0
    if args.resume and checkpoints.path.exists():
        state = checkpoints.load()
        vae.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = state["step"]
    print(f"VAE {models.parameter_count(vae):,} parameters, from step {start}", flush=True)
    schedule = Schedule(args.lr, args.steps, warmup=100)
    log = Log("vae", args.log_every, start)
    vae.train()
    for step in range(start, last_step(args)):
        images, coverage = data.render_crowded_batch(
            data.step_rng(args.seed, step, "vae"), args.batch)
        torch.manual_seed(args.seed * 1_000_003 + step)
        lr = schedule(step)
        set_lr(optimizer, lr)
        loss = vae_loss(vae, data.images_to_tensor(images), torch.from_numpy(coverage),
                        args.kl_weight)
        optimizer_step(loss, optimizer, list(vae.parameters()))
        log.add(step, loss.item(), lr)
        checkpoints.save(step + 1, args, lambda: {
            "sizes": sizes, "model": vae.state_dict(), "optimizer": optimizer.state_dict()})


# --- latent cache ------------------------------------------------------------------------------


@torch.no_grad()
def encode_dataset(args: argparse.Namespace) -> None:
    state = load_stage(args.state_dir, "vae")
    vae = models.make_vae(state["sizes"])
    vae.load_state_dict(state["model"])
    vae.eval()
    rng = data.step_rng(args.seed, 0, "dataset")
    latents, edges, scenes = [], [], []
    started = time.perf_counter()
    for begin in range(0, args.count, 256):
        images, batch_scenes = data.render_batch(rng, min(256, args.count - begin))
        # The posterior mean: its spread is what the diffusion model must learn to produce.
        latents.append(vae.encode(data.images_to_tensor(images)).latent_dist.mean)
        edges.extend(data.world.canny_edges(image) for image in images)
        scenes.extend(batch_scenes)
        print(f"encoded {begin + len(images)} / {args.count}", flush=True)
    stacked = torch.cat(latents)
    scaling_factor = float(1.0 / stacked.std())
    print(
        f"latent mean {stacked.mean():.4f} std {stacked.std():.4f} -> scaling factor "
        f"{scaling_factor:.4f}; {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    cache = data.LatentCache(
        latents=(stacked * scaling_factor).numpy().astype(np.float16),
        attributes=data.world.scenes_to_arrays(scenes),
        edges=np.stack(edges),
        scaling_factor=scaling_factor,
    )
    cache.save(args.state_dir / "latents")


# --- UNet + text encoder -----------------------------------------------------------------------


def noise_scheduler() -> Any:
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=models.TRAIN_TIMESTEPS,
        beta_schedule=models.BETA_SCHEDULE,
        prediction_type=models.PREDICTION_TYPE,
    )


class DiffusionTarget:
    """Noises clean latents and weights the v-prediction loss.

    Weight min(SNR + 1, γ) / (SNR + 1): the low-noise steps, which plain v-loss weighs most
    in image terms, are capped (as in min-SNR-γ), while the high-noise steps, where the
    layout is decided from the prompt alone, keep their full weight (plain min-SNR would
    weigh them near zero).

    A `high_noise_fraction` of the batch draws its timestep from the top of the schedule
    (t >= HIGH_NOISE_FROM). Below it, a 16×16 latent blob is already visible through the
    noise, so uniform timesteps teach the model to *follow the noise* for placement; only
    the near-pure-noise steps teach it to place the object where the prompt says.
    """

    HIGH_NOISE_FROM = 900

    def __init__(self, gamma: float = 5.0, high_noise_fraction: float = 0.0) -> None:
        self.scheduler = noise_scheduler()
        alphas = self.scheduler.alphas_cumprod
        self.snr = alphas / (1 - alphas)
        self.gamma = gamma
        self.high_noise_fraction = high_noise_fraction

    def sample(
        self, latents: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        batch = latents.shape[0]
        noise = torch.randn(latents.shape, generator=generator)
        timesteps = torch.randint(0, models.TRAIN_TIMESTEPS, (batch,), generator=generator)
        if self.high_noise_fraction > 0:
            high = torch.randint(self.HIGH_NOISE_FROM, models.TRAIN_TIMESTEPS, (batch,),
                                 generator=generator)
            pick = torch.rand(batch, generator=generator) < self.high_noise_fraction
            timesteps = torch.where(pick, high, timesteps)
        noisy = self.scheduler.add_noise(latents, noise, timesteps)
        target = self.scheduler.get_velocity(latents, noise, timesteps)
        snr = self.snr[timesteps]
        weight = torch.clamp(snr + 1, max=self.gamma) / (snr + 1)
        return noisy, timesteps, target, weight

    @staticmethod
    def loss(prediction: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        per_sample = F.mse_loss(prediction, target, reduction="none").mean(dim=(1, 2, 3))
        return (per_sample * weight).mean()


def latent_batch(
    cache: data.LatentCache, args: argparse.Namespace, step: int, empty_probability: float
) -> tuple[np.ndarray, torch.Tensor, list[str]]:
    rng = data.step_rng(args.seed, step, "batch")
    focused = round(args.batch * args.shape_focus)
    if focused:
        # Scenes of the focus shapes whose captions always name the shape: the distinctions
        # uniform batches left unlearnt (docs/DEMO_MODEL.md, "the shape phase"). Each shape's
        # share of the focused part follows its weight.
        chosen = set()
        for shape, count in focus_counts(parse_focus_shapes(args.focus_shapes), focused).items():
            pool = np.flatnonzero(cache.attributes["shape"] == shape)
            chosen.update(rng.sample(list(pool), count))
        rest = [i for i in rng.sample(range(len(cache)), args.batch) if i not in chosen]
        indices = np.sort(np.array(list(chosen) + rest[:args.batch - focused]))
    else:
        chosen = set()
        indices = np.sort(np.array(rng.sample(range(len(cache)), args.batch)))
    latents = torch.from_numpy(np.asarray(cache.latents[indices], dtype=np.float32))
    always = [("shape",) if int(i) in chosen else () for i in indices]
    captions = data.training_captions(cache.attributes_at(indices), rng, empty_probability,
                                      always)
    return indices, latents, captions


def focus_counts(weights: dict[int, float], focused: int) -> dict[int, int]:
    """Split `focused` batch places between the shapes by weight (largest remainders)."""
    total = sum(weights.values())
    exact = {shape: focused * weight / total for shape, weight in weights.items()}
    counts = {shape: int(value) for shape, value in exact.items()}
    by_remainder = sorted(exact, key=lambda shape: exact[shape] - counts[shape], reverse=True)
    for shape in by_remainder[:focused - sum(counts.values())]:
        counts[shape] += 1
    return counts


def probe_loss(probe: torch.nn.Module, encoded: torch.Tensor, captions: list[str]) -> torch.Tensor:
    """Cross-entropy of the shape each caption names, read from its mean text state (what the
    UNet's cross-attention sees at large); captions naming no shape do not count."""
    named = [world.parse_caption(text).get("shape") if text else None for text in captions]
    labels = torch.tensor([world.SHAPES.index(shape) if shape else -100 for shape in named],
                          device=encoded.device)
    if not (labels >= 0).any():
        return encoded.sum() * 0
    return F.cross_entropy(probe(encoded.mean(dim=1)), labels, ignore_index=-100)


def grow(unet: torch.nn.Module, text_encoder: torch.nn.Module, source: Path) -> None:
    """Start from a trained UNet checkpoint's averaged weights in a larger UNet.

    Blocks the larger UNet adds (attention layers) start as no-ops: their output projections
    are zeroed, so the grown model first draws exactly what the source drew."""
    state = torch.load(source, map_location="cpu", weights_only=False)
    text_encoder.load_state_dict(state["ema_text_encoder"])
    missing, unexpected = unet.load_state_dict(state["ema_unet"], strict=False)
    if unexpected or not all(".attentions." in key for key in missing):
        raise ValueError(f"{source} does not fit this UNet: missing {missing[:4]}, "
                         f"unexpected {unexpected[:4]}")
    # "down_blocks.0.attentions.0.transformer_blocks.0…" → "down_blocks.0.attentions.0"
    added = {re.match(r"(.*?\.attentions\.\d+)\.", key).group(1) for key in missing}  # type: ignore[union-attr]
    with torch.no_grad():
        for prefix in added:
            projection = unet.get_submodule(prefix + ".proj_out")
            projection.weight.zero_()
            projection.bias.zero_()
    print(f"grew from {source}: {len(added)} attention blocks added", flush=True)


def cpu_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Checkpoints hold CPU tensors, so a run resumes (and exports) on any machine."""
    return {name: value.detach().cpu() for name, value in state.items()}


def resume_unet(state: dict[str, Any], unet: torch.nn.Module, text_encoder: torch.nn.Module,
                probe: torch.nn.Module | None, optimizer: torch.optim.Optimizer,
                ema_unet: ExponentialAverage, ema_text: ExponentialAverage) -> int:
    """Load a UNet-stage checkpoint into the training objects; returns its step."""
    unet.load_state_dict(state["unet"])
    text_encoder.load_state_dict(state["text_encoder"])
    ema_unet.average.load_state_dict(state["ema_unet"])
    ema_text.average.load_state_dict(state["ema_text_encoder"])
    optimizer.load_state_dict(state["optimizer"])
    if probe is not None:
        probe.load_state_dict(state["word_probe"])
    return int(state["step"])


def train_unet(args: argparse.Namespace) -> None:
    sizes = sizes_from_args(args)
    cache = data.LatentCache.load(args.state_dir / "latents")
    tokenizer = make_tokenizer()
    tokens = data.CaptionTokens(tokenizer)
    torch.manual_seed(args.seed)
    text_encoder = models.make_text_encoder(tokenizer, sizes)
    unet = models.make_unet(sizes)
    if args.grow_from is not None:
        grow(unet, text_encoder, args.grow_from)
    # --word-probe: a linear read-out of the shape word from the text states, trained with
    # them and thrown away on export, so the encoder cannot merge two shape words.
    probe = torch.nn.Linear(sizes.text_hidden, len(world.SHAPES)) if args.word_probe else None
    # --device cuda: batches and noise are still drawn on the CPU from the same keyed streams,
    # so a run moved between machines sees the same data (as the ControlNet stage does).
    device = torch.device(args.device)
    trained = [module.to(device) for module in (text_encoder, unet, probe) if module is not None]
    parameters = [parameter for module in trained for parameter in module.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=args.lr, weight_decay=0.01)
    ema_unet = ExponentialAverage(unet, args.ema)
    ema_text = ExponentialAverage(text_encoder, args.ema)
    checkpoints = Checkpoints(args.state_dir, "unet", args.save_minutes)
    start = 0
    if args.resume and checkpoints.path.exists():
        # On the CPU; load_state_dict copies onto the device.
        start = resume_unet(checkpoints.load(), unet, text_encoder, probe, optimizer,
                            ema_unet, ema_text)
    print(
        f"UNet {models.parameter_count(unet):,} + text encoder "
        f"{models.parameter_count(text_encoder):,} parameters, {len(cache)} latents, "
        f"from step {start} on {device}",
        flush=True,
    )
    target = DiffusionTarget(high_noise_fraction=args.high_noise_fraction)
    schedule = Schedule(args.lr, args.steps, warmup=200)
    log = Log("unet", args.log_every, start)
    unet.train()
    text_encoder.train()
    for step in range(start, last_step(args)):
        _, latents, captions = latent_batch(cache, args, step, empty_probability=0.1)
        generator = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        noisy, timesteps, velocity, weight = (
            tensor.to(device) for tensor in target.sample(latents, generator))
        lr = schedule(step)
        set_lr(optimizer, lr)
        encoded = text_encoder(tokens(captions).to(device))[0]
        prediction = unet(noisy, timesteps, encoded).sample
        loss = target.loss(prediction, velocity, weight)
        if probe is not None:
            loss = loss + args.word_probe * probe_loss(probe, encoded, captions)
        optimizer_step(loss, optimizer, parameters)
        ema_unet.update(unet, step)
        ema_text.update(text_encoder, step)
        log.add(step, loss.item(), lr)
        checkpoints.save(step + 1, args, lambda: {
            "sizes": sizes,
            "unet": cpu_state(unet.state_dict()),
            "text_encoder": cpu_state(text_encoder.state_dict()),
            "ema_unet": cpu_state(ema_unet.average.state_dict()),
            "ema_text_encoder": cpu_state(ema_text.average.state_dict()),
            "optimizer": optimizer.state_dict(),
        } | ({"word_probe": cpu_state(probe.state_dict())} if probe is not None else {}))


# --- ControlNet ---------------------------------------------------------------------------------


def train_controlnet(args: argparse.Namespace) -> None:
    """The ControlNet stage lives in tools.demo_model.control_training (it imports this
    module's training helpers, so it is imported only when the stage runs)."""
    from tools.demo_model.control_training import train_controlnet as run

    run(args)


# --- command line -----------------------------------------------------------------------------


def sizes_from_args(args: argparse.Namespace) -> models.Sizes:
    overrides: dict[str, Any] = {}
    if args.sizes:
        overrides = json.loads(args.sizes)
        overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
    return models.Sizes(**overrides)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.demo_model.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", required=True,
                        choices=["vae", "latents", "unet", "controlnet", "export", "import"])
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--ema", type=float, default=0.999)
    parser.add_argument("--kl-weight", type=float, default=1e-6)
    parser.add_argument("--count", type=int, default=40000, help="latents stage: dataset size")
    parser.add_argument("--sizes", default="", help='JSON overrides of models.Sizes, e.g. '
                        '\'{"vae_channels": [16, 32, 32]}\'')
    parser.add_argument("--high-noise-fraction", type=float, default=0.0,
                        help="unet/controlnet: share of timesteps drawn from t >= 900")
    parser.add_argument("--shape-focus", type=float, default=0.0,
                        help="unet: share of each batch drawn from --focus-shapes scenes "
                             "whose captions always name the shape")
    parser.add_argument("--focus-shapes", default=DEFAULT_FOCUS_SHAPES,
                        help="unet: the shapes --shape-focus draws, with weights, e.g. "
                             "'square:2,circle:1' (default: circle and square alike)")
    parser.add_argument("--word-probe", type=float, default=0.0,
                        help="unet: weight of a loss that reads the shape word back from the "
                             "text states (keeps circle and square apart)")
    parser.add_argument("--free-layout", type=float, default=0.0,
                        help="controlnet: render batches on the fly, this share of them at "
                             "continuous places and sizes, with outline styles as augmentation "
                             "and captions that omit or contradict the position")
    parser.add_argument("--device", default="cpu",
                        help="unet/controlnet: where to train (cuda on a GPU machine)")
    parser.add_argument("--grow-from", type=Path, default=None,
                        help="unet: start from this unet checkpoint's averaged weights (a "
                             "larger --sizes adds no-op attention blocks)")
    parser.add_argument("--stop-after", type=int, default=None,
                        help="save and stop after this step (to end a phase of a run)")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--save-minutes", type=float, default=3.0)
    parser.add_argument("--log-every", type=int, default=25)
    parser.add_argument("--output", type=Path, default=None,
                        help="export/import stages: the models folder written or read "
                             "(default resources/models)")
    parser.add_argument("--scheduler", default="ddim", help="export stage: the shipped scheduler")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    stages = {
        "vae": train_vae,
        "latents": encode_dataset,
        "unet": train_unet,
        "controlnet": train_controlnet,
    }
    if args.stage == "export":
        from tools.demo_model.export import export_from_state

        export_from_state(args.state_dir, args.output, args.scheduler)
        return
    if args.stage == "import":
        from tools.demo_model.export import import_to_state

        for written in import_to_state(args.output, args.state_dir):
            print(f"wrote {written}", flush=True)
        return
    started = time.perf_counter()
    stages[args.stage](args)
    print(f"stage {args.stage} done in {(time.perf_counter() - started) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
