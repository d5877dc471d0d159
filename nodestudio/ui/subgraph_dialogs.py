"""The "Subgraph Inputs and Outputs…" dialog: rename the inputs, outputs and promoted
widgets of a definition, reorder its inputs and remove them. Every change is applied at once
as an undo command (so Undo in the window takes it back), and shows on every instance; the
list follows undo and redo made in the window while it is open."""

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
        self.remove = QPushButton("Remove", self)
        self.remove.setToolTip("Remove the selected input or output (and the links to it on "
                               "every instance), or stop promoting the selected widget")
        row.addWidget(self.up)
        row.addWidget(self.down)
        row.addWidget(self.remove)
        row.addStretch(1)
        column.addLayout(row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        column.addWidget(buttons)
        self.up.clicked.connect(lambda: self.move_selected(-1))
        self.down.clicked.connect(lambda: self.move_selected(1))
        self.remove.clicked.connect(self.remove_selected)
        self.list.itemChanged.connect(self._renamed)
        self.list.itemSelectionChanged.connect(self._update_buttons)
        # Connected to the dialog: the connection goes when the dialog is deleted.
        editor.undo_stack.indexChanged.connect(self._undone)
        self.fill()

    def fill(self, select: tuple[str, str] | None = None) -> None:
        """List the ports under a heading per kind (an input and an output may share a name)
        and select ``select`` = (kind, name) if it is still there."""
        self.list.blockSignals(True)
        self.list.clear()
        sections = (("input", "Inputs", self.definition.inputs),
                    ("widget", "Promoted widgets", self.definition.widgets),
                    ("output", "Outputs", self.definition.outputs))
        for kind, heading, ports in sections:
            if not ports:
                continue
            title = QListWidgetItem(heading, self.list)
            title.setFlags(Qt.ItemFlag.NoItemFlags)  # a label: not selectable nor editable
            font = title.font()
            font.setBold(True)
            title.setFont(font)
            for port in ports:
                item = QListWidgetItem(port.name, self.list)
                item.setData(PORT_ROLE, (kind, port.name))
                item.setToolTip({"input": "input socket", "widget": "promoted widget",
                                 "output": "output socket"}[kind])
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                if (kind, port.name) == select:
                    self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self._update_buttons()

    def selected(self) -> tuple[str, str] | None:
        """(kind, name) of the selected row, or None."""
        item = self.list.currentItem()
        return item.data(PORT_ROLE) if item is not None and item.isSelected() else None

    def _update_buttons(self) -> None:
        chosen = self.selected()
        self.remove.setEnabled(chosen is not None)
        self.up.setEnabled(chosen is not None and chosen[0] == "input")
        self.down.setEnabled(chosen is not None and chosen[0] == "input")

    def _undone(self, _index: int) -> None:
        """Any undo step may have changed the ports: show them again, keeping the row."""
        self.fill(select=self.selected())

    def remove_selected(self) -> None:
        """Remove the selected input or output with the links to it, or unpromote the
        selected widget: the boundary's right-click commands, one undo step."""
        chosen = self.selected()
        if chosen is None:
            return
        kind, name = chosen
        if kind == "widget":
            editing.unpromote(self.editor, self.definition, name)
        else:
            editing.remove_port(self.editor, self.definition, name, output=kind == "output")
        self.fill()

    def _renamed(self, item: QListWidgetItem) -> None:
        kind, old = item.data(PORT_ROLE)
        new = item.text()
        editing.rename_port(self.editor, self.definition, old, new, output=kind == "output")
        self.fill(select=(kind, new.strip() or old))

    def move_selected(self, delta: int) -> None:
        """Move the selected input up (-1) or down (+1); QWidget.move is the window's."""
        item = self.list.currentItem()
        if item is None or item.data(PORT_ROLE)[0] != "input":
            return
        name = item.data(PORT_ROLE)[1]
        editing.move_input(self.editor, self.definition, name, delta)
        self.fill(select=("input", name))
