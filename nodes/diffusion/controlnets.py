"""ControlNet loaders beyond the plain one: Load ControlNet (diff).

(T2I-Adapters need no node of their own: Load ControlNet takes them, as ComfyUI's does.)
"""

from __future__ import annotations

from typing import Any

from nodestudio.api import CONTROL_NET, MODEL, Input, ModelChoice, NodeContext, Output, node

from ._common import find_model, fingerprint_for

CATEGORY = "loaders"


CONTROL_NET_NAME_INPUT = ModelChoice("control_net_name", "controlnet",
                                     description="ControlNet name in the controlnet folder")


@node(
    "diffusion.load_diff_controlnet",
    display_name="Load ControlNet (diff)",
    category=CATEGORY,
    description=(
        "Loads a ControlNet from the controlnet folder whose weights are stored as differences "
        "to a model (the 'diff' ControlNets of SD 1.5): the connected model's UNet weights are "
        "added to give the whole ControlNet. Other ControlNets and T2I-Adapters load as with "
        "Load ControlNet. Use it with Apply ControlNet."
    ),
    inputs=[
        Input("model", MODEL, description="The model the differences are added to"),
        CONTROL_NET_NAME_INPUT,
    ],
    outputs=[Output("control_net", CONTROL_NET)],
    deterministic=False,
    fingerprint=fingerprint_for(CONTROL_NET_NAME_INPUT),
)
def load_diff_controlnet(model: Any, control_net_name: str, ctx: NodeContext) -> Any:
    from nodestudio.runtime.checkpoints import load_controlnet

    path = find_model(ctx, CONTROL_NET_NAME_INPUT, control_net_name)
    return load_controlnet(path, ctx.device, progress=ctx.progress, base=model)
