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

    def zeroed(entry: Any) -> Any:
        extra = dict(entry.extra)
        if extra.get("t5") is not None:
            extra["t5"] = torch.zeros_like(extra["t5"])
        pooled = entry.pooled
        return replace(entry, embeds=torch.zeros_like(entry.embeds),
                       pooled=torch.zeros_like(pooled) if pooled is not None else None,
                       extra=extra)

    return conditioning.map_entries(zeroed)


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

    # As ComfyUI: the first prompt of conditioning_from is appended to every prompt of
    # conditioning_to (a combined conditioning keeps its areas).
    source = conditioning_from.entries()[0]

    def joined(entry: Any) -> Any:
        _same_family(entry, source)
        if _transformer_parts(entry):
            raise NodeError("Conditioning (Concat) does not work on SD3 prompts yet")
        return replace(entry, embeds=torch.cat([entry.embeds, source.embeds.to(entry.embeds)],
                                               dim=1))

    return conditioning_to.map_entries(joined)


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
    # As ComfyUI: the first prompt of conditioning_from blends into every prompt of
    # conditioning_to.
    source = conditioning_from.entries()[0]
    return conditioning_to.map_entries(
        lambda entry: _averaged(entry, source, conditioning_to_strength))


def _averaged(to_entry: Any, source: Any, strength: float) -> Any:
    from dataclasses import replace

    import torch.nn.functional as F

    _same_family(to_entry, source)
    if _transformer_parts(to_entry):
        raise NodeError("Conditioning (Average) does not work on SD3 prompts yet")
    to, embeds_from = to_entry.embeds, source.embeds.to(to_entry.embeds)
    if embeds_from.shape[-1] != to.shape[-1]:
        raise NodeError("the prompts have embeddings of different widths: encode both with "
                        "the same CLIP")
    embeds_from = embeds_from[:, : to.shape[1]]
    embeds_from = F.pad(embeds_from, (0, 0, 0, to.shape[1] - embeds_from.shape[1]))
    embeds = to * strength + embeds_from * (1 - strength)
    pooled = to_entry.pooled
    if pooled is not None and source.pooled is not None:
        pooled = pooled * strength + source.pooled.to(pooled) * (1 - strength)
    elif source.pooled is not None:
        pooled = source.pooled  # ComfyUI takes the only pooled embedding there is
    return replace(to_entry, embeds=embeds, pooled=pooled)
