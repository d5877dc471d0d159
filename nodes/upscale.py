"""Upscale models (ESRGAN, RealESRGAN, SwinIR …) from models/upscale_models, through spandrel."""

from __future__ import annotations
