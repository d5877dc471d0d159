"""How a ComfyUI node becomes NodeStudio nodes, and back: the rule framework.

A rule turns one ComfyUI node into one NodeStudio node (:class:`Direct`) or a small
construction of several, and says where each ComfyUI input and output went (a
:class:`Placement`) so that links can be wired afterwards. Rules that can also write their
NodeStudio node back as a ComfyUI node (for the API prompt export) implement ``export``.

Values are converted by small :class:`Convert` objects (sampler names, thresholds on another
scale …); a value without an equivalent is kept as it was and noted, so that validation names
it and nothing changes behind the artist's back.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from nodestudio.api.registry import NodeRegistry
from nodestudio.graph.model import Graph, Node
from nodestudio.interop.comfy.catalog import ComfyNodeDef, node_def
from nodestudio.interop.comfy.ir import ComfyGraph, ComfyNode

Note = Callable[[str], None]


class Unexportable(Exception):
    """A NodeStudio value or node that ComfyUI cannot express; the message says why."""


class Convert(Protocol):
    def to_ns(self, value: Any, note: Note) -> Any: ...

    def to_comfy(self, value: Any) -> Any: ...


@dataclass(frozen=True)
class Names:
    """Choice values with another spelling: ``exact`` pairs mean the same thing, ``near`` ones
    differ in a detail (said in the note); others have no NodeStudio equivalent."""

    what: str
    exact: Mapping[str, str]
    near: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # comfy -> (ns, why)
    #: NodeStudio names that only have a ``near`` ComfyUI equivalent, for writing back.
    back: Mapping[str, str] = field(default_factory=dict)

    def to_ns(self, value: Any, note: Note) -> Any:
        if not isinstance(value, str):
            return value
        if value in self.exact:
            return self.exact[value]
        if value in self.near:
            replacement, why = self.near[value]
            note(f"ComfyUI {self.what} {value!r} became {replacement!r}: {why}")
            return replacement
        note(f"ComfyUI {self.what} {value!r} has no NodeStudio equivalent; pick one of "
             f"{', '.join(sorted(set(self.exact.values())))}")
        return value

    def to_comfy(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise Unexportable(f"{self.what} {value!r} is not a name")
        for comfy, ours in self.exact.items():
            if ours == value:
                return comfy
        if value in self.back:
            return self.back[value]
        raise Unexportable(f"{self.what} {value!r} has no ComfyUI equivalent")


@dataclass(frozen=True)
class Scaled:
    """A number on another scale: NodeStudio value = round(ComfyUI value × factor)."""

    factor: float
    digits: int = 4

    def to_ns(self, value: Any, note: Note) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value
        try:
            scaled = value * self.factor
            finite = math.isfinite(scaled)
        except OverflowError:  # an integer beyond float range (a hostile file's 10**400)
            return value
        # inf/nan (also a huge value × factor) pass through: validation names them on the node.
        return round(scaled) if finite else value

    def to_comfy(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise Unexportable(f"{value!r} is not a number")
        try:
            return round(value / self.factor, self.digits)
        except (OverflowError, ValueError):  # beyond float range, or NaN/inf in round()
            raise Unexportable("a number beyond what ComfyUI can hold") from None


@dataclass(frozen=True)
class Switch:
    """ComfyUI's ``"enable"`` / ``"disable"`` choice as a NodeStudio Boolean."""

    what: str

    def to_ns(self, value: Any, note: Note) -> Any:
        if value in ("enable", "disable"):
            return value == "enable"
        if isinstance(value, bool):
            return value
        note(f"ComfyUI {self.what} {value!r} is neither 'enable' nor 'disable'")
        return value

    def to_comfy(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise Unexportable(f"{self.what} {value!r} is not true or false")
        return "enable" if value else "disable"


@dataclass
class Placement:
    """Where a ComfyUI node's inputs and outputs went among the NodeStudio nodes it became."""

    #: The NodeStudio node that stands for the ComfyUI node (None when it was folded away).
    main: str | None
    #: ComfyUI input name -> the NodeStudio (node id, input name)s it feeds.
    inputs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    #: ComfyUI output slot -> the NodeStudio (node id, output name) that provides it.
    outputs: dict[int, tuple[str, str]] = field(default_factory=dict)
    #: ComfyUI output slot -> the ComfyUI input whose source it passes on unchanged (a node
    #: folded into its neighbours, e.g. CLIP Set Last Layer).
    forward: dict[int, str] = field(default_factory=dict)
    #: ComfyUI inputs the rule took into account itself (a node folded into another, e.g. the
    #: custom-sampling nodes into a Sampler): no link is wired for them, and none reported.
    folded: set[str] = field(default_factory=set)


class Wiring(Protocol):
    """What a rule's ``finish`` may ask once every link is wired (implemented in build.py)."""

    graph: Graph
    registry: NodeRegistry

    def consumers(self, comfy_id: str, slot: int) -> list[tuple[ComfyNode, str]]:
        """The ComfyUI nodes (and their input names) fed by output ``slot`` of ``comfy_id``."""
        ...

    def targets(self, comfy_id: str, input_name: str) -> list[tuple[str, str]]:
        """The NodeStudio (node id, input) that ComfyUI input ``input_name`` went to."""
        ...

    def source(self, comfy_id: str, input_name: str) -> tuple[str, str] | None:
        """The NodeStudio (node id, output) feeding ComfyUI input ``input_name``."""
        ...

    def note(self, message: str, node_id: str | None = None, input_name: str | None = None,
             kind: str = "approximated") -> None: ...


class Builder(Protocol):
    """What a rule may use while building (implemented in build.py)."""

    graph: Graph
    registry: NodeRegistry
    #: The whole ComfyUI graph being built (read-only): for rules that fold their neighbours.
    comfy: ComfyGraph

    def add(self, comfy: ComfyNode, type_id: str, values: dict[str, Any], *,
            suffix: str = "", controls: dict[str, str] | None = None,
            offset: tuple[float, float] = (0.0, 0.0)) -> Node: ...

    def note(self, message: str, node_id: str | None = None, input_name: str | None = None,
             kind: str = "approximated") -> None: ...


class Exporter(Protocol):
    """What a rule may use while exporting (implemented in export.py)."""

    registry: NodeRegistry
    graph: Graph

    def values(self, node: Node) -> dict[str, Any]: ...

    def link(self, node: Node, input_name: str) -> list[Any] | None: ...

    def add_entry(self, node_id: str, entry: dict[str, Any]) -> None:
        """Write one more ComfyUI node (a construction that ComfyUI spells with two)."""
        ...


class Rule:
    """Base of the mapping rules: ``comfy`` is the ComfyUI class, ``needs`` the NodeStudio
    types the construction uses; ``exports`` the NodeStudio types it writes back."""

    comfy: str = ""
    needs: tuple[str, ...] = ()
    exports: tuple[str, ...] = ()
    #: Rules with a ``finish`` step run it once every link is wired, downstream nodes first.
    finishes: bool = False

    @property
    def definition(self) -> ComfyNodeDef:
        found = node_def(self.comfy)
        assert found is not None, f"no catalog entry for {self.comfy}"
        return found

    def missing(self, registry: NodeRegistry) -> list[str]:
        """Needed NodeStudio types (or their inputs) this registry does not have."""
        return [type_id for type_id in self.needs if type_id not in registry]

    def refuse(self, node: ComfyNode, comfy: ComfyGraph) -> str | None:
        """Why this ComfyUI node (in ``comfy``) cannot be built faithfully (it then stays a
        placeholder)."""
        return None

    def build(self, node: ComfyNode, builder: Builder) -> Placement:
        raise NotImplementedError

    def finish(self, node: ComfyNode, placement: Placement, wiring: Wiring) -> None:
        """Work that needs the wired graph (routing a negative prompt, folding a setting)."""

    def accepts(self, node: Node, exporter: Exporter) -> bool:
        """Whether this rule is the one to export ``node`` (several rules may share a type)."""
        return True

    def export(self, node: Node, exporter: Exporter) -> dict[str, Any]:
        raise Unexportable("no ComfyUI equivalent")

    def output_slot(self, output: str) -> int | None:
        """The ComfyUI output index of NodeStudio output ``output`` of an exported node."""
        return None


@dataclass
class Direct(Rule):
    """One ComfyUI node ↔ one NodeStudio node, input for input, output for output.

    NodeStudio inputs the mapping does not name keep ComfyUI's behaviour: their default, or
    the value in ``ns_fixed``. Exporting a node whose such inputs were changed (or linked,
    except ``ns_free_links``) fails: ComfyUI's node could not say it.
    """

    comfy: str = ""
    ns: str = ""
    #: ComfyUI input name -> NodeStudio input name (links and widgets alike).
    inputs: Mapping[str, str] = field(default_factory=dict)
    #: NodeStudio output name for each ComfyUI output slot.
    outputs: tuple[str, ...] = ()
    convert: Mapping[str, Convert] = field(default_factory=dict)
    #: Unnamed NodeStudio inputs whose ComfyUI behaviour is not their default.
    ns_fixed: Mapping[str, Any] = field(default_factory=dict)
    #: NodeStudio link inputs that ComfyUI's node does without (left out on export).
    ns_free_links: tuple[str, ...] = ()
    #: ComfyUI inputs without a NodeStudio counterpart: the value NodeStudio's behaviour
    #: matches (written on export; another value on import is noted as approximated).
    comfy_fixed: Mapping[str, Any] = field(default_factory=dict)
    #: NodeStudio inputs a subclass writes itself on export (skipped by check_unmapped).
    handled: tuple[str, ...] = ()
    export_rule: bool = True

    def __post_init__(self) -> None:
        self.needs = (self.ns,)
        self.exports = (self.ns,) if self.export_rule else ()

    def missing(self, registry: NodeRegistry) -> list[str]:
        node_type = registry.get(self.ns)
        if node_type is None:
            return [self.ns]
        names = {spec.name for spec in node_type.inputs}
        absent = [name for name in (*self.inputs.values(), *self.ns_fixed, *self.ns_free_links)
                  if name not in names]
        outputs = {spec.name for spec in node_type.outputs}
        absent += [name for name in self.outputs if name not in outputs]
        return [f"{self.ns}.{name}" for name in absent]

    def import_converters(self, node: ComfyNode, builder: Builder) -> Mapping[str, Convert]:
        """The converters for this node's values (a subclass may pick them by context)."""
        return self.convert

    def export_converters(self, node: Node, exporter: Exporter) -> Mapping[str, Convert]:
        """The converters for writing this node back (a subclass may pick them by context)."""
        return self.convert

    def ns_values(self, node: ComfyNode, builder: Builder) -> dict[str, Any]:
        """The NodeStudio node's values from the ComfyUI node's, converted and checked."""
        node_type = builder.registry.get(self.ns)
        defaults = node_type.default_values() if node_type else {}
        values = {name: value for name, value in self.ns_fixed.items()
                  if defaults.get(name) != value}
        converters = self.import_converters(node, builder)
        for name, value in node.values.items():
            if name in self.inputs:
                note = _noter(builder, node.id, self.inputs[name])
                converter = converters.get(name)
                values[self.inputs[name]] = converter.to_ns(value, note) if converter else value
            elif name in self.comfy_fixed:
                if value != self.comfy_fixed[name]:
                    builder.note(f"{self.comfy} {name}={value!r} is not supported: NodeStudio "
                                 f"works as with {self.comfy_fixed[name]!r}", node.id,
                                 kind="approximated")
            elif name in _frontend_inputs(self.comfy):
                continue
            else:
                builder.note(f"{self.comfy} input {name!r} is not supported; its value "
                             f"{value!r} is ignored", node.id, kind="ignored_input")
        return values

    def build(self, node: ComfyNode, builder: Builder) -> Placement:
        controls = {self.inputs[name]: control for name, control in node.controls.items()
                    if name in self.inputs}
        added = builder.add(node, self.ns, self.ns_values(node, builder), controls=controls)
        return Placement(
            added.id,
            inputs={comfy: [(added.id, ours)] for comfy, ours in self.inputs.items()},
            outputs={slot: (added.id, name) for slot, name in enumerate(self.outputs)},
        )

    def check_unmapped(self, node: Node, exporter: Exporter) -> None:
        """Raise Unexportable when an input ComfyUI's node lacks is used."""
        node_type = exporter.registry.get(node.type)
        if node_type is None:
            raise Unexportable(f"unknown node type {node.type!r}")
        values = exporter.values(node)
        mapped = set(self.inputs.values())
        for spec in node_type.inputs:
            if spec.name in mapped or spec.name in self.handled:
                continue
            if exporter.graph.link_into(node.id, spec.name) is not None:
                if spec.name in self.ns_free_links:
                    continue
                raise Unexportable(f"input {spec.name!r} is linked; ComfyUI's {self.comfy} "
                                   "has no such input")
            if spec.has_widget:
                wanted = self.ns_fixed.get(spec.name, spec.default)
                if values.get(spec.name) != wanted:
                    raise Unexportable(f"{spec.name}={values.get(spec.name)!r}: ComfyUI's "
                                       f"{self.comfy} works as {spec.name}={wanted!r}")

    def export(self, node: Node, exporter: Exporter) -> dict[str, Any]:
        self.check_unmapped(node, exporter)
        values = exporter.values(node)
        converters = self.export_converters(node, exporter)
        inputs: dict[str, Any] = {}
        for spec in self.definition.inputs:
            ours = self.inputs.get(spec.name)
            if ours is None:
                if spec.name in self.comfy_fixed:
                    inputs[spec.name] = self.comfy_fixed[spec.name]
                continue
            link = exporter.link(node, ours)
            if link is not None:
                inputs[spec.name] = link
            elif spec.is_widget:
                converter = converters.get(spec.name)
                value = values.get(ours)
                inputs[spec.name] = converter.to_comfy(value) if converter else value
            elif not spec.optional and ours not in self.handled:
                raise Unexportable(f"input {ours!r} is not linked")
        return {"class_type": self.comfy, "inputs": inputs}

    def output_slot(self, output: str) -> int | None:
        return self.outputs.index(output) if output in self.outputs else None


def _noter(builder: Builder, node_id: str, input_name: str) -> Note:
    return lambda message: builder.note(message, node_id, input_name, kind="unsupported_value")


def _frontend_inputs(class_type: str) -> tuple[str, ...]:
    definition = node_def(class_type)
    return definition.frontend_inputs if definition is not None else ()
