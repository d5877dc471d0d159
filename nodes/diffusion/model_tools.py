"""Model tools: merging models and text encoders, saving checkpoints, sampling overrides."""

from __future__ import annotations
