"""Arithmetic on encoded prompts, as ComfyUI's conditioning nodes do it: zero out, concatenate,
average."""

from __future__ import annotations

from typing import Any

from nodestudio.api import CONDITIONING, Float, Input, NodeError, Output, node

CATEGORY = "conditioning"


def _same_family(first: Any, second: Any) -> None:
    if first.family is not None and second.family is not None and first.family is not \
            second.family:
        raise NodeError(f"the prompts come from different models ({first.family.label} and "
                        f"{second.family.label}): encode both with the same CLIP")


def _transformer_parts(conditioning: Any) -> bool:
    # SD3 keeps its T5 states apart from the CLIP ones (they are joined per model when
    # sampling): token arithmetic on them is not what ComfyUI's joined tensor would give.
    return "t5" in conditioning.extra


@node(
    "diffusion.conditioning_zero_out",
    display_name="Conditioning (Zero Out)",
    category=CATEGORY,
    description=(
        "The prompt with its embeddings (and pooled embedding) set to zero: the 'empty' "
        "negative prompt SD3 and some SDXL workflows use. ControlNets stay attached."
    ),
    inputs=[Input("conditioning", CONDITIONING)],
    outputs=[Output("conditioning", CONDITIONING)],
)
def conditioning_zero_out(conditioning: Any) -> Any:
    from dataclasses import replace

    import torch

    extra = dict(conditioning.extra)
    if extra.get("t5") is not None:
        extra["t5"] = torch.zeros_like(extra["t5"])
    pooled = conditioning.pooled
    return replace(conditioning, embeds=torch.zeros_like(conditioning.embeds),
                   pooled=torch.zeros_like(pooled) if pooled is not None else None, extra=extra)


@node(
    "diffusion.conditioning_concat",
    display_name="Conditioning (Concat)",
    category=CATEGORY,
    description=(
        "Appends the tokens of a second prompt to the first's, so the model reads both as "
        "one long prompt (the first prompt's pooled embedding and settings are kept)."
    ),
    inputs=[Input("conditioning_to", CONDITIONING), Input("conditioning_from", CONDITIONING)],
    outputs=[Output("conditioning", CONDITIONING)],
)
def conditioning_concat(conditioning_to: Any, conditioning_from: Any) -> Any:
    from dataclasses import replace

    import torch

    _same_family(conditioning_to, conditioning_from)
    if _transformer_parts(conditioning_to):
        raise NodeError("Conditioning (Concat) does not work on SD3 prompts yet")
    embeds = torch.cat([conditioning_to.embeds,
                        conditioning_from.embeds.to(conditioning_to.embeds)], dim=1)
    return replace(conditioning_to, embeds=embeds)


@node(
    "diffusion.conditioning_average",
    display_name="Conditioning (Average)",
    category=CATEGORY,
    description=(
        "Blends two prompts: strength 1 is the first, 0 the second. The second's tokens are "
        "cut or padded with zeros to the first's length, as ComfyUI does."
    ),
    inputs=[
        Input("conditioning_to", CONDITIONING),
        Input("conditioning_from", CONDITIONING),
        Float("conditioning_to_strength", 1.0, min=0.0, max=1.0, step=0.01),
    ],
    outputs=[Output("conditioning", CONDITIONING)],
)
def conditioning_average(conditioning_to: Any, conditioning_from: Any,
                         conditioning_to_strength: float) -> Any:
    from dataclasses import replace

    import torch.nn.functional as F

    _same_family(conditioning_to, conditioning_from)
    if _transformer_parts(conditioning_to):
        raise NodeError("Conditioning (Average) does not work on SD3 prompts yet")
    to, source = conditioning_to.embeds, conditioning_from.embeds.to(conditioning_to.embeds)
    if source.shape[-1] != to.shape[-1]:
        raise NodeError("the prompts have embeddings of different widths: encode both with "
                        "the same CLIP")
    source = source[:, : to.shape[1]]
    source = F.pad(source, (0, 0, 0, to.shape[1] - source.shape[1]))
    strength = conditioning_to_strength
    embeds = to * strength + source * (1 - strength)
    pooled = conditioning_to.pooled
    if pooled is not None and conditioning_from.pooled is not None:
        pooled = pooled * strength + conditioning_from.pooled.to(pooled) * (1 - strength)
    elif conditioning_from.pooled is not None:
        pooled = conditioning_from.pooled  # ComfyUI takes the only pooled embedding there is
    return replace(conditioning_to, embeds=embeds, pooled=pooled)
