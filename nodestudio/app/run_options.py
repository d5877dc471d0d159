"""What `nodestudio run`'s options do to a graph, and what stops them before anything runs:
``--set NODE.INPUT=VALUE`` and ``--only NODE`` checked against the graph (every bad one at
once, with the name a slip likely meant), and a device or output folder that is not there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nodestudio.app.run_output import node_label
from nodestudio.graph.problems import GraphError, Problem, did_you_mean


def apply_assignments(graph: Any, registry: Any, assignments: list[str]) -> None:
    """Apply ``NODE.INPUT=VALUE`` strings, NODE a node's id or title (every node of that
    title, as ``--sweep`` takes it); every bad one is reported at once."""
    problems: list[Problem] = []
    for assignment in assignments:
        target, sep, text = assignment.partition("=")
        # The last dot: input names have none, titles ("Pass 1.5") may.
        node_part, dot, input_name = target.rpartition(".")
        if not sep or not dot or not node_part or not input_name:
            problems.append(Problem(f"--set {assignment!r}: expected NODE.INPUT=VALUE",
                                    kind="usage"))
            continue
        node_ids = nodes_named(graph, node_part)
        if not node_ids:
            hint = did_you_mean(node_part, [*graph.nodes, *_titles(graph)])
            problems.append(Problem(f"there is no node {node_part!r}{hint}", kind="usage"))
            continue
        for node_id in node_ids:
            problem = _assign(graph, registry, node_id, input_name, text)
            if problem is not None:
                problems.append(problem)
    if problems:
        raise GraphError("invalid --set", problems)


def nodes_named(graph: Any, name: str) -> list[str]:
    """The node whose id is ``name``, else every node whose title is (any case)."""
    if name in graph:
        return [name]
    wanted = name.strip().lower()
    return [node.id for node in graph if (node.title or "").strip().lower() == wanted]


def _titles(graph: Any) -> list[str]:
    return [node.title for node in graph if node.title]


def _assign(graph: Any, registry: Any, node_id: str, input_name: str, text: str
            ) -> Problem | None:
    """Set one value typed on the command line, or say why it cannot be set."""
    from nodestudio.api.schema import check_value, coerce_value
    from nodestudio.api.sockets import STRING

    known = value_inputs(graph, registry, graph.node(node_id))
    if known is None:
        return Problem(f"its type {graph.node(node_id).type!r} is not installed, so no value "
                       "of it is used", node_id, input_name, kind="usage")
    what, specs = known
    spec = specs.get(input_name)
    if spec is None:
        hint = did_you_mean(input_name, list(specs))
        return Problem(f"{what} has no value input {input_name!r}{hint}", node_id, input_name,
                       kind="usage")
    link = graph.link_into(node_id, input_name)
    if link is not None:  # the link's value wins: this one would silently do nothing
        return Problem(_linked_value_text(graph, registry, link, text), node_id, input_name,
                       kind="usage")
    value: Any = _parse_value(text)
    if spec.type == STRING and not isinstance(value, str):
        value = text  # a prompt typed as digits ("123") or "true" is text, as typed
    value = coerce_value(spec, value)
    problem = check_value(spec, value)
    if problem:
        return Problem(problem, node_id, input_name, kind="invalid_value")
    graph.set_value(node_id, input_name, value)
    return None


def value_inputs(graph: Any, registry: Any, node: Any) -> tuple[str, dict[str, Any]] | None:
    """What a node is called and the specs of the values ``--set`` may give it: its type's
    widgets, or a subgraph instance's promoted widgets (each checked as the inner input it
    shows); None for a type that is not installed."""
    from nodestudio.graph.subgraphs import SubgraphDefinition, instance_ref

    node_type = registry.get(node.type)
    if node_type is not None:
        return node_type.display_name, {spec.name: spec for spec in node_type.inputs
                                        if spec.has_widget}
    ref = instance_ref(node)
    definition = graph.definitions.get(ref[0]) if ref else None
    if not isinstance(definition, SubgraphDefinition) or not definition.resolved:
        return None
    specs = {}
    for widget in definition.widgets:
        inner = definition.graph.nodes.get(widget.node)
        inner_type = registry.get(inner.type) if inner is not None else None
        spec = inner_type.input(widget.input) if inner_type is not None else None
        if spec is not None:
            specs[widget.name] = spec
    return f"the subgraph {definition.name!r}", specs


def _linked_value_text(graph: Any, registry: Any, link: Any, text: str) -> str:
    """Why ``--set`` cannot change an input a link feeds, and where the value is set instead:
    the widget of the node it comes from when that node has one (a Primitive or Seed node,
    as ComfyUI workflows wire seeds)."""
    source = graph.node(link.source)
    message = f"takes its value through a link from {node_label(source, registry)}"
    source_type = registry.get(source.type)
    widgets = [spec.name for spec in (source_type.inputs if source_type else ())
               if spec.has_widget and graph.link_into(source.id, spec.name) is None]
    if len(widgets) == 1:
        return f"{message}: --set {source.id}.{widgets[0]}={text} there"
    return f"{message}; set a value of that node instead"


def option_problems(session: Any) -> list[Problem]:
    """What stops a run whatever the graph: a device that is not there, an output folder
    that cannot be written or created."""
    problems: list[Problem] = []
    device = device_problem(session.settings.device)
    if device:
        problems.append(Problem(f"--device: {device}", kind="usage"))
    from nodestudio.app.path_rules import folder_problem

    folder = folder_problem(Path(session.settings.output_dir))
    if folder:
        problems.append(Problem(f"--output: {folder}", kind="usage"))
    return problems


def device_problem(setting: str | None) -> str | None:
    """Why ``setting`` names no usable device (None when it does). "auto" and "cpu" always
    work and need no torch; only a device asked for by name imports it to look."""
    name = (setting or "auto").strip().lower()
    if name in ("auto", "cpu"):
        return None
    try:
        from nodestudio.app.devices import resolve_device

        resolved = resolve_device(name)
        if resolved == "mps":
            import torch

            mps = getattr(torch.backends, "mps", None)
            if mps is None or not mps.is_available():
                return "device 'mps' was asked for, but Apple's MPS is not available here"
    except ValueError as error:
        return str(error)
    except ImportError:
        return f"device {name!r} needs PyTorch, which is not installed"
    return None


def check_only(graph: Any, registry: Any, names: list[str]) -> list[str]:
    """``--only``: the node ids it names, each by id or title; every name that names no node
    is reported, with the output nodes there are."""
    from nodestudio.engine.validate import output_nodes

    found = {name: nodes_named(graph, name) for name in names}
    unknown = [name for name, node_ids in found.items() if not node_ids]
    if unknown:
        outputs = ", ".join(node_label(graph.node(node_id), registry)
                            for node_id in output_nodes(graph, registry)) or "none"
        known = [*graph.nodes, *_titles(graph)]
        raise GraphError("invalid --only", [
            Problem(f"there is no node {name!r}"
                    f"{did_you_mean(name, known) or f' (output nodes: {outputs})'}",
                    kind="usage") for name in unknown])
    return list(dict.fromkeys(node_id for node_ids in found.values() for node_id in node_ids))


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


#: What `--save-previews` turns into what: a Preview Image only shows its images (in the
#: window); a run from the command line has nowhere to show them.
PREVIEW_TYPE, SAVE_TYPE, PREVIEW_PREFIX = "image.preview", "image.save", "preview"


def save_previews(graph: Any, registry: Any) -> int:
    """``--save-previews``: every Preview Image (inside subgraphs too) becomes a Save Image
    writing ``preview_NNNNN_.png`` in the output folder, with the graph in it as Save Image
    writes; returns how many. Save Image does the writing, so numbering, atomic files and
    metadata are the same."""
    save_type = registry.get(SAVE_TYPE)
    if save_type is None:
        return 0
    count = 0
    for level in [graph, *(d.graph for d in graph.definitions.values() if d.resolved)]:
        for node in list(level):
            if node.type == PREVIEW_TYPE:
                level.retype_node(node.id, SAVE_TYPE, save_type.version)
                level.set_value(node.id, "filename_prefix", PREVIEW_PREFIX)
                count += 1
    return count


def preview_only_note(graph: Any, registry: Any, result: Any) -> Problem | None:
    """After a run that saved nothing, the Preview Image nodes whose pictures it made and
    dropped, and how to keep them (a shared ComfyUI workflow often ends in one)."""
    if result.files:
        return None
    shown = [node_id for node_id in result.images
             if node_id in graph and graph.node(node_id).type == PREVIEW_TYPE]
    if not shown:
        return None
    count = sum(len(batch) for node_id in shown for batch in result.images[node_id])
    names = ", ".join(node_label(graph.node(node_id), registry) for node_id in shown)
    pictures, them = ("picture", "it") if count == 1 else ("pictures", "them")
    return Problem(f"{names} made {count} {pictures}, which a Preview Image only shows (in the "
                   f"window): run with --save-previews to save {them} in the output folder",
                   kind="preview_only")
