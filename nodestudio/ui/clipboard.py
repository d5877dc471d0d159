"""Copy and paste of nodes as graph JSON, so they paste across windows and into text."""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QMimeData, QPointF
from PySide6.QtGui import QGuiApplication

from nodestudio.api.registry import NodeRegistry
from nodestudio.app.formats import read_graph_bytes
from nodestudio.graph import files
from nodestudio.graph.layout import Point
from nodestudio.graph.model import Graph

GRAPH_MIME = "application/x-nodestudio-graph+json"
#: Where a paste lands when the mouse is not over the canvas: beside the originals.
PASTE_STEP = (40.0, 40.0)


def copy_nodes(graph: Graph, node_ids: Iterable[str]) -> str:
    """Put the nodes (and the links between them) on the clipboard; returns the JSON."""
    text = files.dumps(graph.subgraph(node_ids))
    mime = QMimeData()
    mime.setText(text)
    mime.setData(GRAPH_MIME, text.encode("utf-8"))
    QGuiApplication.clipboard().setMimeData(mime)
    return text


def clipboard_text() -> str:
    mime = QGuiApplication.clipboard().mimeData()
    if mime is None:
        return ""
    if mime.hasFormat(GRAPH_MIME):
        return bytes(mime.data(GRAPH_MIME).data()).decode("utf-8", errors="replace")
    return mime.text() if mime.hasText() else ""


def graph_from_text(text: str, registry: NodeRegistry) -> Graph | None:
    """The graph in ``text`` (NodeStudio JSON or an importable workflow); None if it holds
    none. Raises GraphFileError when it looks like a graph but is broken."""
    if not text.lstrip().startswith("{"):
        return None
    return read_graph_bytes(text.encode("utf-8"), registry)


def paste_offset(part: Graph, at: QPointF | None) -> Point:
    """How far to move ``part`` so that its top-left node lands at ``at``."""
    positions = [part.layout.nodes[n.id].pos for n in part if n.id in part.layout.nodes]
    if at is None or not positions:
        return PASTE_STEP
    left = min(x for x, _ in positions)
    top = min(y for _, y in positions)
    return (round(at.x() - left), round(at.y() - top))
