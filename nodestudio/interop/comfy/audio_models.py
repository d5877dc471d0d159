"""ComfyUI's Stable Audio nodes: their definitions (inputs in order) and mapping rules.

From ComfyUI's comfy_extras (nodes_audio.py: EmptyLatentAudio, VAEDecodeAudio,
ConditioningStableAudio). NodeStudio's Empty Audio Latent takes its
shape from the model or VAE when linked; ComfyUI's is fixed to Stable Audio Open 1.0's, which
is also NodeStudio's shape when nothing is linked, so the mapping is one to one.
"""

from __future__ import annotations

from nodestudio.interop.comfy.catalog import ComfyNodeDef, _in
from nodestudio.interop.comfy.rules import Direct, Rule

#: ComfyUI's node definitions for this area, merged into catalog.CORE_NODES.
DEFINITIONS: tuple[ComfyNodeDef, ...] = (
    ComfyNodeDef("EmptyLatentAudio", "Empty Latent Audio",
                 (_in("seconds", "FLOAT", 47.6), _in("batch_size", "INT", 1)),
                 (("LATENT", "LATENT"),)),
    ComfyNodeDef("ConditioningStableAudio", "ConditioningStableAudio",
                 (_in("positive", "CONDITIONING"), _in("negative", "CONDITIONING"),
                  _in("seconds_start", "FLOAT", 0.0), _in("seconds_total", "FLOAT", 47.0)),
                 (("positive", "CONDITIONING"), ("negative", "CONDITIONING"))),
    ComfyNodeDef("VAEDecodeAudio", "VAE Decode Audio",
                 (_in("samples", "LATENT"), _in("vae", "VAE")), (("AUDIO", "AUDIO"),)),
)


def rules() -> list[Rule]:
    return [
        Direct("EmptyLatentAudio", "diffusion.empty_audio_latent",
               {"seconds": "seconds", "batch_size": "batch_size"}, ("latent",),
               ns_free_links=("model", "vae")),
        Direct("ConditioningStableAudio", "diffusion.conditioning_stable_audio",
               {"positive": "positive", "negative": "negative",
                "seconds_start": "seconds_start", "seconds_total": "seconds_total"},
               ("positive", "negative")),
        Direct("VAEDecodeAudio", "diffusion.vae_decode_audio",
               {"samples": "latent", "vae": "vae"}, ("audio",)),
    ]
