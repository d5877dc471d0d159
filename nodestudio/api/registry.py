"""The registry of node types: an object handed around, filled from packs by a loader."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from nodestudio.api.pack import NodePack
from nodestudio.api.schema import NodeType, SchemaError, check_node_type
from nodestudio.api.sockets import SocketTypes


@dataclass(frozen=True)
class PackFailure:
    """A pack that could not be loaded: where it came from and why (with the traceback)."""

    name: str
    source: str
    message: str
    traceback: str


@dataclass(frozen=True)
class LoadedPack:
    name: str
    source: str
    version: str
    node_ids: tuple[str, ...]


class NodeRegistry:
    """Node types by id (and by legacy id), the socket types, and the record of pack loading."""

    def __init__(self, sockets: SocketTypes | None = None) -> None:
        self.sockets = sockets or SocketTypes()
        self._types: dict[str, NodeType] = {}
        self._legacy: dict[str, str] = {}
        self.packs: list[LoadedPack] = []
        self.failures: list[PackFailure] = []

    # -- filling ------------------------------------------------------------------------------

    def add_pack(self, pack: NodePack, source: str = "") -> LoadedPack:
        """Register every node type of ``pack``; a type id already taken is a pack failure.

        The pack is checked completely before anything is registered, so a bad pack never
        leaves half of itself behind.
        """
        if not isinstance(pack, NodePack):
            raise TypeError(f"expected a NodePack, got {type(pack).__name__}")
        ids = [node_type.id for node_type in pack.nodes]
        for node_type in pack.nodes:
            if not isinstance(node_type, NodeType):
                raise TypeError(f"pack {pack.name!r} lists {node_type!r}, which is not a NodeType")
            check_node_type(node_type)
        self._check_socket_types(pack)
        taken = [i for i in ids if i in self._types or ids.count(i) > 1]
        if taken:
            raise ValueError(f"pack {pack.name!r} redefines node types {sorted(set(taken))}")
        for socket_type in pack.sockets:
            self.sockets.add(socket_type)
        for node_type in pack.nodes:
            registered = node_type.with_pack(pack.name)
            self._types[registered.id] = registered
            for legacy_id in registered.legacy_ids:
                self._legacy.setdefault(legacy_id, registered.id)
        loaded = LoadedPack(pack.name, source, pack.version, tuple(ids))
        self.packs.append(loaded)
        return loaded

    def _check_socket_types(self, pack: NodePack) -> None:
        """Refuse sockets of types nobody declared: a typo ("IMGE") would otherwise register
        quietly and then never link to anything, and nothing could check its values."""
        known = set(self.sockets.names()) | {socket.name for socket in pack.sockets}
        for node_type in pack.nodes:
            types = [*(spec.type for spec in node_type.inputs),
                     *(spec.type for spec in node_type.outputs)]
            unknown = sorted({name for name in types if name not in known})
            if unknown:
                raise SchemaError(
                    f"pack {pack.name!r}: node type {node_type.id!r} uses socket type(s) "
                    f"{', '.join(unknown)}, which neither NodeStudio nor the pack declares "
                    "(add them to NodePack(sockets=[SocketType(...)]))")

    def add(self, *node_types: NodeType, pack: str = "local") -> None:
        """Register loose node types (handy in scripts and tests)."""
        self.add_pack(NodePack(pack, node_types), source="code")

    def record_failure(self, failure: PackFailure) -> None:
        self.failures.append(failure)

    # -- reading ------------------------------------------------------------------------------

    def get(self, type_id: str) -> NodeType | None:
        """The node type for ``type_id``, following legacy ids; None when unknown."""
        found = self._types.get(type_id)
        if found is None and type_id in self._legacy:
            found = self._types.get(self._legacy[type_id])
        return found

    def resolve_id(self, type_id: str) -> str:
        """The current id for ``type_id`` (itself, or the type that lists it as legacy)."""
        if type_id in self._types:
            return type_id
        return self._legacy.get(type_id, type_id)

    def likely_meant(self, type_id: str) -> str | None:
        """The known type id an unknown ``type_id`` is most likely a typo of ("image.sav" ->
        "image.save"), or None. Only ids in the same namespace (the part before the first
        dot) are offered, so a missing pack's node is not mistaken for a built-in one."""
        namespace = type_id.partition(".")[0]
        candidates = [known for known in [*self._types, *self._legacy]
                      if known.partition(".")[0] == namespace]
        close = difflib.get_close_matches(type_id, candidates, n=1, cutoff=0.8)
        return self.resolve_id(close[0]) if close else None

    def __contains__(self, type_id: object) -> bool:
        return isinstance(type_id, str) and self.get(type_id) is not None

    def __iter__(self) -> Iterator[NodeType]:
        return iter(self._types.values())

    def __len__(self) -> int:
        return len(self._types)

    def categories(self) -> list[str]:
        return sorted({node_type.category for node_type in self._types.values()})

    def by_category(self) -> dict[str, list[NodeType]]:
        grouped: dict[str, list[NodeType]] = {}
        for node_type in sorted(self._types.values(), key=lambda t: (t.category, t.display_name)):
            grouped.setdefault(node_type.category, []).append(node_type)
        return grouped


def registry_of(*node_types: NodeType, packs: Iterable[NodePack] = ()) -> NodeRegistry:
    """A registry holding exactly these node types and packs: convenient in tests and scripts."""
    registry = NodeRegistry()
    for pack in packs:
        registry.add_pack(pack, source="code")
    if node_types:
        registry.add(*node_types)
    return registry
