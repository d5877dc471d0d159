"""A node pack: the unit in which built-in nodes and plugins are delivered."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType

from nodestudio.api.schema import NodeType
from nodestudio.api.sockets import SocketType


@dataclass(frozen=True)
class NodePack:
    """Node types (and optional new socket types) that load together under one name.

    A pack is a Python package whose top-level module defines ``pack = NodePack(...)``. It is
    found in the built-in ``nodes/`` folder, in the user's packs folder, or through the
    ``nodestudio.nodes`` entry-point group of an installed distribution.
    """

    name: str
    nodes: Sequence[NodeType]
    sockets: Sequence[SocketType] = field(default_factory=tuple)
    version: str = ""
    description: str = ""


def collect_nodes(*modules: ModuleType) -> list[NodeType]:
    """The node types defined at the top level of ``modules``, in definition order."""
    found: list[NodeType] = []
    for module in modules:
        # Only types defined in the module itself: a type imported from a sibling is the
        # sibling's to declare, and would otherwise be collected twice.
        found.extend(
            value
            for value in vars(module).values()
            if isinstance(value, NodeType) and value.function.__module__ == module.__name__
        )
    return found

