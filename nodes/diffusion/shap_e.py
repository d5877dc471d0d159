"""Shap-E text → 3D: Load Shap-E, Shap-E Text to Latent, Shap-E Latent to Mesh."""

from __future__ import annotations

from typing import Any

from nodestudio.api import (
    LATENT,
    MESH,
    SHAP_E_MODEL,
    Float,
    Input,
    Int,
    ModelChoice,
    NodeContext,
    NodeError,
    Output,
    Seed,
    String,
    node,
)

from ._common import find_model, fingerprint_for

CATEGORY = "3d"


CHECKPOINT_INPUT = ModelChoice("checkpoint", "checkpoints", default="shap-e",
                               description="The Shap-E folder in the checkpoints folder")


@node(
    "diffusion.load_shap_e",
    display_name="Load Shap-E",
    category="loaders",
    description=(
        "Loads OpenAI's Shap-E text-to-3D model: its diffusers folder (prior, text_encoder, "
        "shap_e_renderer, scheduler, tokenizer) in the checkpoints folder, or an absolute path."
    ),
    inputs=[CHECKPOINT_INPUT],
    outputs=[Output("model", SHAP_E_MODEL)],
    deterministic=False,
    fingerprint=fingerprint_for(CHECKPOINT_INPUT),
)
def load_shap_e(checkpoint: str, ctx: NodeContext) -> Any:
    from nodestudio.runtime.shap_e import load_shap_e as load

    return load(find_model(ctx, CHECKPOINT_INPUT, checkpoint), ctx.device)


def _shap_e(model: Any) -> Any:
    from nodestudio.runtime.shap_e import ShapEModel

    if not isinstance(model, ShapEModel):
        raise NodeError("this model is not Shap-E: connect Load Shap-E's model")
    return model


@node(
    "diffusion.shap_e_text_to_latent",
    display_name="Shap-E Text to Latent",
    category=CATEGORY,
    description=(
        "Describes a 3D object from a prompt: Shap-E's prior denoises its latent (the weights "
        "of a small field network) with its own Heun schedule, as diffusers' ShapEPipeline "
        "does. Turn it into a mesh with Shap-E Latent to Mesh."
    ),
    inputs=[
        Input("model", SHAP_E_MODEL),
        String("prompt", "a shark", multiline=True),
        Seed("seed"),
        Int("steps", 64, min=1, max=1000),
        Float("guidance", 15.0, min=0.0, max=100.0, step=0.5,
              description="How closely to follow the prompt (1 = no guidance)"),
        Int("batch_size", 1, min=1, max=16),
    ],
    outputs=[Output("latent", LATENT)],
)
def shap_e_text_to_latent(model: Any, prompt: str, seed: int, steps: int, guidance: float,
                          ctx: NodeContext, batch_size: int = 1) -> Any:
    from nodestudio.runtime.shap_e import sample_latents
    from nodestudio.runtime.types import Latent

    samples = sample_latents(_shap_e(model), prompt, steps, guidance, seed, batch_size,
                             on_step=lambda done, total: ctx.progress(done, total),
                             check_cancelled=ctx.check_cancelled)
    return Latent(samples=samples, scale_factor=1)


@node(
    "diffusion.shap_e_latent_to_mesh",
    display_name="Shap-E Latent to Mesh",
    category=CATEGORY,
    description=(
        "Builds the mesh a Shap-E latent describes: its signed distance on a grid_size³ grid "
        "(marching cubes at 0), coloured by the model's texture. Finer grids give smoother "
        "surfaces and take longer (128: the released renderer's)."
    ),
    inputs=[
        Input("model", SHAP_E_MODEL),
        Input("latent", LATENT),
        Int("grid_size", 64, min=8, max=256),
        Int("index", 0, min=0, max=63, advanced=True,
            description="Which latent of a batch to turn into a mesh"),
    ],
    outputs=[Output("mesh", MESH)],
)
def shap_e_latent_to_mesh(model: Any, latent: Any, grid_size: int = 64, index: int = 0) -> Any:
    from nodestudio.runtime.shap_e import latent_to_mesh

    shap_e = _shap_e(model)
    config = shap_e.prior.config
    expected = (config.num_embeddings, config.embedding_dim)
    samples = latent.samples
    if tuple(samples.shape[1:]) != expected:
        raise NodeError(f"this latent is not a Shap-E latent of this model (shape "
                        f"{list(samples.shape[1:])}, expected {list(expected)}): connect Shap-E "
                        "Text to Latent's output")
    if index >= samples.shape[0]:
        raise NodeError(f"index {index} is past the {samples.shape[0]} latents of the batch")
    return latent_to_mesh(shap_e, samples[index], grid_size)
