"""ComfyUI's model tools nodes: their definitions (inputs in order) and their mapping rules."""

from __future__ import annotations

from nodestudio.interop.comfy.catalog import ComfyNodeDef
from nodestudio.interop.comfy.rules import Rule

#: ComfyUI's node definitions for this area, merged into catalog.CORE_NODES.
DEFINITIONS: tuple[ComfyNodeDef, ...] = ()


def rules() -> list[Rule]:
    return []
