"""Layout: where things are drawn. Kept apart from the semantic graph, in memory and in files."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Point = tuple[float, float]


@dataclass
class NodeLayout:
    pos: Point = (0.0, 0.0)
    size: Point | None = None
    color: str | None = None
    collapsed: bool = False
    #: Widget inputs shown as sockets on the canvas ("turn a widget into an input").
    socket_inputs: list[str] = field(default_factory=list)
    #: The node is expanded to show its advanced inputs (those in use show anyway).
    show_advanced: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"pos": [self.pos[0], self.pos[1]]}
        if self.size is not None:
            data["size"] = [self.size[0], self.size[1]]
        if self.color is not None:
            data["color"] = self.color
        if self.collapsed:
            data["collapsed"] = True
        if self.socket_inputs:
            data["socket_inputs"] = list(self.socket_inputs)
        if self.show_advanced:
            data["show_advanced"] = True
        return data


@dataclass
class Group:
    """A titled, coloured frame; nodes inside its rectangle move with it."""

    id: str
    title: str
    rect: tuple[float, float, float, float]  # x, y, width, height
    color: str | None = None

    def contains(self, point: Point) -> bool:
        x, y, width, height = self.rect
        return x <= point[0] <= x + width and y <= point[1] <= y + height

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "title": self.title, "rect": list(self.rect)}
        if self.color is not None:
            data["color"] = self.color
        return data


@dataclass
class Layout:
    nodes: dict[str, NodeLayout] = field(default_factory=dict)
    groups: list[Group] = field(default_factory=list)
    #: Bend points of links, keyed by "<target node id>.<input name>".
    reroutes: dict[str, list[Point]] = field(default_factory=dict)
    #: The view (offset, zoom) and anything else a front end wants to keep with the file.
    extra: dict[str, Any] = field(default_factory=dict)

    def node(self, node_id: str) -> NodeLayout:
        """The layout of ``node_id``, created at the origin when it has none yet."""
        return self.nodes.setdefault(node_id, NodeLayout())

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "nodes": {node_id: item.to_json() for node_id, item in self.nodes.items()},
        }
        if self.groups:
            data["groups"] = [group.to_json() for group in self.groups]
        if self.reroutes:
            data["reroutes"] = {key: [list(p) for p in points]
                                for key, points in self.reroutes.items()}
        if self.extra:
            data["extra"] = self.extra
        return data


def reroute_key(target: str, input_name: str) -> str:
    return f"{target}.{input_name}"
