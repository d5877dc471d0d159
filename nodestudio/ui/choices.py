"""Choices of the widgets whose list comes from the environment (models, input images)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from nodestudio.api.schema import InputSpec
from nodestudio.app.choices import IMAGE_SUFFIXES, ModelLister, available_choices, input_images

__all__ = ["IMAGE_SUFFIXES", "ChoiceProvider", "ModelLister", "input_images"]

#: How long a folder listing is reused; menus open often, folders change rarely.
_LISTING_SECONDS = 2.0


class ChoiceProvider:
    """Resolves ``choices`` and ``choices_source`` ("models:<kind>", "files:input")."""

    def __init__(self, models: ModelLister | None = None, input_dir: Path | None = None) -> None:
        self.models = models
        self.input_dir = input_dir
        self._cache: dict[str, tuple[float, list[Any]]] = {}

    def choices(self, spec: InputSpec) -> list[Any]:
        if spec.choices is not None:
            return list(spec.choices)
        source = spec.choices_source or ""
        cached = self._cache.get(source)
        if cached is not None and time.monotonic() - cached[0] < _LISTING_SECONDS:
            return list(cached[1])
        found = self._resolve(source)
        self._cache[source] = (time.monotonic(), found)
        return list(found)

    def refresh(self) -> None:
        self._cache.clear()

    def _resolve(self, source: str) -> list[Any]:
        # The app layer's answer, the one validation and `nodestudio validate` use: what the
        # dropdown offers and paints as valid is what a run accepts (example pictures too).
        found = available_choices(source, self.models, self.input_dir)
        return found if found is not None else []
