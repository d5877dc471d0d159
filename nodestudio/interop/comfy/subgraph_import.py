"""ComfyUI subgraphs on import: a UI workflow's ``definitions.subgraphs`` (schema 0.4 and
version 1) become NodeStudio subgraph definitions, and nodes whose type is a definition's
UUID become instances of them.

A ComfyUI definition is a version-1 graph whose boundary links start at a virtual input node
(id -10, slot = the definition's input) or end at a virtual output node (id -20). Its nodes go
through the same reader and mapping rules as top-level ones, with the two virtual nodes read
as placeholders: the rules (renamed inputs, nodes folded into others) then decide which
NodeStudio sockets the boundary links reach, and the placeholders' links become the
definition's inputs and outputs before they are removed.

Promoted widgets come three ways: a definition input linked to an inner widget (the instance
shows it as a widget; its value is positional in the instance's ``widgets_values``),
``properties.proxyWidgets`` of an instance (``[[inner node id, widget name], …]``, possibly a
JSON string; ``widgets_values[i]`` is the value of entry ``i``, inner id ``-1`` names a
definition input), and the definition's own ``widgets`` list.
"""

from __future__ import annotations

import dataclasses
import logging
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nodestudio.engine.unrun import unrunnable_outputs
from nodestudio.graph.files import MAX_VALUE_DEPTH, json_fault, sanitized
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import GraphFileError, Problem
from nodestudio.graph.subgraph_flatten import OUTER_KEY, PATH_SEPARATOR, flatten, with_paths
from nodestudio.graph.subgraphs import (
    REF_KEY,
    SUBGRAPH_TYPE,
    PromotedWidget,
    SubgraphDefinition,
    SubgraphInput,
    SubgraphOutput,
    containment_cycle,
)
from nodestudio.interop.comfy.catalog import SEED_CONTROLS
from nodestudio.interop.comfy.diffusion import SAMPLER, latent_consumers
from nodestudio.interop.comfy.families import combine, comfy_family, comfy_read_slots
from nodestudio.interop.comfy.group_nodes import group_values, is_group_type
from nodestudio.interop.comfy.ir import ComfyGraph, ComfyNode, node_id_text
from nodestudio.interop.comfy.rules import Placement, Rule
from nodestudio.interop.comfy.subgraph_raw import (
    INPUT_NODE,
    OUTPUT_NODE,
    PROXY_INPUT,
    as_workflow,
    boundary_widgets,
    instance_input_names,
    place_boundary,
    proxy_widgets,
    slot_name,
    slot_names,
    slot_type,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from nodestudio.api.registry import NodeRegistry
    from nodestudio.interop.comfy.build import GraphBuilder

_logger = logging.getLogger("nodestudio.interop.comfy")
#: How the import names the model families (families.py) in its messages.
_FAMILY_NAMES = {None: "SD (discrete)", "flux": "Flux", "sd3": "SD3", "flow": "flow-matching"}


@dataclass
class _Built:
    """A definition and how ComfyUI's names for its widgets map onto it."""

    definition: SubgraphDefinition
    #: The ComfyUI graph it was built from (values of instances are converted by its rules).
    comfy: ComfyGraph | None = None
    #: Definition inputs that feed inner widgets (the instance shows them as widgets): the
    #: inner (ComfyUI node id, widget name)s each feeds.
    widget_inputs: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    #: (inner ComfyUI node id, widget name) -> promoted widget names.
    proxies: dict[tuple[str, str], list[str]] = field(default_factory=dict)


class SubgraphImport:
    """Builds the definitions of one workflow (once each) and its instances."""

    def __init__(self, comfy: ComfyGraph, registry: NodeRegistry,
                 rules: Mapping[str, Rule]) -> None:
        self.raw = comfy.subgraphs
        self.registry = registry
        self.rules = rules
        self.built: dict[str, _Built] = {}
        self.building: list[str] = []
        self.warnings: list[Problem] = []
        # Proxy widgets are set per instance in ComfyUI, promoted widgets per definition in
        # NodeStudio: a definition promotes what any of its instances shows.
        self.proxied: dict[str, list[tuple[str, str]]] = {}
        entries = [node.entry for node in comfy.nodes.values()]
        for raw in self.raw.values():
            nodes = raw.get("nodes") if isinstance(raw, dict) else None
            entries += nodes if isinstance(nodes, list) else []
        for entry in entries:
            kind = entry.get("type") if isinstance(entry, dict) else None
            if isinstance(kind, str) and kind in self.raw:
                known = self.proxied.setdefault(kind, [])
                known += [pair for pair in proxy_widgets(entry) if pair not in known]
        # The model family each definition is used with, from what feeds its instances
        # (families.py): a sampler inside whose loader is outside cannot see it. Top-level
        # instances are known now; nested ones add theirs when their level is built.
        self.families: dict[str, set[str | None]] = {}
        # The reverse: the family the loaders inside a definition give what it outputs, so
        # that a sampler outside reads an instance as it would read the loaders themselves.
        self.inner_families: dict[str, str | None] = {}
        # The definition inputs (by index) whose feeders outside stand upstream of its
        # outputs for that search, with no sampler between; None: not known (let all pass).
        self.inner_passes: dict[str, frozenset[int] | None] = {}
        self._clue_instances(comfy)
        for node in comfy.nodes.values():
            self._note_family(comfy, node)

    def _note_family(self, comfy: ComfyGraph, node: ComfyNode) -> None:
        """Remember the family what feeds instance ``node`` implies (an instance with nothing
        linked into it says nothing)."""
        if self.is_instance(node) and node.links:
            self.families.setdefault(node.class_type, set()).add(comfy_family(comfy, node.id))

    def is_instance(self, node: ComfyNode) -> bool:
        return node.class_type in self.raw

    def _clue_instances(self, comfy: ComfyGraph) -> None:
        """Mark each instance in ``comfy`` with the family of the loaders inside it
        (families.py reads the mark as it reads a loader's own class)."""
        for node in comfy.nodes.values():
            if not self.is_instance(node):
                continue
            if family := self.inner_family(node.class_type):
                comfy.outer_clues[node.id] = family
            # A sampler inside stops the search from outside as the same sampler would.
            passing = self.inner_passes.get(node.class_type)
            if passing is not None:
                comfy.passes[node.id] = instance_input_names(node, self.raw[node.class_type],
                                                             passing)

    def inner_family(self, ident: str) -> str | None:
        """The model family of what definition ``ident`` outputs, from the nodes upstream of
        its virtual output node (nested instances' loaders too). Read apart from the build:
        building a definition needs the families of its instances' feeders, which this is
        one of."""
        if ident in self.inner_families:
            return self.inner_families[ident]
        self.inner_families[ident] = None  # a definition inside itself says nothing more
        try:
            comfy = _read_definition(self.raw[ident])
        except Exception:  # said (and logged) where the definition is built
            return None
        self._clue_instances(comfy)
        family = comfy_family(comfy, str(OUTPUT_NODE))
        self.inner_families[ident] = family
        self.inner_passes[ident] = frozenset(
            comfy_read_slots(comfy, str(OUTPUT_NODE), str(INPUT_NODE)))
        return family

    # -- instances -----------------------------------------------------------------------------

    def instance(self, node: ComfyNode, builder: GraphBuilder) -> Placement:
        """Add ``node`` as an instance; where its ComfyUI inputs and outputs went."""
        self._note_family(builder.comfy, node)
        built = self.definition(node.class_type)
        raw = self.raw[node.class_type]
        values: dict[str, Any] = {}
        controls: dict[str, str] = {}
        if built is not None and is_group_type(node.class_type):
            found = group_values(raw, node.entry.get("widgets_values"))
            values, controls = self._named(built, {key: value for key, value, _ in found},
                                           {key: mode for key, _, mode in found if mode})
        elif built is not None:
            values, controls = self._named(built, *_instance_values(node, built))
        ident = node.class_type
        version = built.definition.version if built is not None else 1
        added = builder.graph.add_node(
            SUBGRAPH_TYPE, values, id=node.id, mode=node.mode,  # type: ignore[arg-type]
            title=node.title, controls=controls, layout=node.layout,
            extra={REF_KEY: {"id": ident, "version": version}})
        inputs = slot_names(raw.get("inputs")) if isinstance(raw, dict) else []
        outputs = slot_names(raw.get("outputs")) if isinstance(raw, dict) else []
        if not outputs:
            outputs = list(node.output_names)
        kept = {item.name for item in built.definition.outputs} \
            if built is not None and built.definition.resolved else set(outputs)
        widgets = [w.name for w in built.definition.widgets] if built is not None else []
        targets = {name: [(added.id, name)] for name in [*inputs, *widgets]}
        # The instance's own slots by position, where a label renamed one.
        own = node.entry.get("inputs")
        own = own if isinstance(own, list) else []
        for slot, item in enumerate(own[:len(inputs)]):
            label = slot_name(item)
            if label is not None and label not in targets:
                targets[label] = [(added.id, inputs[slot])]
        return Placement(added.id, inputs=targets,
                         outputs={slot: (added.id, name) for slot, name in enumerate(outputs)
                                  if name in kept})

    def _named(self, built: _Built, wanted: dict[tuple[str, str], Any],
               modes: dict[tuple[str, str], str]) -> tuple[dict[str, Any], dict[str, str]]:
        """Values ComfyUI gives inner widgets (by inner node id and widget name) as the
        instance's promoted values: converted by the inner node's rule, as that node's own
        values are (sampler names, whole numbers for decimals …)."""
        values: dict[str, Any] = {}
        controls: dict[str, str] = {}
        by_node: dict[str, dict[str, Any]] = {}
        for (node_id, widget), value in wanted.items():
            by_node.setdefault(node_id, {})[widget] = value
        for node_id, given in by_node.items():
            for (target, widget), value in self._converted(built, node_id, given).items():
                names = [w.name for w in built.definition.widgets
                         if (w.node, w.input) == target]
                for name in names:
                    values[name] = value
                    if (node_id, widget) in modes:
                        controls[name] = modes[(node_id, widget)]
        return values, controls

    def _converted(self, built: _Built, node_id: str,
                   given: dict[str, Any]) -> dict[tuple[tuple[str, str], str], Any]:
        """((NodeStudio node, input), ComfyUI widget) -> value, through a trial build of
        the inner node with ``given`` as its values."""
        from nodestudio.interop.comfy.build import GraphBuilder  # imports this module

        source = built.comfy.nodes.get(node_id) if built.comfy is not None else None
        rule = self.rules.get(source.class_type) if source is not None else None
        if source is None or built.comfy is None:
            return {}
        if rule is None or self.is_instance(source) or rule.missing(self.registry) \
                or rule.refuse(source, built.comfy) is not None:
            # A placeholder or an instance keeps ComfyUI's names and values.
            return {((node_id, widget), widget): value for widget, value in given.items()}
        trial = dataclasses.replace(source, values={**source.values, **given})
        scratch = GraphBuilder(self.registry, built.comfy)
        placement = rule.build(trial, scratch)
        found = {}
        for widget in given:
            for target, input_name in placement.inputs.get(widget, []):
                values = scratch.graph.node(target).values if target in scratch.graph else {}
                if input_name in values:
                    found[((target, input_name), widget)] = values[input_name]
        return found

    # -- definitions ---------------------------------------------------------------------------

    def definition(self, ident: str) -> _Built | None:
        """The definition ``ident``, built on first use; None while it is being built (an
        instance of itself inside: refused later, in :meth:`finish`)."""
        if ident in self.built:
            return self.built[ident]
        if ident in self.building:
            return None
        self.building.append(ident)
        raw = self.raw[ident]
        try:
            built = self._build(ident, raw)
        except GraphFileError as error:
            reasons = "; ".join(problem.message for problem in error.problems[:3])
            built = _Built(_broken(ident, raw, f"its ComfyUI definition cannot be read "
                                   f"({error.summary}: {reasons}); kept as it was"))
        except Exception as error:  # a bug on unusual input must not lose the whole file
            _logger.error("building ComfyUI subgraph %s failed:\n%s", ident,
                          traceback.format_exc())
            built = _Built(_broken(ident, raw, f"NodeStudio failed to read its ComfyUI "
                                   f"definition ({type(error).__name__}: {error}); kept as it "
                                   "was, please report it with the file"))
        finally:
            self.building.remove(ident)
        self.built[ident] = built
        return built

    def _build(self, ident: str, raw: Any) -> _Built:
        # Imported here: workflow.py and build.py import this module.
        from nodestudio.interop.comfy.build import build_parts
        from nodestudio.interop.comfy.workflow import read_workflow

        workflow = as_workflow(raw)
        name = raw["name"] if isinstance(raw.get("name"), str) and raw["name"] else ident
        comfy = read_workflow(workflow)
        self._clue_instances(comfy)  # a sampler here fed by a loader in a nested instance
        family = combine(kind for kind in self.families.get(ident, ()) if kind is not None)
        if family is not None:
            # What feeds the instance stands behind the virtual input node.
            comfy.outer_clues[str(INPUT_NODE)] = family
        builder, placements = build_parts(comfy, self.registry, self.rules, self)
        graph = builder.graph
        definition = SubgraphDefinition(ident, name, graph)
        built = _Built(definition, comfy)
        self._boundary(built, raw, graph)
        place_boundary(definition, raw)
        self._promote(built, raw, placements)
        for problem in [*comfy.warnings, *builder.warnings]:
            if problem.node_id in (str(INPUT_NODE), str(OUTPUT_NODE)):
                continue
            where = f"node {problem.node_id}: " if problem.node_id else ""
            self.warnings.append(Problem(f"subgraph {name!r}, {where}{problem.message}",
                                         input=problem.input, kind=problem.kind))
        return built

    def _boundary(self, built: _Built, raw: dict[str, Any], graph: Graph) -> None:
        """The definition's inputs and outputs from the virtual nodes' links."""
        definition = built.definition
        inputs, outputs = raw.get("inputs"), raw.get("outputs")
        start, end = str(INPUT_NODE), str(OUTPUT_NODE)
        for index, name in enumerate(slot_names(inputs)):
            targets = [(link.target, link.input) for link in graph.links_from(start)
                       if link.output == name and link.target != end]
            definition.inputs.append(SubgraphInput(name, slot_type(inputs, index), targets))
            widgets = boundary_widgets(raw, index)
            if widgets:
                built.widget_inputs[name] = widgets
                definition.widgets += [PromotedWidget(name, node, input_name)
                                       for node, input_name in targets]
        for index, name in enumerate(slot_names(outputs)):
            link = graph.link_into(end, name)
            if link is None or link.source == start:
                # An output must name the inner node it reads (graph files check it).
                why = "is linked to nothing inside" if link is None else \
                    "passes an input straight through, which NodeStudio subgraphs cannot"
                self.warnings.append(Problem(
                    f"subgraph {definition.name!r}: output {name!r} {why}; left out, with the "
                    "links reading it", kind="dropped_link"))
                continue
            definition.outputs.append(SubgraphOutput(name, slot_type(outputs, index),
                                                     (link.source, link.output)))
        graph.remove_node(start)
        graph.remove_node(end)

    def _promote(self, built: _Built, raw: dict[str, Any],
                 placements: dict[str, Placement]) -> None:
        """Widgets the definition lists and those its instances proxy, by NodeStudio name."""
        definition = built.definition
        listed = raw.get("widgets")
        pairs = [(node_id, item["name"]) for item in listed if isinstance(item, dict)
                 and (node_id := node_id_text(item.get("id"))) is not None
                 and isinstance(item.get("name"), str)] if isinstance(listed, list) else []
        pairs += [pair for pair in self.proxied.get(definition.id, []) if pair not in pairs]
        taken = {widget.name for widget in definition.widgets}
        for node_id, widget in pairs:
            if node_id == PROXY_INPUT:
                continue  # a definition input: promoted in _boundary when it feeds a widget
            placement = placements.get(node_id)
            targets = [] if placement is None else _widget_targets(placement, widget)
            if not targets:
                self.warnings.append(Problem(
                    f"subgraph {definition.name!r}: its promoted widget {widget!r} of node "
                    f"{node_id} has no NodeStudio counterpart; the inner value is used",
                    kind="approximated"))
                continue
            name = widget
            number = 2
            while name in taken:
                name, number = f"{widget}_{number}", number + 1
            taken.add(name)
            built.proxies[(node_id, widget)] = [name]
            definition.widgets += [PromotedWidget(name, node, input_name)
                                   for node, input_name in targets]

    # -- the end ---------------------------------------------------------------------------------

    def finish(self, graph: Graph, warnings: list[Problem]) -> list[Problem]:
        """Put the definitions into ``graph`` (a self-containing one kept as it was, with the
        reason); returns ``warnings`` of the top level, less what could be resolved across
        instances, with what the definitions could not carry over."""
        definitions = {ident: built.definition for ident, built in self.built.items()}
        for ident, definition in definitions.items():
            if definition.resolved and (cycle := containment_cycle(definitions, ident)):
                definitions[ident] = _broken(ident, self.raw[ident], (
                    f"contains itself ({' › '.join(cycle)}); a subgraph cannot hold an "
                    "instance of itself, remove the inner instance in ComfyUI"))
        graph.definitions.update(definitions)
        unusable = [Problem(f"subgraph {definition.name!r}: {definition.problem}",
                            kind="broken_subgraph")
                    for definition in definitions.values() if not definition.resolved]
        return [*self._reach_models(graph, warnings), *self.warnings, *unusable,
                *self._mixed_families()]

    def _mixed_families(self) -> list[Problem]:
        """One definition is mapped for one model family: say so where its instances are
        fed by models of different kinds."""
        problems = []
        for ident, kinds in self.families.items():
            built = self.built.get(ident)
            if len(kinds) < 2 or built is None or not built.definition.resolved:
                continue
            labels = sorted(_FAMILY_NAMES.get(kind, str(kind)) for kind in kinds)
            mapped = combine(kind for kind in kinds if kind is not None)
            problems.append(Problem(
                f"subgraph {built.definition.name!r} is used with {' and '.join(labels)} "
                f"models; its inner nodes were mapped for {_FAMILY_NAMES[mapped]}, so check "
                "the sampler settings where it runs another model", kind="approximated"))
        return problems

    def _reach_models(self, graph: Graph, warnings: list[Problem]) -> list[Problem]:
        """An Empty Latent takes its shape from the model of the Sampler its latent goes to
        (diffusion.EmptyLatentRule); a Sampler inside an instance is out of that rule's
        sight, so it is looked for in the flattened graph, where the boundary is gone."""
        pending = [problem for problem in warnings if problem.kind == "needs_link"
                   and problem.input == "model" and problem.node_id in graph]
        if not pending:
            return warnings
        flat = flatten(graph, self.registry).graph
        solved: set[int] = set()
        for problem in pending:
            latent = problem.node_id or ""
            for consumer, input_name in latent_consumers(flat, latent):
                model = flat.link_into(consumer.id, "model")
                # Only a model at the top level can be linked there.
                if consumer.type == SAMPLER and input_name == "latent" and model is not None \
                        and PATH_SEPARATOR not in model.source:
                    try:
                        graph.connect(model.source, model.output, latent, "model")
                    except ValueError:  # a hostile file's latent feeding its own model
                        break
                    solved.add(id(problem))
                    break
        return [problem for problem in warnings if id(problem) not in solved]

    def unrunnable(self, graph: Graph) -> list[Problem]:
        """engine.unrun's outputs that cannot run, found inside instances too: an instance
        itself is no unknown type, and a missing saver inside one is said with its path."""
        flat = flatten(graph, self.registry).graph
        problems = []
        for problem in with_paths(unrunnable_outputs(flat, self.registry), flat):
            node = flat.nodes.get(problem.node_id or "")
            outer = node.extra.get(OUTER_KEY) if node is not None else None
            problems.append(Problem(problem.message, outer or problem.node_id, problem.input,
                                    problem.kind))
        return problems


def _broken(ident: str, raw: Any, problem: str) -> SubgraphDefinition:
    """A definition NodeStudio cannot use: kept as the file had it, with the reason."""
    name = raw.get("name") if isinstance(raw, dict) else None
    kept = raw if isinstance(raw, dict) else {"id": ident, "comfyui": raw}
    if json_fault(kept) is not None:
        kept = sanitized(kept, limit=MAX_VALUE_DEPTH)
    return SubgraphDefinition(ident, name if isinstance(name, str) and name else ident,
                              raw=kept, problem=problem)


def _read_definition(raw: Any) -> ComfyGraph:
    from nodestudio.interop.comfy.workflow import read_workflow  # workflow.py imports this

    return read_workflow(as_workflow(raw))


def _widget_targets(placement: Placement, widget: str) -> list[tuple[str, str]]:
    if widget in placement.inputs:
        return list(placement.inputs[widget])
    return [] if placement.main is None or placement.inputs else [(placement.main, widget)]


def _instance_values(node: ComfyNode, built: _Built) -> tuple[
        dict[tuple[str, str], Any], dict[tuple[str, str], str]]:
    """An instance's own values for inner widgets (by inner node id and widget name), from
    its ``widgets_values``, and the control after generate of promoted seeds."""
    widgets = node.entry.get("widgets_values")
    if not isinstance(widgets, list):
        return {}, {}
    proxies = proxy_widgets(node.entry)
    values: dict[tuple[str, str], Any] = {}
    controls: dict[tuple[str, str], str] = {}
    if proxies:
        for (node_id, widget), value in zip(proxies, widgets, strict=False):
            if node_id == PROXY_INPUT:
                keys = built.widget_inputs.get(widget, [])
            else:
                keys = [(node_id, widget)]
            values.update({key: value for key in keys})
        return values, controls
    position = 0
    for keys in built.widget_inputs.values():
        if position >= len(widgets):
            break
        value = widgets[position]
        values.update({key: value for key in keys})
        position += 1
        # A promoted seed keeps its control after generate beside it, as on the inner node.
        if isinstance(value, int) and position < len(widgets) \
                and isinstance(widgets[position], str) and widgets[position] in SEED_CONTROLS:
            controls.update({key: widgets[position] for key in keys})
            position += 1
    return values, controls
