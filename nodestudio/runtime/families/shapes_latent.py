"""The latent space of the embedded demo model ``nodestudio-shapes`` (not a family of its own).

The demo model is an SD 1.x-layout model (its family is SD1) with its own tiny VAE: 4 channels,
a 4× factor and scaling factor 1.1001, so neither SD's published preview map nor TAESD fits
it. Without a format of its own, previews fell back to stretching the first three latent
channels, which drew a red blob on green while a yellow square on grey was being made.

The RGB map below is a least-squares fit against the demo VAE's own decodes (each latent cell
against the 4×4 pixels it decodes to, and each image's mean colour weighted 16 × its cells),
over 192 latents the shipped model sampled from random captions:
``python tests/benchmarks/fit_demo_preview.py`` (defaults; 1 min on 2 CPU cores). On a
held-out quarter: 0.089 mean absolute error per cell and channel, 0.039 on an image's mean
colour (0–1 scale). The tiny VAE's latent space is not linear enough for better; TAESD-style
previews would need a decoder.
"""

from __future__ import annotations

from nodestudio.runtime.families.base import LatentFormat

SHAPES_LATENT = LatentFormat(
    name="nodestudio-shapes",
    channels=4,
    # The demo VAE's config says 1.1001472473144531; latent formats are told apart by it.
    scaling_factor=1.1001472473144531,
    rgb_factors=(
        (-0.2309, -0.1392, -0.1575),
        (-0.0907, -0.0735, -0.0321),
        (0.5882, 0.5501, 0.5859),
        (-0.5457, -0.5380, -0.5664),
    ),
    rgb_bias=(0.0316, 0.0200, 0.0071),
)
