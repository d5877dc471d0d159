"""The node library: every node type by category, searchable; drag or double-click to add."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QDrag
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDockWidget,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nodestudio.api.registry import NodeRegistry
from nodestudio.ui.canvas.view import NODE_TYPE_MIME
from nodestudio.ui.palette import score_node_type
from nodestudio.ui.theme import category_color

TYPE_ROLE = Qt.ItemDataRole.UserRole


class _NodeTree(QTreeWidget):
    def startDrag(self, actions: Qt.DropAction) -> None:
        item = self.currentItem()
        type_id = item.data(0, TYPE_ROLE) if item is not None else None
        if not type_id:
            return
        mime = QMimeData()
        mime.setData(NODE_TYPE_MIME, type_id.encode("utf-8"))
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.exec(Qt.DropAction.CopyAction)


class LibraryDock(QDockWidget):
    #: Add a node of this type (at the centre of the canvas).
    add_requested = Signal(str)

    def __init__(self, registry: NodeRegistry, parent: QWidget | None = None) -> None:
        super().__init__("Nodes", parent)
        self.setObjectName("libraryDock")
        self.registry = registry
        body = QWidget(self)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        self.filter = QLineEdit(body)
        self.filter.setPlaceholderText("Filter nodes…")
        self.filter.setClearButtonEnabled(True)
        self.tree = _NodeTree(body)
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setIndentation(14)
        self.tree.setAnimated(False)
        layout.addWidget(self.filter)
        layout.addWidget(self.tree)
        self.setWidget(body)
        self.filter.textChanged.connect(self.apply_filter)
        self.tree.itemActivated.connect(self._activated)
        self.populate()

    def populate(self) -> None:
        self.tree.clear()
        for category, node_types in self.registry.by_category().items():
            header = QTreeWidgetItem([category])
            header.setFlags(Qt.ItemFlag.ItemIsEnabled)
            color = category_color(category)
            dark = QApplication.palette().window().color().lightness() < 128
            header.setForeground(0, color.lighter(160) if dark else color.darker(115))
            font = header.font(0)
            font.setBold(True)
            header.setFont(0, font)
            for node_type in node_types:
                child = QTreeWidgetItem([node_type.display_name])
                child.setData(0, TYPE_ROLE, node_type.id)
                child.setToolTip(0, f"{node_type.id}\n{node_type.description}")
                header.addChild(child)
            self.tree.addTopLevelItem(header)
        self._add_subgraphs()
        self.tree.collapseAll()

    def _add_subgraphs(self) -> None:
        """The shipped templates and the user's saved subgraphs, under "Subgraphs"."""
        from nodestudio.ui.subgraph_library_items import panel_entries

        entries = panel_entries()
        if not entries:
            return
        header = QTreeWidgetItem(["Subgraphs"])
        header.setFlags(Qt.ItemFlag.ItemIsEnabled)
        font = header.font(0)
        font.setBold(True)
        header.setFont(0, font)
        for entry in entries:
            child = QTreeWidgetItem([entry.name])
            child.setData(0, TYPE_ROLE, entry.panel_id)
            child.setToolTip(0, f"{'Template' if entry.shipped else 'Your subgraph'}: "
                                f"{entry.path}")
            header.addChild(child)
        self.tree.addTopLevelItem(header)

    def refresh_subgraphs(self) -> None:
        self.populate()
        self.apply_filter(self.filter.text())

    def apply_filter(self, text: str) -> None:
        query = text.strip()
        for index in range(self.tree.topLevelItemCount()):
            header = self.tree.topLevelItem(index)
            visible = 0
            for child_index in range(header.childCount()):
                child = header.child(child_index)
                node_type = self.registry.get(child.data(0, TYPE_ROLE))
                matches = not query or (node_type is not None
                                        and score_node_type(query, node_type) is not None) \
                    or query.lower() in child.text(0).lower()
                child.setHidden(not matches)
                visible += matches
            header.setHidden(visible == 0)
            header.setExpanded(bool(query) and visible > 0)

    def visible_type_ids(self) -> list[str]:
        found = []
        for index in range(self.tree.topLevelItemCount()):
            header = self.tree.topLevelItem(index)
            for child_index in range(header.childCount()):
                child = header.child(child_index)
                if not child.isHidden() and not header.isHidden():
                    found.append(child.data(0, TYPE_ROLE))
        return found

    def _activated(self, item: QTreeWidgetItem) -> None:
        type_id = item.data(0, TYPE_ROLE)
        if type_id:
            self.add_requested.emit(type_id)
        else:
            item.setExpanded(not item.isExpanded())
