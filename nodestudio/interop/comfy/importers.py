"""The importers nodestudio.app.formats tries on every file it opens.

Each has a ``name``, ``detect(data)`` (never raises) and ``convert(data, registry)``, which
returns a Graph or raises GraphFileError listing what is wrong — never another exception.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from typing import Any

from nodestudio.api.registry import NodeRegistry
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import GraphFileError, Problem, json_error_text
from nodestudio.interop.comfy.build import build_graph
from nodestudio.interop.comfy.ir import ComfyGraph, is_number
from nodestudio.interop.comfy.mapping import all_rules, import_rules
from nodestudio.interop.comfy.prompt import is_link, looks_like_prompt, read_prompt
from nodestudio.interop.comfy.workflow import looks_like_workflow, read_workflow

_logger = logging.getLogger("nodestudio.interop.comfy")
#: Deeper than this, a workflow is not something a person made.
MAX_DEPTH = 200
#: The PNG text chunks ComfyUI's SaveImage writes: the API prompt, and the UI workflow.
PROMPT_CHUNK, WORKFLOW_CHUNK = "prompt", "workflow"


def convert_guarded(what: str, convert: Callable[[], Graph]) -> Graph:
    """Run ``convert``; a bug on unusual input becomes a GraphFileError, not a crash."""
    try:
        return convert()
    except GraphFileError:
        raise
    except Exception as error:
        _logger.error("reading a %s failed unexpectedly:\n%s", what, traceback.format_exc())
        raise GraphFileError(f"the {what} could not be read", [Problem(
            f"NodeStudio failed on this file ({type(error).__name__}: {error}); please report "
            "it with the file", kind="internal_error")]) from None


def check_plain(data: Any, what: str) -> None:
    """JSON that NodeStudio can keep: no NaN/Infinity (JSON has none; Python reads them) and
    no absurd nesting."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise GraphFileError(f"the {what} is nested too deeply", [Problem(
                f"more than {MAX_DEPTH} levels of nesting", kind="structure")])
        if isinstance(value, float) and not is_number(value):
            raise GraphFileError(f"the {what} holds a number JSON does not allow", [Problem(
                f"{value!r} is not a finite number", kind="structure")])
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)


class WorkflowImporter:
    name = "ComfyUI workflow"

    def detect(self, data: Any) -> bool:
        return looks_like_workflow(data)

    def convert(self, data: Any, registry: NodeRegistry) -> Graph:
        def convert() -> Graph:
            check_plain(data, "ComfyUI workflow")
            return build_graph(read_workflow(data), registry, import_rules(all_rules()))

        return convert_guarded("ComfyUI workflow", convert)


class PromptImporter:
    name = "ComfyUI API prompt"

    def detect(self, data: Any) -> bool:
        return looks_like_prompt(data)

    def convert(self, data: Any, registry: NodeRegistry) -> Graph:
        def convert() -> Graph:
            check_plain(data, "ComfyUI prompt")
            return build_graph(read_prompt(data), registry, import_rules(all_rules()))

        return convert_guarded("ComfyUI prompt", convert)


class PngMetadataImporter:
    """A PNG saved by ComfyUI: its ``workflow`` chunk (with layout) is preferred, the
    ``prompt`` chunk is the fallback and also names the widget values of nodes NodeStudio
    does not know."""

    name = "PNG with ComfyUI metadata"

    def detect(self, data: Any) -> bool:
        return isinstance(data, dict) and any(
            isinstance(data.get(key), str) for key in (WORKFLOW_CHUNK, PROMPT_CHUNK))

    def convert(self, data: Any, registry: NodeRegistry) -> Graph:
        return convert_guarded("ComfyUI PNG", lambda: self._convert(data, registry))

    def _convert(self, chunks: dict[str, Any], registry: NodeRegistry) -> Graph:
        problems: list[Problem] = []
        prompt = self._chunk(chunks, PROMPT_CHUNK, looks_like_prompt, read_prompt, problems)
        workflow = self._chunk(chunks, WORKFLOW_CHUNK, looks_like_workflow, read_workflow,
                               problems)
        if workflow is not None:
            if prompt is not None:
                _name_unknown_values(workflow, prompt)
            chosen = workflow
        elif prompt is not None:
            chosen = prompt
        else:
            raise GraphFileError("the PNG's ComfyUI metadata cannot be read", problems)
        graph = build_graph(chosen, registry, import_rules(all_rules()))
        graph.load_warnings[:0] = [Problem(f"{p.message} (used the other chunk)",
                                           kind="png_chunk") for p in problems]
        return graph

    @staticmethod
    def _chunk(chunks: dict[str, Any], key: str, looks_right: Callable[[Any], bool],
               read: Callable[[Any], ComfyGraph], problems: list[Problem]) -> ComfyGraph | None:
        text = chunks.get(key)
        if not isinstance(text, str):
            return None
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as error:
            problems.append(Problem(f"the {key!r} chunk is not JSON: {json_error_text(error)}",
                                    kind="png"))
            return None
        if not looks_right(data):
            problems.append(Problem(f"the {key!r} chunk holds no ComfyUI {key}", kind="png"))
            return None
        try:
            check_plain(data, f"{key!r} chunk")
            return read(data)
        except GraphFileError as error:
            problems.extend(error.problems)
            return None


def _name_unknown_values(workflow: ComfyGraph, prompt: ComfyGraph) -> None:
    """Widget values of unknown nodes, by name, from the prompt written beside the workflow."""
    for node_id, node in workflow.nodes.items():
        twin = prompt.nodes.get(node_id)
        if node.widget_list is None or node.values or twin is None \
                or twin.class_type != node.class_type:
            continue
        inputs = twin.entry.get("inputs", {})
        node.values = {name: value for name, value in inputs.items() if not is_link(value)}
        node.prompt_inputs = inputs


COMFY_IMPORTERS = (WorkflowImporter(), PromptImporter(), PngMetadataImporter())
