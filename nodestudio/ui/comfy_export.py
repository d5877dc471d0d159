"""File → Export for ComfyUI: the graph as a ComfyUI workflow (what ComfyUI saves and opens,
with the layout), the same with every subgraph written as its nodes (for a ComfyUI older than
its subgraphs, or a custom-node tool that cannot read them), or as an API prompt (what its
server queues).

The graph is converted before a file is asked for, so a graph ComfyUI cannot express says so
at once (every node and why, in a dialog that leaves the window usable) and nothing is
written. The graph itself is never changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from nodestudio.app.path_rules import write_failure_reason
from nodestudio.graph.files import write_atomic
from nodestudio.graph.problems import GraphError

if TYPE_CHECKING:
    from nodestudio.api.registry import NodeRegistry
    from nodestudio.graph.model import Graph
    from nodestudio.ui.document import Document, RecentFiles
    from nodestudio.ui.editor import GraphEditor


class ComfyFormat(NamedTuple):
    label: str
    #: Added to the graph's name for the suggested file name.
    suffix: str
    export: Callable[[Graph, NodeRegistry], dict[str, Any]]


def _formats() -> dict[str, ComfyFormat]:
    from nodestudio.interop.comfy import export_api_prompt, export_ui_workflow

    def flat_workflow(graph: Graph, registry: NodeRegistry) -> dict[str, Any]:
        return export_ui_workflow(graph, registry, subgraphs=False)

    return {"workflow": ComfyFormat("ComfyUI workflow", "-comfyui", export_ui_workflow),
            "flat_workflow": ComfyFormat("ComfyUI workflow without subgraphs", "-comfyui-flat",
                                         flat_workflow),
            "api": ComfyFormat("ComfyUI API prompt", "-comfyui-api", export_api_prompt)}


class ExportHost(Protocol):
    """What the export uses of the window."""

    editor: GraphEditor
    document: Document
    recent: RecentFiles

    def window(self) -> QWidget: ...
    def report(self, message: str, level: str = "info") -> None: ...


def export_for_comfyui(host: ExportHost, kind: str, path: Path | None = None) -> Path | None:
    """Write the window's graph in ComfyUI's ``kind`` format ("workflow", "flat_workflow" or
    "api") to ``path`` (asked for when None); returns the file written, None when nothing
    was."""
    chosen = _formats()[kind]
    try:
        document = chosen.export(host.editor.graph, host.editor.registry)
    except GraphError as error:
        _show_problems(host, chosen.label, error)
        return None
    target = path or _choose_path(host, chosen)
    if target is None:
        return None
    if target.suffix.lower() != ".json":
        target = target.with_suffix(".json")
    try:  # atomic: an export over an earlier one never leaves half a file
        write_atomic(target, (json.dumps(document, indent=2, ensure_ascii=False) + "\n")
                     .encode("utf-8"))
    except OSError as error:
        reason = write_failure_reason(error, target)
        host.report(f"Could not write {target}: {reason}", "error")
        QMessageBox.warning(host.window(), "Could not export", f"{target}\n\n{reason}")
        return None
    host.report(f"Exported {target} ({chosen.label})", "success")
    return target


def _choose_path(host: ExportHost, chosen: ComfyFormat) -> Path | None:
    start = host.document.save_dialog_start(host.recent)
    suggested = start.with_name(f"{Path(host.document.suggested_name).stem}{chosen.suffix}.json")
    name, _ = QFileDialog.getSaveFileName(host.window(), f"Export as {chosen.label}",
                                          str(suggested), "JSON files (*.json)")
    return Path(name) if name else None


def _show_problems(host: ExportHost, label: str, error: GraphError) -> QMessageBox:
    details = "\n".join(f"• {problem}" for problem in error.problems[:30])
    host.report(f"Cannot export as a {label}: {error.summary}"
                + (f"\n{details}" if details else ""), "error")
    dialog = QMessageBox(QMessageBox.Icon.Warning, f"Cannot export as a {label}",
                         error.summary, QMessageBox.StandardButton.Ok, host.window())
    dialog.setInformativeText(details)
    dialog.setWindowModality(Qt.WindowModality.NonModal)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.setObjectName("comfy_export_problems")
    dialog.show()  # not modal: the window stays usable behind it
    return dialog
