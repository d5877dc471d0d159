"""What a Sampler run adds to a shared UNet for each of its calls: GLIGEN and hypernetworks.

The UNet in the model cache is shared by every branch of the graph, so neither is ever left on
it: :func:`adapt` gives the UNet denoiser a callable that attaches them around each UNet call
and removes them afterwards (see :mod:`gligen` and :mod:`hypernetwork`). Attaching is a few
attribute sets and hook registrations, negligible beside the call itself. A run without either
gets the UNet itself: nothing changes for it.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import torch

from nodestudio.runtime import gligen, hypernetwork
from nodestudio.runtime.families.base import DenoiseRequest


class AdaptedUNet:
    """The UNet, with a run's GLIGEN and hypernetworks attached during each call."""

    def __init__(self, unet: torch.nn.Module, grounding: gligen.GligenRun | None,
                 hypernetworks: tuple[hypernetwork.HypernetworkUse, ...]) -> None:
        self.unet = unet
        self.grounding = grounding
        self.hypernetworks = hypernetworks

    def __getattr__(self, name: str) -> Any:
        # Everything but the call is the UNet's (its config, its blocks for T2I-Adapters …).
        unet = self.__dict__.get("unet")
        if unet is None:
            raise AttributeError(name)
        return getattr(unet, name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with ExitStack() as stack:
            if self.grounding is not None:
                stack.enter_context(gligen.attached(self.unet, self.grounding))
            if self.hypernetworks:
                stack.enter_context(hypernetwork.applied(self.unet, self.hypernetworks))
            return self.unet(*args, **kwargs)


def adapt(unet: torch.nn.Module, request: DenoiseRequest,
          extra_kwargs: dict[str, Any]) -> torch.nn.Module | AdaptedUNet:
    """The UNet to call for ``request``'s run; GLIGEN's keyword arguments are added to
    ``extra_kwargs`` (the arguments of every call)."""
    geometry = request.geometry
    grounding = gligen.prepare(
        unet, request.positive, request.negative, geometry.batch,
        (geometry.latent_height, geometry.latent_width), request.model.vae_scale_factor,
        request.device, request.dtype,
    )
    uses = tuple(getattr(request.model, "hypernetworks", ()))
    if grounding is None and not uses:
        return unet
    if grounding is not None:
        arguments = dict(extra_kwargs.get("cross_attention_kwargs") or {})
        arguments["gligen"] = grounding.arguments
        extra_kwargs["cross_attention_kwargs"] = arguments
    return AdaptedUNet(unet, grounding, uses)
