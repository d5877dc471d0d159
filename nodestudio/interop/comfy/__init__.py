"""ComfyUI interoperability: open its workflows, API prompts and PNGs; write both formats.

    graph = nodestudio.load_graph("comfy_workflow.json")      # auto-detected (app.formats)
    prompt = export_api_prompt(graph, registry)               # {"3": {"class_type": ...}}
    workflow = export_ui_workflow(graph, registry)            # {"nodes": [...], "links": ...}

The mapping of ComfyUI's node types onto NodeStudio's is in ``mapping.py`` (documented in the
README, section "ComfyUI interoperability"). No Qt and no torch here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from nodestudio.api.registry import NodeRegistry
from nodestudio.graph import files
from nodestudio.graph.model import Graph
from nodestudio.graph.problems import GraphError
from nodestudio.interop.comfy.build import PLACEHOLDER_PREFIX, placeholder_type
from nodestudio.interop.comfy.export import ComfyExportError, export_prompt
from nodestudio.interop.comfy.importers import (
    COMFY_IMPORTERS,
    PngMetadataImporter,
    PromptImporter,
    WorkflowImporter,
)
from nodestudio.interop.comfy.ir import EXTRA_KEY
from nodestudio.interop.comfy.mapping import all_rules, export_rules
from nodestudio.interop.comfy.workflow_export import export_workflow

__all__ = [
    "COMFY_IMPORTERS", "EXTRA_KEY", "PLACEHOLDER_PREFIX", "ComfyExportError",
    "PngMetadataImporter", "PromptImporter", "WorkflowImporter", "comfy_metadata",
    "export_api_prompt", "export_ui_workflow", "placeholder_type", "prompt_metadata",
]

_logger = logging.getLogger("nodestudio.interop.comfy")


def export_api_prompt(graph: Graph, registry: NodeRegistry) -> dict[str, Any]:
    """``graph`` as a ComfyUI API prompt; raises ComfyExportError (a GraphError) naming every
    node that ComfyUI cannot express."""
    return export_prompt(graph, registry, export_rules(all_rules()))


def export_ui_workflow(graph: Graph, registry: NodeRegistry,
                       subgraphs: bool = True) -> dict[str, Any]:
    """``graph`` as a ComfyUI UI workflow (what ComfyUI saves and opens, with the layout);
    raises ComfyExportError as :func:`export_api_prompt` does. Subgraph instances stay
    ComfyUI subgraphs, or with ``subgraphs`` False are written as their nodes."""
    return export_workflow(graph, registry, export_rules(all_rules()), subgraphs)


def prompt_metadata(graph_document: Mapping[str, Any], registry: NodeRegistry) -> str | None:
    """ComfyUI's ``prompt`` PNG chunk for a saved image (see :func:`comfy_metadata`)."""
    return comfy_metadata(graph_document, registry).get("prompt")


def comfy_metadata(graph_document: Mapping[str, Any], registry: NodeRegistry
                   ) -> dict[str, str]:
    """ComfyUI's PNG chunks for a saved image: ``prompt`` (the graph as an API prompt) and
    ``workflow`` (as a UI workflow, with the layout, what ComfyUI shows when an image is
    dropped on it), each when ComfyUI can express the graph that way.

    Never raises: a saved image must not fail over optional metadata. The caller hands over
    its registry: interop sits below the app layer and never builds one itself.
    """
    try:
        graph = files.from_document(dict(graph_document))
    except GraphError:
        return {}
    except Exception:  # best effort by design: log the bug, keep the image
        _logger.warning("could not read the graph for ComfyUI metadata", exc_info=True)
        return {}
    chunks: dict[str, str] = {}
    for chunk, export in (("prompt", export_api_prompt), ("workflow", export_ui_workflow)):
        try:
            chunks[chunk] = json.dumps(export(graph, registry), ensure_ascii=False)
        except GraphError:
            continue
        except Exception:
            _logger.warning("could not write ComfyUI's %s metadata", chunk, exc_info=True)
    return chunks
