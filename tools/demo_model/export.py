"""Write the trained demo model as diffusers folders that the standard pipelines load offline.

    resources/models/nodestudio-shapes/        StableDiffusionPipeline (text encoder, tokenizer,
                                               unet, vae, scheduler; no safety checker)
    resources/models/nodestudio-shapes-canny/  ControlNetModel

The UNet and ControlNet weights are stored as float16 to keep the repository small; diffusers
loads them into float32 unless asked otherwise. The text encoder and VAE are tiny and stay
float32 (transformers may keep a stored dtype, and the pipeline casts the prompt embeddings to
the text encoder's dtype).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from tools.demo_model import models
from tools.demo_model.tokenizer import make_tokenizer, save_tokenizer

CHECKPOINT_NAME = "nodestudio-shapes"
CONTROLNET_NAME = "nodestudio-shapes-canny"

SCHEDULERS = ("ddim", "euler", "euler_a", "dpmpp_2m", "unipc")


def make_scheduler(name: str) -> Any:
    """A sampler for the training noise schedule, starting at the last (pure-noise) step.

    "trailing" spacing makes the first inference step t=999, the zero-signal step the model
    learned to draw the layout from the prompt alone.
    """
    import diffusers

    common = {
        "num_train_timesteps": models.TRAIN_TIMESTEPS,
        "beta_schedule": models.BETA_SCHEDULE,
        "prediction_type": models.PREDICTION_TYPE,
        "timestep_spacing": "trailing",
    }
    if name == "ddim":
        return diffusers.DDIMScheduler(**common, clip_sample=False, set_alpha_to_one=True)
    if name == "euler":
        return diffusers.EulerDiscreteScheduler(**common)
    if name == "euler_a":
        return diffusers.EulerAncestralDiscreteScheduler(**common)
    if name == "dpmpp_2m":
        return diffusers.DPMSolverMultistepScheduler(
            **common, algorithm_type="dpmsolver++", solver_order=2, final_sigmas_type="zero"
        )
    if name == "unipc":
        return diffusers.UniPCMultistepScheduler(**common, final_sigmas_type="zero")
    raise ValueError(f"unknown scheduler {name!r}; choose from {', '.join(SCHEDULERS)}")


def _load(state_dir: Path, stage: str) -> dict[str, Any]:
    path = state_dir / f"{stage}.pt"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: train the {stage} stage first")
    return torch.load(path, map_location="cpu", weights_only=False)


def export_checkpoint(state_dir: Path, folder: Path, scheduler: str) -> None:
    from diffusers import StableDiffusionPipeline

    vae_state = _load(state_dir, "vae")
    unet_state = _load(state_dir, "unet")
    meta = json.loads((state_dir / "latents" / "meta.json").read_text())
    sizes = unet_state["sizes"]
    tokenizer = make_tokenizer()
    text_encoder = models.make_text_encoder(tokenizer, sizes)
    text_encoder.load_state_dict(unet_state["ema_text_encoder"])
    unet = models.make_unet(sizes)
    unet.load_state_dict(unet_state["ema_unet"])
    vae = models.make_vae(vae_state["sizes"])
    vae.load_state_dict(vae_state["model"])
    # The pipelines multiply encoded latents by this (and divide before decoding): unit variance.
    vae.register_to_config(scaling_factor=float(meta["scaling_factor"]))
    pipeline = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet.to(torch.float16),
        scheduler=make_scheduler(scheduler),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(str(folder), safe_serialization=True)
    # Replace the tokenizer files with ours: tokenizer.json plus CLIP's vocab.json/merges.txt.
    save_tokenizer(folder / "tokenizer")


def export_controlnet(state_dir: Path, folder: Path) -> None:
    state = _load(state_dir, "controlnet")
    unet = models.make_unet(state["sizes"])
    controlnet = models.make_controlnet(unet, state["sizes"])
    controlnet.load_state_dict(state["ema_controlnet"])
    controlnet.to(torch.float16).save_pretrained(str(folder), safe_serialization=True)


def export_from_state(state_dir: Path, output: Path | None, scheduler: str) -> None:
    if output is None:
        from nodestudio.paths import demo_models_dir

        output = demo_models_dir()
    export_checkpoint(state_dir, output / CHECKPOINT_NAME, scheduler)
    print(f"wrote {output / CHECKPOINT_NAME}", flush=True)
    if (state_dir / "controlnet.pt").exists():
        export_controlnet(state_dir, output / CONTROLNET_NAME)
        print(f"wrote {output / CONTROLNET_NAME}", flush=True)


def import_to_state(models_dir: Path | None, state_dir: Path) -> list[Path]:
    """The reverse of export: training state rebuilt from the shipped folders, so a later run
    continues from the shipped model instead of from scratch.

    Writes vae.pt (finished: the latents stage can run at once), unet_shipped.pt (the averaged
    UNet and text encoder, to pass to `--stage unet --grow-from`, which also grows a larger
    UNet from it) and controlnet.pt (weights and average, without optimizer state: continue
    it with `--stage controlnet --resume`, which starts a fresh optimizer). Only weights
    travel: the shipped folders hold no optimizer state.
    """
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from transformers import CLIPTextModel

    if models_dir is None:
        from nodestudio.paths import demo_models_dir

        models_dir = demo_models_dir()
    checkpoint, sizes = models_dir / CHECKPOINT_NAME, models.Sizes()
    state_dir.mkdir(parents=True, exist_ok=True)

    def weights(module: Any) -> dict[str, torch.Tensor]:
        return {name: value.float() for name, value in module.state_dict().items()}

    def check(built: torch.nn.Module, state: dict[str, torch.Tensor], part: str) -> None:
        try:
            built.load_state_dict(state)
        except RuntimeError as error:
            raise ValueError(f"{part} does not have models.Sizes()' shape; pass the sizes it "
                             f"was trained with: {error}") from error

    written = []
    vae = weights(AutoencoderKL.from_pretrained(str(checkpoint / "vae")))
    check(models.make_vae(sizes), vae, "the VAE")
    written.append(state_dir / "vae.pt")
    torch.save({"sizes": sizes, "model": vae, "step": 0, "finished": True}, written[-1])
    unet = weights(UNet2DConditionModel.from_pretrained(str(checkpoint / "unet")))
    text = weights(CLIPTextModel.from_pretrained(str(checkpoint / "text_encoder")))
    check(models.make_unet(sizes), unet, "the UNet")
    check(models.make_text_encoder(make_tokenizer(), sizes), text, "the text encoder")
    written.append(state_dir / "unet_shipped.pt")
    torch.save({"sizes": sizes, "ema_unet": unet, "ema_text_encoder": text, "step": 0,
                "finished": True}, written[-1])
    if (models_dir / CONTROLNET_NAME).is_dir():
        control = weights(ControlNetModel.from_pretrained(str(models_dir / CONTROLNET_NAME)))
        written.append(state_dir / "controlnet.pt")
        torch.save({"sizes": sizes, "controlnet": control, "ema_controlnet": control,
                    "step": 0, "finished": True}, written[-1])
    return written

