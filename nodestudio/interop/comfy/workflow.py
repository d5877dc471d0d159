"""Reading ComfyUI's UI workflow JSON (schema 0.4 and version 1) into a ComfyGraph.

Schema 0.4 stores links as arrays ``[id, origin_id, origin_slot, target_id, target_slot,
type]``; version 1 stores them as objects with the same fields and moves the id counters into
``state``. Both put node positions, sizes, flags, modes (0 always, 2 never = muted, 4 bypass)
and ``widgets_values`` in the node entries, and groups beside the nodes.

Frontend-only nodes are resolved here: a ``Reroute`` node becomes a bend point of every link
through it, a ``PrimitiveNode`` gives its value to the widgets it feeds, and native reroutes
(``reroutes`` with links' ``parentId``) become bend points too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nodestudio.graph.files import is_finite_number
from nodestudio.graph.layout import Group, NodeLayout, Point
from nodestudio.graph.problems import GraphFileError, Problem
from nodestudio.interop.comfy.catalog import (
    PRIMITIVE,
    REROUTE,
    SEED_CONTROLS,
    ComfyNodeDef,
    node_def,
)
from nodestudio.interop.comfy.ir import (
    ComfyGraph,
    ComfyNode,
    Source,
    is_number,
    node_id_text,
    point,
    slot_index,
)
from nodestudio.interop.comfy.subgraph_raw import raw_subgraphs

_MODES = {2: "muted", 4: "bypassed"}  # 0 (always), 1 (on event), 3 (on trigger) all run
_REROUTE_SIZE = (75.0, 26.0)


def looks_like_workflow(data: Any) -> bool:
    """A UI workflow: an object with a ``nodes`` list and ``links`` or a version, and not
    NodeStudio's own format (which also has nodes and links)."""
    return (
        isinstance(data, dict) and "format" not in data and isinstance(data.get("nodes"), list)
        and ("links" in data or "last_node_id" in data or "state" in data)
    )


@dataclass
class _LinkRecord:
    id: int
    origin: str
    origin_slot: int
    target: str
    target_slot: int
    parent: int | None = None


@dataclass
class _Reroute:
    center: Point
    input_link: int | None


@dataclass
class _Primitive:
    value: Any
    control: str | None
    has_value: bool


@dataclass
class _Reader:
    graph: ComfyGraph = field(default_factory=lambda: ComfyGraph(has_layout=True))
    errors: list[Problem] = field(default_factory=list)
    links: dict[int, _LinkRecord] = field(default_factory=dict)
    #: node id -> {link id: input name} and {slot: input name}, from the node's ``inputs``.
    input_by_link: dict[str, dict[int, str]] = field(default_factory=dict)
    input_by_slot: dict[str, dict[int, str]] = field(default_factory=dict)
    reroutes: dict[str, _Reroute] = field(default_factory=dict)
    primitives: dict[str, _Primitive] = field(default_factory=dict)
    #: Native reroutes: id -> (position, parent reroute id).
    native_reroutes: dict[int, tuple[Point, int | None]] = field(default_factory=dict)
    #: Schema 0.4 keeps links' parent reroutes apart, in ``extra.linkExtensions``.
    link_parents: dict[int, int] = field(default_factory=dict)
    seen_ids: set[str] = field(default_factory=set)

    def warn(self, message: str, node_id: str | None = None, input_name: str | None = None,
             kind: str = "comfy_warning") -> None:
        self.graph.warnings.append(Problem(message, node_id, input_name, kind=kind))


def read_workflow(data: Any) -> ComfyGraph:
    """The workflow as a ComfyGraph; raises GraphFileError listing every structural problem."""
    if not looks_like_workflow(data):
        raise GraphFileError("not a ComfyUI workflow", [Problem(
            "expected an object with a 'nodes' list and 'links'", kind="structure")])
    reader = _Reader()
    version = data.get("version")
    if version is not None and not is_number(version):
        reader.errors.append(Problem(f"'version' is {version!r}, not a number",
                                     kind="structure"))
    for index, entry in enumerate(data["nodes"]):
        _read_node(reader, index, entry)
    _read_native_reroutes(reader, data)
    links = data.get("links")
    if links is None:
        links = []
    if not isinstance(links, list):
        reader.errors.append(Problem("'links' must be a list", kind="structure"))
        links = []
    for index, entry in enumerate(links):
        _read_link(reader, index, entry)
    groups = data.get("groups")
    if isinstance(groups, list):
        for index, entry in enumerate(groups):
            _read_group(reader, index, entry)
    elif groups is not None:
        reader.errors.append(Problem("'groups' must be a list", kind="structure"))
    if reader.errors:
        raise GraphFileError(f"the ComfyUI workflow has {len(reader.errors)} problem(s)",
                             reader.errors)
    _connect(reader)
    reader.graph.subgraphs = raw_subgraphs(data)
    return reader.graph


# -- nodes ---------------------------------------------------------------------------------------


def _read_node(reader: _Reader, index: int, entry: Any) -> None:
    where = f"nodes[{index}]"
    if not isinstance(entry, dict):
        reader.errors.append(Problem(f"{where} must be an object", kind="structure"))
        return
    node_id = node_id_text(entry.get("id"))
    class_type = entry.get("type")
    if node_id is None:
        reader.errors.append(Problem(f"{where} has no valid 'id'", kind="structure"))
        return
    if not isinstance(class_type, str) or not class_type:
        reader.errors.append(Problem(f"{where} has no valid 'type'", node_id, kind="structure"))
        return
    if node_id in reader.seen_ids:
        reader.errors.append(Problem("duplicate node id", node_id, kind="structure"))
        return
    reader.seen_ids.add(node_id)
    _read_inputs(reader, node_id, entry.get("inputs"))
    layout = _node_layout(entry)
    widgets = entry.get("widgets_values")
    if class_type == REROUTE:
        size = layout.size or _REROUTE_SIZE
        center = (layout.pos[0] + size[0] / 2, layout.pos[1] + size[1] / 2)
        reader.reroutes[node_id] = _Reroute(center, _first_input_link(entry.get("inputs")))
        return
    if class_type == PRIMITIVE:
        values = widgets if isinstance(widgets, list) else []
        control = _control_value(values[1]) if len(values) > 1 else None
        reader.primitives[node_id] = _Primitive(values[0] if values else None, control,
                                                bool(values))
        return
    node = ComfyNode(node_id, class_type, mode=_mode(entry.get("mode")), layout=layout,
                     entry=entry, origin="workflow")
    title = entry.get("title")
    if isinstance(title, str) and title:
        node.title = title
    node.output_names = _output_names(entry.get("outputs"))
    definition = node_def(class_type)
    if definition is not None:
        _name_widgets(reader, node, definition, widgets)
    else:
        node.widget_list = list(widgets) if isinstance(widgets, list) else None
        if isinstance(widgets, dict):
            node.values = {str(k): v for k, v in widgets.items()}
        elif isinstance(widgets, list):
            node.values, node.controls = _name_unknown_widgets(entry.get("inputs"), widgets)
    reader.graph.nodes[node_id] = node


def _mode(value: Any) -> str:
    return _MODES.get(value, "normal") if isinstance(value, int) else "normal"


def _node_layout(entry: dict[str, Any]) -> NodeLayout:
    pos = _finite_point(entry.get("pos")) or (0.0, 0.0)
    size = _finite_point(entry.get("size"))
    flags = entry.get("flags")
    collapsed = isinstance(flags, dict) and flags.get("collapsed") is True
    # ComfyUI colours a node with a pair: ``color`` (title bar) and ``bgcolor`` (body); the body
    # is what reads as "the node's colour".
    color = entry.get("bgcolor") if isinstance(entry.get("bgcolor"), str) else None
    if color is None and isinstance(entry.get("color"), str):
        color = entry["color"]
    return NodeLayout(pos, size, color, collapsed)


def _read_inputs(reader: _Reader, node_id: str, inputs: Any) -> None:
    by_link: dict[int, str] = {}
    by_slot: dict[int, str] = {}
    for slot, item in enumerate(inputs if isinstance(inputs, list) else []):
        name = _input_name(item)
        if name is None:
            continue
        by_slot[slot] = name
        link = item.get("link")
        if isinstance(link, int) and not isinstance(link, bool):
            by_link[link] = name
    reader.input_by_link[node_id] = by_link
    reader.input_by_slot[node_id] = by_slot


def _finite_point(value: Any) -> tuple[float, float] | None:
    """ir.point, but None for integers beyond float range (a hostile ``10**400``), where its
    float() would raise OverflowError."""
    if isinstance(value, dict):
        items: list[Any] = [value.get("0"), value.get("1")]
    elif isinstance(value, list | tuple):
        items = list(value[:2])
    else:
        return None
    return point(value) if all(is_finite_number(item) for item in items) else None


def _input_name(item: Any) -> str | None:
    """The input's name; a widget turned into an input is named by its widget."""
    if not isinstance(item, dict):
        return None
    widget = item.get("widget")
    if isinstance(widget, dict) and isinstance(widget.get("name"), str) and widget["name"]:
        return widget["name"]
    name = item.get("name")
    return name if isinstance(name, str) else None


def _first_input_link(inputs: Any) -> int | None:
    if isinstance(inputs, list) and inputs and isinstance(inputs[0], dict):
        link = inputs[0].get("link")
        if isinstance(link, int) and not isinstance(link, bool):
            return link
    return None


def _output_names(outputs: Any) -> list[str]:
    names = []
    for slot, item in enumerate(outputs if isinstance(outputs, list) else []):
        name = item.get("name") if isinstance(item, dict) else None
        names.append(name if isinstance(name, str) and name else str(slot))
    return names


def _control_value(value: Any) -> str | None:
    """A control_after_generate value; early frontends stored a boolean (true = randomize)."""
    if isinstance(value, str) and value in SEED_CONTROLS:
        return value
    if isinstance(value, bool):
        return "randomize" if value else "fixed"
    return None


def _name_widgets(reader: _Reader, node: ComfyNode, definition: ComfyNodeDef,
                  widgets: Any) -> None:
    """Give ``widgets_values`` their input names, in the order the node class declares them."""
    if isinstance(widgets, dict):
        node.values = {spec.name: widgets[spec.name] for spec in definition.widgets
                       if spec.name in widgets}
        return
    if not isinstance(widgets, list):
        return
    position = 0
    for spec in definition.widgets:
        if position >= len(widgets):
            break
        node.values[spec.name] = widgets[position]
        position += 1
        if spec.seed_control and position < len(widgets):
            control = _control_value(widgets[position])
            if control is not None:
                node.controls[spec.name] = control
                position += 1
    extra = len(widgets) - position - definition.trailing_widgets
    if extra > 0:
        reader.warn(f"{extra} more widget value(s) than {definition.class_type} has in this "
                    f"ComfyUI version; ignored: {widgets[position:position + extra]!r}",
                    node.id, kind="extra_values")


def _name_unknown_widgets(inputs: Any, widgets: list[Any]) -> tuple[dict[str, Any],
                                                                     dict[str, str]]:
    """Names for an unknown node's widget values, when its inputs list its widgets (newer
    frontends do) and the values line up with them; otherwise none (the list is kept)."""
    names = []
    for item in inputs if isinstance(inputs, list) else []:
        if isinstance(item, dict) and isinstance(item.get("widget"), dict):
            name = _input_name(item)
            if name is not None:
                names.append(name)
    values: dict[str, Any] = {}
    controls: dict[str, str] = {}
    position = 0
    for name in names:
        if position >= len(widgets):
            return {}, {}
        values[name] = widgets[position]
        position += 1
        if (isinstance(values[name], int) and position < len(widgets)
                and isinstance(widgets[position], str) and widgets[position] in SEED_CONTROLS):
            controls[name] = widgets[position]
            position += 1
    if position != len(widgets) or not names:
        return {}, {}
    return values, controls


# -- links, reroutes, groups -------------------------------------------------------------------


def _read_link(reader: _Reader, index: int, entry: Any) -> None:
    if isinstance(entry, list) and len(entry) >= 5:
        link_id, origin, origin_slot, target, target_slot = entry[:5]
        parent = None
    elif isinstance(entry, dict):
        link_id, origin, origin_slot = entry.get("id"), entry.get("origin_id"), \
            entry.get("origin_slot")
        target, target_slot, parent = entry.get("target_id"), entry.get("target_slot"), \
            entry.get("parentId")
    else:
        reader.warn(f"links[{index}] is not a link; ignored", kind="bad_link")
        return
    record = (
        link_id if isinstance(link_id, int) and not isinstance(link_id, bool) else None,
        node_id_text(origin), slot_index(origin_slot), node_id_text(target),
        slot_index(target_slot),
    )
    if any(part is None for part in record):
        reader.warn(f"links[{index}] is incomplete; ignored", kind="bad_link")
        return
    link_id, origin, origin_slot, target, target_slot = record  # type: ignore[misc]
    parent = parent if isinstance(parent, int) and not isinstance(parent, bool) else None
    reader.links[link_id] = _LinkRecord(link_id, origin, origin_slot, target, target_slot,
                                        parent)


def _read_native_reroutes(reader: _Reader, data: dict[str, Any]) -> None:
    """Reroutes of the newer frontend: free points that links pass through (``parentId``)."""
    extra = data.get("extra") if isinstance(data.get("extra"), dict) else {}
    entries = data.get("reroutes")
    if not isinstance(entries, list):
        entries = extra.get("reroutes") if isinstance(extra.get("reroutes"), list) else []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), int):
            continue
        pos = _finite_point(entry.get("pos"))
        parent = entry.get("parentId")
        if pos is not None:
            reader.native_reroutes[entry["id"]] = (pos, parent if isinstance(parent, int)
                                                   else None)
    extensions = extra.get("linkExtensions")
    for entry in extensions if isinstance(extensions, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("id"), int) \
                and isinstance(entry.get("parentId"), int):
            reader.link_parents[entry["id"]] = entry["parentId"]


def _native_bends(reader: _Reader, record: _LinkRecord) -> list[Point]:
    parent = record.parent
    if parent is None:
        parent = reader.link_parents.get(record.id)
    chain: list[Point] = []
    seen: set[int] = set()
    while parent is not None and parent in reader.native_reroutes and parent not in seen:
        seen.add(parent)
        position, parent = reader.native_reroutes[parent]
        chain.append(position)
    chain.reverse()  # the chain runs from the target back to the origin
    return chain


def _read_group(reader: _Reader, index: int, entry: Any) -> None:
    if not isinstance(entry, dict):
        reader.warn(f"groups[{index}] is not a group; ignored", kind="bad_group")
        return
    rect = entry.get("bounding")
    if not (isinstance(rect, list) and len(rect) == 4 and all(is_finite_number(v) for v in rect)):
        reader.warn(f"groups[{index}] has no valid 'bounding'; ignored", kind="bad_group")
        return
    title = entry.get("title") if isinstance(entry.get("title"), str) else ""
    color = entry.get("color") if isinstance(entry.get("color"), str) else None
    group_id = entry.get("id")
    name = f"g{group_id}" if isinstance(group_id, int) and not isinstance(group_id, bool) \
        else f"g{index + 1}"
    if any(group.id == name for group in reader.graph.groups):
        name = f"g{index + 1}-{len(reader.graph.groups)}"
    reader.graph.groups.append(Group(name, title, tuple(float(v) for v in rect),  # type: ignore[arg-type]
                                     color))


def _connect(reader: _Reader) -> None:
    """Turn the link records into ComfyNode links, through reroutes and primitives."""
    nodes = reader.graph.nodes
    for record in sorted(reader.links.values(), key=lambda r: r.id):
        if record.target not in nodes:
            # Links into reroutes are followed from the far end; into primitives there are none.
            if record.target not in reader.reroutes and record.target not in reader.primitives:
                reader.warn(f"link {record.id} leads to missing node {record.target}; ignored",
                            kind="dangling_link")
            continue
        target = nodes[record.target]
        input_name = reader.input_by_link.get(record.target, {}).get(record.id) or \
            reader.input_by_slot.get(record.target, {}).get(record.target_slot)
        if input_name is None:
            reader.warn(f"link {record.id} leads to input slot {record.target_slot}, which "
                        "the node does not list; ignored", record.target, kind="dangling_link")
            continue
        resolved = _resolve_origin(reader, record)
        if resolved is None:
            continue
        origin, slot, bends = resolved
        if origin in reader.primitives:
            primitive = reader.primitives[origin]
            if primitive.has_value:
                target.values[input_name] = primitive.value
                if primitive.control is not None:
                    target.controls[input_name] = primitive.control
            continue
        target.links[input_name] = Source(origin, slot)
        bends = bends + _native_bends(reader, record)
        if bends:
            reader.graph.bends[(record.target, input_name)] = bends


def _resolve_origin(reader: _Reader,
                    record: _LinkRecord) -> tuple[str, int, list[Point]] | None:
    """The real origin of ``record`` (following Reroute nodes back): node, output slot, and
    the bend points on the way."""
    origin = record.origin
    bends: list[Point] = []
    current = record
    seen: set[str] = set()
    while origin in reader.reroutes:
        if origin in seen:
            reader.warn("reroute nodes form a loop; the link through them is ignored",
                        record.target, kind="dangling_link")
            return None
        seen.add(origin)
        reroute = reader.reroutes[origin]
        upstream = reader.links.get(reroute.input_link) if reroute.input_link is not None \
            else None
        if upstream is None:
            reader.warn(f"reroute node {origin} has no input: the link it carried into node "
                        f"{record.target} is dropped", record.target, kind="dangling_link")
            return None
        bends = [*_native_bends(reader, upstream), reroute.center, *bends]
        current = upstream
        origin = upstream.origin
    if origin not in reader.graph.nodes and origin not in reader.primitives:
        reader.warn(f"link {record.id} comes from missing node {origin}; ignored",
                    record.target, kind="dangling_link")
        return None
    return origin, current.origin_slot, bends

