"""Latent tools: composite, batch, repeat."""

from __future__ import annotations
