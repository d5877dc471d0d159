"""Properties of the selected node: title, mode and every value, with real Qt editors.

The form follows the model (it subscribes to the graph) and edits through the editor, so a
change made on the canvas shows here and the other way round.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from nodestudio.api.schema import SEED_CONTROLS, InputSpec
from nodestudio.api.sockets import BOOLEAN, FLOAT, INT
from nodestudio.graph.model import (
    GraphEvent,
    LayoutChanged,
    LinkAdded,
    LinkRemoved,
    NodeChanged,
    NodeRemoved,
    ValueChanged,
)
from nodestudio.ui.canvas.geometry import foldable_inputs, pretty, widget_kind
from nodestudio.ui.canvas.scene import NodeScene
from nodestudio.ui.canvas.widgets import decimals, number_step, parse_typed
from nodestudio.ui.editor import GraphEditor

_INT32 = 2**31 - 1
MODES = ("normal", "muted", "bypassed")
#: Value editors may shrink to this: a spin box's own minimum follows its range (±10¹² is
#: 210 px), which pushed the form past the panel and under a horizontal scrollbar.
MIN_FIELD_WIDTH = 56
#: The panel's narrowest: a long label's field then wraps below it (QFormLayout.WrapLongRows).
MIN_PANEL_WIDTH = 230


class PropertiesDock(QDockWidget):
    def __init__(self, editor: GraphEditor, scene: NodeScene, parent: QWidget | None = None
                 ) -> None:
        super().__init__("Properties", parent)
        self.setObjectName("propertiesDock")
        self.editor, self.scene = editor, scene
        self.node_id: str | None = None
        self.setters: dict[str, Callable[[Any], None]] = {}
        self.editors: dict[str, QWidget] = {}
        self.form: QFormLayout | None = None
        #: The rows of each advanced input (value, seed control), shown while the Advanced
        #: section is open or while the input is in use (as on the canvas).
        self.advanced_rows: dict[str, list[QWidget]] = {}
        #: Whether the Advanced section is open: it opens with the node's show_advanced and
        #: can be opened here alone (a view choice, so not an undoable edit).
        self.advanced_open = False
        self._gesture = object()
        self._unsubscribe: Callable[[], None] | None = None
        self.scroll = QScrollArea(self)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        # The form wraps to the panel's width (long rows wrap, text wraps): never sideways.
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setMinimumWidth(MIN_PANEL_WIDTH)
        self.setWidget(self.scroll)
        scene.selectionChanged.connect(self.show_selection)
        editor.graph_replaced.connect(self._graph_replaced)
        editor.level_changed.connect(self._graph_replaced)
        self._graph_replaced()

    def _graph_replaced(self, *_args: Any) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = self.editor.level.subscribe(self._on_event)
        self.show_selection()

    def show_selection(self) -> None:
        try:
            selected = self.scene.selected_node_ids()
        except RuntimeError:  # the scene is being torn down
            return
        self.show_node(selected[0] if len(selected) == 1 else None, len(selected))

    def show_node(self, node_id: str | None, count: int = 1) -> None:
        self.node_id = node_id
        self.setters.clear()
        self.editors.clear()
        self.advanced_rows.clear()
        self.form = None
        self._gesture = object()
        body = QWidget()
        outer = QVBoxLayout(body)
        outer.setContentsMargins(10, 10, 10, 10)
        if node_id is None or node_id not in self.editor.level:
            text = f"{count} nodes selected" if count > 1 else "Select a node to edit it here."
            hint = QLabel(text, body)
            hint.setObjectName("dim")
            hint.setWordWrap(True)
            outer.addWidget(hint)
            outer.addStretch(1)
            self.scroll.setWidget(body)
            return
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        outer.addLayout(form)
        self.form = form
        self._build(form, node_id)
        outer.addStretch(1)
        self.scroll.setWidget(body)

    def _build(self, form: QFormLayout, node_id: str) -> None:
        node = self.editor.level.node(node_id)
        node_type = self.editor.type_of(node)
        title = QLineEdit(node.title or "")
        title.setPlaceholderText(node_type.display_name if node_type else node.type)
        title.editingFinished.connect(lambda: self.editor.set_title(node_id, title.text()))
        form.addRow("Title", title)
        self.editors["__title__"] = title
        self.setters["__title__"] = lambda _v: _set_text(title, node.title or "")
        kind = ElidedLabel(f"{node.type}" + (f"  ·  {node_type.pack}" if node_type else
                                             "  ·  unknown type (kept as saved)"))
        kind.setObjectName("dim")
        form.addRow("Type", kind)
        if node_type is not None and node_type.description:
            description = QLabel(node_type.description)
            description.setWordWrap(True)
            description.setObjectName("dim")
            # Across both columns: beside an empty label it was clipped in a narrow panel.
            form.addRow(description)
        mode = QComboBox()
        mode.addItems(MODES)
        mode.setCurrentText(node.mode)
        mode.currentTextChanged.connect(lambda m: self.editor.set_mode([node_id], m))
        form.addRow("Mode", mode)
        self.editors["__mode__"] = mode
        self.setters["__mode__"] = lambda _v: _set_combo(mode, node.mode)
        if node_type is None:
            for name, value in node.values.items():
                label = QLabel(json.dumps(value, ensure_ascii=False)[:200])
                label.setWordWrap(True)
                label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                form.addRow(pretty(name), label)
            return
        widget_inputs = [spec for spec in node_type.inputs if spec.has_widget]
        for spec in widget_inputs:
            if not spec.advanced:
                self._add_value_row(form, node_id, spec)
        advanced = [spec for spec in widget_inputs if spec.advanced]
        if advanced:
            self._add_advanced_section(form, node_id, advanced)

    def _add_advanced_section(self, form: QFormLayout, node_id: str,
                              specs: list[InputSpec]) -> None:
        header = QToolButton()
        header.setObjectName("advancedSection")
        header.setText(f"Advanced ({len(specs)})")
        header.setToolTip("Inputs few graphs change; those in use show even when closed")
        header.setCheckable(True)
        header.setAutoRaise(True)
        header.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.advanced_open = self.editor.level.layout.node(node_id).show_advanced
        form.addRow(header)
        self.editors["__advanced__"] = header
        for spec in specs:
            self.advanced_rows[spec.name] = self._add_value_row(form, node_id, spec)

        def sync_header(_value: Any = None) -> None:
            header.blockSignals(True)
            header.setChecked(self.advanced_open)
            header.blockSignals(False)
            header.setArrowType(Qt.ArrowType.DownArrow if self.advanced_open
                                else Qt.ArrowType.RightArrow)
            self._show_advanced_rows(fold=True)

        def toggled(on: bool) -> None:
            self.advanced_open = on
            sync_header()

        header.toggled.connect(toggled)
        self.setters["__advanced__"] = sync_header
        sync_header()

    def _show_advanced_rows(self, fold: bool) -> None:
        """Show the advanced rows that are in use (all of them while the section is open);
        with ``fold``, hide the others. Edits only ever reveal rows: a row must not vanish
        while its value is being typed or its link removed."""
        form, node_id = self.form, self.node_id
        if form is None or node_id is None or node_id not in self.editor.level:
            return
        graph = self.editor.level
        node = graph.node(node_id)
        node_type = self.editor.type_of(node)
        linked = {link.input for link in graph.links_into(node_id)}
        foldable = set(foldable_inputs(node, node_type, graph.layout.node(node_id), linked))
        for name, widgets in self.advanced_rows.items():
            shown = self.advanced_open or name not in foldable
            if shown or fold:
                for widget in widgets:
                    form.setRowVisible(widget, shown)

    def _add_value_row(self, form: QFormLayout, node_id: str, spec: InputSpec
                       ) -> list[QWidget]:
        """Add the rows of one widget input; returns their field widgets."""
        editor_widget, setter = self._value_editor(node_id, spec)
        editor_widget.setMinimumWidth(MIN_FIELD_WIDTH)
        self.editors[spec.name] = editor_widget
        self.setters[spec.name] = setter
        setter(self._value(spec))
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(editor_widget, 1)
        as_socket = QToolButton(row)
        as_socket.setText("⇆")
        as_socket.setCheckable(True)
        as_socket.setToolTip("Show this value as an input socket on the node")
        as_socket.toggled.connect(
            lambda on, name=spec.name: self.editor.set_socket_input(node_id, name, on))
        layout.addWidget(as_socket, 0, Qt.AlignmentFlag.AlignTop)
        self.editors[f"__socket__{spec.name}"] = as_socket
        self.setters[f"__socket__{spec.name}"] = lambda _v, name=spec.name, button=as_socket: \
            self._sync_socket_button(name, button, editor_widget)
        self.setters[f"__socket__{spec.name}"](None)
        form.addRow(pretty(spec.name), row)
        rows: list[QWidget] = [row]
        if spec.control_after_generate:
            control = QComboBox()
            control.addItems(SEED_CONTROLS)
            node = self.editor.level.node(node_id)
            control.setCurrentText(node.controls.get(spec.name, "fixed"))
            control.currentTextChanged.connect(
                lambda c, name=spec.name: self.editor.set_control(node_id, name, c))
            self.editors[f"__control__{spec.name}"] = control
            self.setters[f"__control__{spec.name}"] = lambda _v, name=spec.name, box=control: \
                _set_combo(box, self.editor.level.node(node_id).controls.get(name, "fixed"))
            form.addRow("after run", control)
            rows.append(control)
        return rows

    def _sync_socket_button(self, name: str, button: QToolButton, widget: QWidget) -> None:
        node_id = self.node_id
        if node_id is None or node_id not in self.editor.level:
            return
        linked = self.editor.level.link_into(node_id, name) is not None
        shown = name in self.editor.level.layout.node(node_id).socket_inputs
        button.blockSignals(True)
        button.setChecked(shown or linked)
        button.blockSignals(False)
        widget.setEnabled(not linked)
        widget.setToolTip("Linked: the value comes from the link" if linked else "")

    def _value(self, spec: InputSpec) -> Any:
        node = self.editor.level.node(self.node_id)  # type: ignore[arg-type]
        return node.values.get(spec.name, spec.default)

    def _commit(self, node_id: str, name: str, value: Any) -> None:
        self.editor.set_value(node_id, name, value, self._gesture)

    def _end_gesture(self) -> None:
        self._gesture = object()

    def _value_editor(self, node_id: str, spec: InputSpec
                      ) -> tuple[QWidget, Callable[[Any], None]]:
        kind = widget_kind(spec)
        name = spec.name
        if spec.display == "drawing":  # PNG data: a summary and Edit…, never a text field
            from nodestudio.ui.paint.summary import drawing_field

            return drawing_field(name, lambda: self.scene.paint_edit_requested.emit(node_id))
        if kind == "combo":
            return self._combo_editor(node_id, spec)
        if kind == "toggle" or spec.type == BOOLEAN:
            check = QCheckBox()
            check.toggled.connect(lambda on: self._commit(node_id, name, bool(on)))
            return check, lambda v: _blocked(check, check.setChecked, bool(v))
        if spec.type == INT and _fits_int32(spec):
            spin = QSpinBox()
            spin.setRange(int(spec.min if spec.min is not None else -_INT32),
                          int(spec.max if spec.max is not None else _INT32))
            spin.setSingleStep(int(number_step(spec)))
            spin.valueChanged.connect(lambda v: self._commit(node_id, name, int(v)))
            spin.editingFinished.connect(self._end_gesture)
            return spin, lambda v: _blocked(spin, spin.setValue, int(v or 0))
        if spec.type == FLOAT:
            spin = QDoubleSpinBox()
            spin.setDecimals(max(decimals(spec), 2))
            spin.setRange(float(spec.min if spec.min is not None else -1e12),
                          float(spec.max if spec.max is not None else 1e12))
            spin.setSingleStep(float(number_step(spec)))
            spin.valueChanged.connect(lambda v: self._commit(node_id, name, float(v)))
            spin.editingFinished.connect(self._end_gesture)
            return spin, lambda v: _blocked(spin, spin.setValue, float(v or 0.0))
        if kind == "multiline":
            text = QPlainTextEdit()
            text.setMinimumHeight(90)
            text.textChanged.connect(lambda: self._commit(node_id, name, text.toPlainText()))
            return text, lambda v: _set_plain(text, "" if v is None else str(v))
        return self._line_editor(node_id, spec)

    def _combo_editor(self, node_id: str, spec: InputSpec
                      ) -> tuple[QWidget, Callable[[Any], None]]:
        """A drop-down of the choices; a value not among them shows as "(missing)"."""
        name = spec.name
        box = QComboBox()
        box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        choices = self.editor.choices.choices(spec)

        def set_combo(value: Any) -> None:
            box.blockSignals(True)
            box.clear()
            items = list(choices) + ([] if value in choices else [value])
            for choice in items:
                box.addItem(str(choice) + ("" if choice in choices else "  (missing)"),
                            choice)
            box.setCurrentIndex(items.index(value))
            box.blockSignals(False)

        box.currentIndexChanged.connect(
            lambda i: self._commit(node_id, name, box.itemData(i)))
        return box, set_combo

    def _line_editor(self, node_id: str, spec: InputSpec
                     ) -> tuple[QWidget, Callable[[Any], None]]:
        """A text field: strings as typed, integers too big for a spin box checked on Enter."""
        name = spec.name
        line = QLineEdit()
        if spec.type == INT:  # numbers too big for a spin box (seeds)
            def finish() -> None:
                value, problem = parse_typed(spec, line.text())
                if problem is None:
                    self._commit(node_id, name, value)
                else:
                    self.editor.message.emit(f"{pretty(name)}: {problem}", "warning")
                self._end_gesture()

            line.editingFinished.connect(finish)
        else:
            line.textEdited.connect(lambda t: self._commit(node_id, name, t))
            line.editingFinished.connect(self._end_gesture)
        return line, lambda v: _set_text(line, "" if v is None else str(v))

    # -- following the model --------------------------------------------------------------------

    def _on_event(self, event: GraphEvent) -> None:
        node_id = self.node_id
        if node_id is None:
            return
        if isinstance(event, NodeRemoved) and event.node.id == node_id:
            self.show_node(None, 0)
        elif isinstance(event, ValueChanged) and event.node_id == node_id:
            setter = self.setters.get(event.name)
            node_type = self.editor.node_type(node_id)
            spec = node_type.input(event.name) if node_type else None
            if setter is not None and spec is not None:
                setter(self._value(spec))
            if event.name in self.advanced_rows:
                self._show_advanced_rows(fold=False)
        elif isinstance(event, NodeChanged) and event.node_id == node_id:
            if event.field == "type":
                self.show_node(node_id)
                return
            for key in ("__title__", "__mode__"):
                self.setters[key](None)
            for key, setter in self.setters.items():
                if key.startswith("__control__"):
                    setter(None)
        elif isinstance(event, LayoutChanged) and event.node_id == node_id \
                and event.field == "show_advanced" and "__advanced__" in self.setters:
            self.advanced_open = self.editor.level.layout.node(node_id).show_advanced
            self.setters["__advanced__"](None)
        elif (isinstance(event, LinkAdded | LinkRemoved) and event.link.target == node_id) or (
                isinstance(event, LayoutChanged) and event.node_id == node_id
                and event.field == "socket_inputs"):
            for key, setter in self.setters.items():
                if key.startswith("__socket__"):
                    setter(None)
            self._show_advanced_rows(fold=False)


class ElidedLabel(QLabel):
    """One line of text that shortens in the middle (whole in the tooltip) when the panel is
    narrow: a type id has no spaces to wrap at, and a label does not shrink below its text."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.full_text = text
        self.setToolTip(text)

    def minimumSizeHint(self) -> QSize:
        return QSize(MIN_FIELD_WIDTH, super().minimumSizeHint().height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.setText(self.fontMetrics().elidedText(self.full_text, Qt.TextElideMode.ElideMiddle,
                                                   max(self.width(), 1)))


def _fits_int32(spec: InputSpec) -> bool:
    low = spec.min if spec.min is not None else -_INT32
    high = spec.max if spec.max is not None else _INT32
    return low >= -_INT32 and high <= _INT32


def _blocked(widget: QWidget, setter: Callable[[Any], None], value: Any) -> None:
    widget.blockSignals(True)
    setter(value)
    widget.blockSignals(False)


def _set_text(line: QLineEdit, text: str) -> None:
    if line.text() != text:
        _blocked(line, line.setText, text)


def _set_plain(edit: QPlainTextEdit, text: str) -> None:
    if edit.toPlainText() != text:
        _blocked(edit, edit.setPlainText, text)


def _set_combo(box: QComboBox, text: str) -> None:
    if box.currentText() != text:
        _blocked(box, box.setCurrentText, text)
