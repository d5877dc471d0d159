"""NodeStudio: a node editor for controllable image generation with diffusion models."""

__version__ = "0.1.0"
