"""Diffusion nodes on diffusers: loaders, prompts, latents, the sampler.

Node modules import nothing heavy at the top; nodestudio.runtime is imported inside the node
functions, so listing these nodes never imports torch.
"""

from nodestudio.api import collect_nodes

from . import (
    animatediff,
    audio_latents,
    clip_vision,
    conditioning,
    conditioning_areas,
    conditioning_math,
    controlnets,
    flow,
    gligen,
    hypernetwork,
    latent_tools,
    latents,
    loaders,
    model_tools,
    parts,
    refiner,
    sampling,
    shap_e,
    svd,
    video_latents,
    wan22,
    wan_i2v,
)

NODES = collect_nodes(loaders, parts, conditioning, conditioning_areas, conditioning_math,
                      controlnets, refiner, flow, latents, latent_tools, model_tools, sampling,
                      clip_vision, gligen, hypernetwork, audio_latents, video_latents,
                      shap_e, animatediff, svd, wan_i2v, wan22)
