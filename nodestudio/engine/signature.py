"""Signatures: what a node's outputs depend on, hashed, so equal work is never done twice.

signature = sha256(type id, type version, widget values, and for each linked input the
signature of its upstream node and the output it takes), plus a fingerprint for nodes that are
not deterministic. The canonical JSON is stable across processes and machines.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import secrets
from collections.abc import Iterable
from typing import Any

from nodestudio.api.registry import NodeRegistry
from nodestudio.api.schema import CONTEXT_PARAMETER, NodeType
from nodestudio.api.sockets import FLOAT
from nodestudio.graph.model import Graph, Node


def widget_values(node: Node, node_type: NodeType) -> dict[str, Any]:
    """The node's widget values with defaults filled in (values of unknown names left out)."""
    values = {}
    for spec in node_type.inputs:
        if spec.has_widget:
            value = node.values.get(spec.name, spec.default)
            if spec.type == FLOAT and isinstance(value, int) and not isinstance(value, bool):
                # 1 and 1.0 must not make two signatures; an integer beyond float range (a
                # hostile file's 10**400, which validation refuses) stays as it is.
                with contextlib.suppress(OverflowError):
                    value = float(value)
            values[spec.name] = value
    return values


def node_signature(
    graph: Graph, registry: NodeRegistry, node_id: str, upstream: dict[str, str],
    environment: Any = None,
) -> str:
    node = graph.node(node_id)
    node_type = registry.get(node.type)
    if node_type is None:
        raise KeyError(f"unknown node type {node.type!r}")
    values = widget_values(node, node_type)
    parts: list[Any] = [node_type.id, node_type.version]
    for spec in sorted(node_type.inputs, key=lambda s: s.name):
        link = graph.link_into(node_id, spec.name)
        if link is not None:
            parts.append([spec.name, "link", upstream[link.source], link.output])
        elif spec.has_widget:
            parts.append([spec.name, "value", values[spec.name]])
        else:
            parts.append([spec.name, "none"])
    if not node_type.deterministic:
        parts.append(["fingerprint", _fingerprint(node_type, values, environment)])
    return _digest(parts)


def signatures(
    graph: Graph, registry: NodeRegistry, order: Iterable[str], environment: Any = None
) -> dict[str, str]:
    """Signatures of the nodes in ``order`` (a topological order of a validated graph).

    ``environment`` (a RunEnvironment: input_dir, output_dir, models) is handed as ``ctx`` to
    fingerprint functions that declare it, e.g. to find the file a loader will read.
    """
    result: dict[str, str] = {}
    for node_id in order:
        result[node_id] = node_signature(graph, registry, node_id, result, environment)
    return result


def _fingerprint(node_type: NodeType, values: dict[str, Any], environment: Any) -> Any:
    function = node_type.fingerprint
    if function is None:
        return secrets.token_hex(16)  # no way to tell: run every time
    kwargs = dict(values)
    if environment is not None and CONTEXT_PARAMETER in inspect.signature(function).parameters:
        kwargs[CONTEXT_PARAMETER] = environment
    try:
        return function(**kwargs)
    except Exception:
        return secrets.token_hex(16)


def _digest(parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      default=repr)
    return hashlib.sha256(text.encode("ascii")).hexdigest()
