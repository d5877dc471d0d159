"""The "Subgraph Inputs and Outputs…" dialog: rename the inputs, outputs and promoted
widgets of a definition and reorder its inputs. Every change is applied at once as an undo
command (so Undo in the window takes it back), and shows on every instance."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from nodestudio.graph.subgraphs import SubgraphDefinition
from nodestudio.ui import subgraph_editing as editing
from nodestudio.ui.editor import GraphEditor

#: Item data: (kind, current name); kind is "input", "widget" or "output".
PORT_ROLE = Qt.ItemDataRole.UserRole


class PortsDialog(QDialog):
    def __init__(self, editor: GraphEditor, definition: SubgraphDefinition,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("subgraphPortsDialog")
        self.setWindowTitle(f"{definition.name}: inputs and outputs")
        self.editor, self.definition = editor, definition
        column = QVBoxLayout(self)
        column.addWidget(QLabel("Double-click a name to rename it; inputs keep their order "
                                "on every instance.", self))
        self.list = QListWidget(self)
        column.addWidget(self.list)
        row = QHBoxLayout()
        self.up = QPushButton("Move Up", self)
        self.down = QPushButton("Move Down", self)
        row.addWidget(self.up)
        row.addWidget(self.down)
        row.addStretch(1)
        column.addLayout(row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        column.addWidget(buttons)
        self.up.clicked.connect(lambda: self.move(-1))
        self.down.clicked.connect(lambda: self.move(1))
        self.list.itemChanged.connect(self._renamed)
        self.fill()

    def fill(self, select: str | None = None) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        rows = [("input", item.name) for item in self.definition.inputs]
        rows += [("widget", item.name) for item in self.definition.widgets]
        rows += [("output", item.name) for item in self.definition.outputs]
        for kind, name in rows:
            item = QListWidgetItem(name, self.list)
            item.setData(PORT_ROLE, (kind, name))
            item.setToolTip({"input": "input socket", "widget": "promoted widget",
                             "output": "output socket"}[kind])
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            if name == select:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)

    def _renamed(self, item: QListWidgetItem) -> None:
        kind, old = item.data(PORT_ROLE)
        new = item.text()
        editing.rename_port(self.editor, self.definition, old, new, output=kind == "output")
        self.fill(select=new.strip() or old)

    def move(self, delta: int) -> None:
        item = self.list.currentItem()
        if item is None or item.data(PORT_ROLE)[0] != "input":
            return
        name = item.data(PORT_ROLE)[1]
        editing.move_input(self.editor, self.definition, name, delta)
        self.fill(select=name)
