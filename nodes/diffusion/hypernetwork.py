"""Load Hypernetwork (ComfyUI's HypernetworkLoader): A1111 hypernetworks on a UNet model.

nodestudio.runtime.hypernetwork says what a hypernetwork changes and how it is applied without
touching the shared model. No torch here: the pack must import cheaply.
"""

from __future__ import annotations

from typing import Any

from nodestudio.api import MODEL, Float, Input, ModelChoice, NodeContext, Output, node

from ._common import find_model, fingerprint_for

HYPERNETWORK_NAME_INPUT = ModelChoice("hypernetwork_name", "hypernetworks",
                                      description="Hypernetwork name in the hypernetworks folder, "
                                                  "or an absolute path")


@node(
    "diffusion.load_hypernetwork",
    display_name="Load Hypernetwork",
    category="loaders",
    description=(
        "Applies a hypernetwork (A1111's .pt format) from the hypernetworks folder to the "
        "model: small networks that shift the keys and values of the model's attention layers, "
        "scaled by the strength (ComfyUI's HypernetworkLoader). The incoming model is not "
        "changed: other branches keep using it without. Strength 0 leaves the model as it is; "
        "chain several to combine them."
    ),
    inputs=[
        Input("model", MODEL),
        HYPERNETWORK_NAME_INPUT,
        Float("strength", 1.0, min=-10.0, max=10.0, step=0.01,
              description="How strongly the hypernetwork shifts the attention"),
    ],
    outputs=[Output("model", MODEL)],
    deterministic=False,
    fingerprint=fingerprint_for(HYPERNETWORK_NAME_INPUT),
)
def load_hypernetwork(model: Any, hypernetwork_name: str, strength: float,
                      ctx: NodeContext) -> Any:
    from nodestudio.runtime.hypernetwork import add_hypernetwork

    path = find_model(ctx, HYPERNETWORK_NAME_INPUT, hypernetwork_name)
    return add_hypernetwork(model, path, strength)
