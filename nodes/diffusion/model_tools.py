"""Model tools: merging models and text encoders, saving checkpoints, sampling overrides.

They mean what ComfyUI's nodes of the same names mean (ModelMergeSimple, ModelMergeAdd,
ModelMergeSubtract, ModelMergeBlocks, CLIPMergeSimple, CheckpointSave, ModelSamplingDiscrete,
RescaleCFG); nodestudio.runtime.merging and .checkpoint_save say how. No torch here: the pack
must import cheaply.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from nodestudio.api import (
    CLIP,
    MODEL,
    VAE,
    Boolean,
    Choice,
    Float,
    Input,
    NodeContext,
    NodeError,
    Output,
    String,
    node,
)

from .._saving import COUNTER_DIGITS, cannot_save, metadata_chunks, resolve_output_prefix

MERGING = "advanced/model_merging"
MODEL_SETTINGS = "advanced/model"

_MERGE_MEMORY = (
    " The result is a new model (the inputs stay as they are, for every other branch): it "
    "needs memory for one more copy of model1, where model1's weights are (the GPU when it "
    "runs there). Models with a LoRA applied are refused: merge the plain models, then apply "
    "the LoRA."
)


def _merge(model1: Any, model2: Any, strengths: Any, ctx: NodeContext) -> Any:
    from nodestudio.runtime.merging import merge_models

    return merge_models(model1, model2, strengths, progress=ctx.progress,
                        check_cancelled=ctx.check_cancelled)


@node(
    "diffusion.merge_models",
    display_name="Merge Models",
    category=MERGING,
    description=(
        "Blends two models of one family weight by weight: ratio 1 gives model1, 0 gives "
        "model2, 0.5 their average (ComfyUI's ModelMergeSimple: model1 × ratio + model2 × "
        "(1 − ratio)). Only the denoiser is merged; the result samples with model1's settings."
        + _MERGE_MEMORY
    ),
    inputs=[
        Input("model1", MODEL),
        Input("model2", MODEL),
        Float("ratio", 1.0, min=0.0, max=1.0, step=0.01,
              description="Share of model1 (the rest is model2)"),
    ],
    outputs=[Output("model", MODEL)],
)
def merge_models(model1: Any, model2: Any, ratio: float, ctx: NodeContext) -> Any:
    from nodestudio.runtime.merging import simple

    return _merge(model1, model2, simple(ratio), ctx)


@node(
    "diffusion.merge_models_add",
    display_name="Merge Models (Add)",
    category=MERGING,
    description=(
        "Adds model2's weights to model1's (ComfyUI's ModelMergeAdd), typically a difference "
        "made with Merge Models (Subtract): custom + (inpainting − base)." + _MERGE_MEMORY
    ),
    inputs=[Input("model1", MODEL), Input("model2", MODEL)],
    outputs=[Output("model", MODEL)],
)
def merge_models_add(model1: Any, model2: Any, ctx: NodeContext) -> Any:
    from nodestudio.runtime.merging import add

    return _merge(model1, model2, add(), ctx)


@node(
    "diffusion.merge_models_subtract",
    display_name="Merge Models (Subtract)",
    category=MERGING,
    description=(
        "The difference of two models, scaled: multiplier × (model1 − model2), as ComfyUI's "
        "ModelMergeSubtract computes it (the multiplier scales model1 too). Add it to another "
        "model with Merge Models (Add)." + _MERGE_MEMORY
    ),
    inputs=[
        Input("model1", MODEL),
        Input("model2", MODEL),
        Float("multiplier", 1.0, min=-10.0, max=10.0, step=0.01),
    ],
    outputs=[Output("model", MODEL)],
)
def merge_models_subtract(model1: Any, model2: Any, multiplier: float, ctx: NodeContext) -> Any:
    from nodestudio.runtime.merging import subtract

    return _merge(model1, model2, subtract(multiplier), ctx)


@node(
    "diffusion.merge_model_blocks",
    display_name="Merge Model Blocks",
    category=MERGING,
    description=(
        "Merge Models with one ratio per part of an SD UNet (ComfyUI's ModelMergeBlocks): "
        "input for the down blocks and the first convolution, middle for the middle block, out "
        "for the up blocks and the final norm and convolution; the time (and SDXL size) "
        "embeddings take the input ratio, as in ComfyUI. An SD3 or Flux model is merged at the "
        "input ratio throughout (ComfyUI's names for these parts are the UNet's)."
        + _MERGE_MEMORY
    ),
    inputs=[
        Input("model1", MODEL),
        Input("model2", MODEL),
        Float("input", 1.0, min=0.0, max=1.0, step=0.01,
              description="Share of model1 in the down (input) blocks"),
        Float("middle", 1.0, min=0.0, max=1.0, step=0.01,
              description="Share of model1 in the middle block"),
        Float("out", 1.0, min=0.0, max=1.0, step=0.01,
              description="Share of model1 in the up (output) blocks"),
    ],
    outputs=[Output("model", MODEL)],
)
def merge_model_blocks(model1: Any, model2: Any, input: float, middle: float, out: float,
                       ctx: NodeContext) -> Any:
    from nodestudio.runtime.merging import blocks

    return _merge(model1, model2, blocks(input, middle, out), ctx)


@node(
    "diffusion.merge_clip",
    display_name="Merge CLIP",
    category=MERGING,
    description=(
        "Blends the text encoders of two checkpoints of one family, encoder by encoder: ratio "
        "1 gives clip1, 0 gives clip2 (ComfyUI's CLIPMergeSimple). The result keeps clip1's "
        "tokenizers. It is a new CLIP (the inputs stay as they are) and needs memory for one "
        "more copy of clip1's encoders. A CLIP with a LoRA applied is refused: merge first, "
        "then apply the LoRA."
    ),
    inputs=[
        Input("clip1", CLIP),
        Input("clip2", CLIP),
        Float("ratio", 1.0, min=0.0, max=1.0, step=0.01,
              description="Share of clip1 (the rest is clip2)"),
    ],
    outputs=[Output("clip", CLIP)],
)
def merge_clip(clip1: Any, clip2: Any, ratio: float, ctx: NodeContext) -> Any:
    from nodestudio.runtime.merging import merge_text_encoders, simple

    return merge_text_encoders(clip1, clip2, simple(ratio), progress=ctx.progress,
                               check_cancelled=ctx.check_cancelled)


# -- saving ------------------------------------------------------------------------------------

_SUFFIX = ".safetensors"


def _reserve_checkpoint_path(folder: Path, stem: str) -> Path:
    """``<stem>_<counter>_.safetensors``, one past the highest counter in ``folder``, created
    empty so that two runs saving at once never pick the same name (as Save Image does)."""
    folder.mkdir(parents=True, exist_ok=True)
    pattern = re.compile(re.escape(stem) + r"_(\d+)_" + re.escape(_SUFFIX), re.IGNORECASE)
    counters = [int(match.group(1)) for entry in folder.iterdir()
                if (match := pattern.fullmatch(entry.name))]
    counter = max(counters, default=0) + 1
    while True:
        path = folder / f"{stem}_{counter:0{COUNTER_DIGITS}d}_{_SUFFIX}"
        try:
            path.open("xb").close()
        except FileExistsError:
            counter += 1
            continue
        return path


@node(
    "diffusion.save_checkpoint",
    display_name="Save Checkpoint",
    category=MERGING,
    description=(
        "Saves model, CLIP and VAE as one .safetensors checkpoint in the output folder "
        "(<prefix>_00001_.safetensors …, never overwriting), in the original Stable Diffusion "
        "layout that ComfyUI and A1111 read; Load Checkpoint reads it back exactly, sampling "
        "settings included. SD 1.x, SD 2.x and SDXL. Writing gathers the weights in system "
        "memory (about one more copy of the checkpoint). Models with a LoRA applied are "
        "refused."
    ),
    inputs=[
        Input("model", MODEL),
        Input("clip", CLIP),
        Input("vae", VAE),
        String("filename_prefix", "checkpoints/NodeStudio",
               description="Start of the file name; may include sub-folders of the output "
                           "folder"),
    ],
    outputs=[],
    output_node=True,
)
def save_checkpoint(model: Any, clip: Any, vae: Any, filename_prefix: str,
                    ctx: NodeContext) -> tuple[()]:
    from nodestudio.runtime.checkpoint_save import check_savable, write_checkpoint

    check_savable(model, clip, vae)  # before a file name is taken
    folder, stem = resolve_output_prefix(Path(ctx.output_dir), filename_prefix)
    try:
        path = _reserve_checkpoint_path(folder, stem)
    except OSError as error:
        raise cannot_save("the checkpoint", folder, error) from error
    try:
        write_checkpoint(model, clip, vae, path, metadata_chunks(ctx))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    ctx.logger.info("saved checkpoint %s", path)
    ctx.add_file(path)
    return ()


# -- sampling settings -------------------------------------------------------------------------

#: ModelSamplingDiscrete's sampling → scheduler config changes. "x0" is diffusers' "sample"
#: prediction. "lcm" is ComfyUI's LCM sampling: an ε model whose x0 goes through LCM's
#: boundary conditions (c_skip, c_out at timestep × 10, σ_data 0.5) on the 50-step grid of
#: the distillation; diffusers' LCMScheduler (the lcm sampler) is exactly that, configured here
#: to those values — other samplers sample such a model as a plain ε model.
_SAMPLING: dict[str, dict[str, Any]] = {
    "eps": {"prediction_type": "epsilon"},
    "v_prediction": {"prediction_type": "v_prediction"},
    "lcm": {"prediction_type": "epsilon", "original_inference_steps": 50,
            "timestep_scaling": 10.0},
    "x0": {"prediction_type": "sample"},
}


@node(
    "diffusion.model_sampling_discrete",
    display_name="Model Sampling Discrete",
    category=MODEL_SETTINGS,
    description=(
        "Says what an SD 1.x/2.x/SDXL model predicts, when its file does not say it right "
        "(ComfyUI's ModelSamplingDiscrete): eps (the noise), v_prediction, x0 (the clean "
        "image) or lcm (an LCM-distilled model: sample it with the lcm sampler, which applies "
        "LCM's boundary conditions on its 50-step grid). zsnr rescales the noise schedule to "
        "zero terminal SNR (for models trained so)."
    ),
    inputs=[
        Input("model", MODEL),
        Choice("sampling", tuple(_SAMPLING), "eps"),
        Boolean("zsnr", False, description="Zero terminal SNR noise schedule"),
    ],
    outputs=[Output("model", MODEL)],
)
def model_sampling_discrete(model: Any, sampling: str, zsnr: bool) -> Any:
    from nodestudio.runtime.families.base import Scheduling

    if model.family.scheduling is not Scheduling.DISCRETE:
        raise NodeError(f"this is a {model.family.label} model, sampled by flow matching: "
                        "Model Sampling Discrete is for SD 1.x, SD 2.x and SDXL (use Model "
                        "Sampling Shift)")
    if sampling not in _SAMPLING:
        raise NodeError(f"unknown sampling {sampling!r}; pick one of {', '.join(_SAMPLING)}")
    return model.with_scheduler_config({**_SAMPLING[sampling], "rescale_betas_zero_snr": zsnr})


@node(
    "diffusion.rescale_cfg",
    display_name="Rescale CFG",
    category=MODEL_SETTINGS,
    description=(
        "Tames the washed-out, over-saturated look of high cfg (Lin et al. 2023, ComfyUI's "
        "RescaleCFG, diffusers' guidance_rescale): each step's guided prediction is scaled back "
        "to the spread of the positive prompt's, and multiplier of that mixed with the plain "
        "guided one (0 = plain CFG; 0.7 is the paper's). Computed on the model's own "
        "prediction, as diffusers does: for v-prediction models that is ComfyUI's result, for ε "
        "models ComfyUI rescales the v equivalent and differs slightly. Used by the Sampler at "
        "cfg above 1; not saved with Save Checkpoint."
    ),
    inputs=[Input("model", MODEL), Float("multiplier", 0.7, min=0.0, max=1.0, step=0.01)],
    outputs=[Output("model", MODEL)],
)
def rescale_cfg(model: Any, multiplier: float) -> Any:
    return replace(model, guidance_rescale=float(multiplier))
