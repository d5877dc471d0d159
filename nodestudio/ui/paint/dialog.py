"""The paint editor window: tools, brush settings and layers around a :class:`PaintCanvas`.

It edits a copy of the drawing; Apply hands the two layers back as the Paint node's stored
PNG values (nodestudio.ui.paint.editing turns that into one undoable graph edit), Cancel
leaves the graph untouched.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup, QColor, QIcon, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QColorDialog,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QSlider,
    QSpinBox,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from nodestudio.ui.paint.canvas import PaintCanvas
from nodestudio.ui.paint.layers import (
    MASK,
    SKETCH,
    decode_mask,
    decode_sketch,
    encode_mask,
    encode_sketch,
)
from nodestudio.ui.paint.strokes import BRUSH, ERASER, FILL

MAX_BRUSH = 1024


class PaintEditor(QDialog):
    def __init__(self, background: QImage, mask_png: str = "", sketch_png: str = "",
                 title: str = "Paint", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("paintEditor")
        self.setWindowTitle(f"{title} — Mask / Sketch")
        self.canvas = PaintCanvas(background, self)
        width, height = background.width(), background.height()
        self.canvas.set_layers(decode_mask(mask_png, width, height),
                               decode_sketch(sketch_png, width, height))
        self.tool_actions: dict[str, QAction] = {}
        toolbar = self._build_toolbar()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Apply
                                   | QDialogButtonBox.StandardButton.Cancel, self)
        self.apply_button = buttons.button(QDialogButtonBox.StandardButton.Apply)
        self.apply_button.setDefault(True)
        self.apply_button.clicked.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(toolbar)
        layout.addWidget(self.canvas, 1)
        footer = QHBoxLayout()
        self.hint = QLabel("Shift: straight line · Middle drag or Space: pan · Wheel: zoom",
                           self)
        self.hint.setEnabled(False)
        footer.addWidget(self.hint, 1)
        footer.addWidget(buttons)
        layout.addLayout(footer)
        self.resize(1180, 780)
        self.set_layer(SKETCH)

    # -- building -------------------------------------------------------------------------------

    def _build_toolbar(self) -> QToolBar:
        bar = QToolBar(self)
        group = QActionGroup(self)
        for tool, text, key in ((BRUSH, "Brush", "B"), (ERASER, "Eraser", "E"),
                                (FILL, "Fill", "G")):
            action = QAction(text, self)
            action.setCheckable(True)
            action.setShortcut(QKeySequence(key))
            action.setToolTip(f"{text} ({key})")
            action.triggered.connect(lambda _c=False, t=tool: self.set_tool(t))
            group.addAction(action)
            bar.addAction(action)
            self.tool_actions[tool] = action
        self.tool_actions[BRUSH].setChecked(True)
        bar.addSeparator()
        self.layer_box = QComboBox(self)
        self.layer_box.addItem("Sketch", SKETCH)
        self.layer_box.addItem("Mask", MASK)
        self.layer_box.setToolTip("The layer strokes go to")
        self.layer_box.currentIndexChanged.connect(
            lambda _i: self.set_layer(self.layer_box.currentData()))
        bar.addWidget(self.layer_box)
        self.size_spin = self._spin(bar, "Size", 1, MAX_BRUSH, int(self.canvas.brush.size))
        self.size_spin.valueChanged.connect(self._brush_changed)
        self.hardness_slider = self._slider(bar, "Hardness", self.canvas.brush.hardness)
        self.opacity_slider = self._slider(bar, "Opacity", self.canvas.brush.opacity)
        self.color_action = QAction("Colour…", self)
        self.color_action.triggered.connect(self.pick_color)
        bar.addAction(self.color_action)
        self._show_color()
        bar.addSeparator()
        for text, handler in (("Clear", self.canvas.clear_layer),
                              ("Invert Mask", self.canvas.invert_mask)):
            action = bar.addAction(text)
            action.triggered.connect(lambda _c=False, h=handler: h())
        self.undo_action = self.canvas.undo_stack.createUndoAction(self, "Undo")
        self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
        self.redo_action = self.canvas.undo_stack.createRedoAction(self, "Redo")
        self.redo_action.setShortcut(QKeySequence.StandardKey.Redo)
        bar.addActions([self.undo_action, self.redo_action])
        fit = bar.addAction("Fit")
        fit.triggered.connect(self.canvas.fit)
        return bar

    def _spin(self, bar: QToolBar, label: str, low: int, high: int, value: int) -> QSpinBox:
        bar.addWidget(QLabel(f" {label} ", self))
        spin = QSpinBox(self)
        spin.setRange(low, high)
        spin.setValue(value)
        spin.setSuffix(" px")
        spin.setFixedWidth(76)
        bar.addWidget(spin)
        return spin

    def _slider(self, bar: QToolBar, label: str, value: float) -> QSlider:
        bar.addWidget(QLabel(f" {label} ", self))
        slider = QSlider(Qt.Orientation.Horizontal, self)
        slider.setRange(0, 100)
        slider.setValue(round(value * 100))
        slider.setFixedWidth(80)
        slider.setToolTip(label)
        slider.valueChanged.connect(self._brush_changed)
        bar.addWidget(slider)
        return slider

    # -- state ----------------------------------------------------------------------------------

    def set_tool(self, tool: str) -> None:
        self.canvas.tool = tool
        self.tool_actions[tool].setChecked(True)
        self.canvas.update()

    def set_layer(self, name: str) -> None:
        self.canvas.active = name
        index = self.layer_box.findData(name)
        if index != self.layer_box.currentIndex():
            self.layer_box.setCurrentIndex(index)
        # The mask has one colour: picking one only makes sense for the sketch.
        self.color_action.setEnabled(name == SKETCH)

    def set_color(self, color: QColor) -> None:
        self.canvas.brush.color = QColor(color)
        self._show_color()

    def pick_color(self) -> None:
        color = QColorDialog.getColor(self.canvas.brush.color, self, "Sketch colour")
        if color.isValid():
            self.set_color(color)

    def _show_color(self) -> None:
        swatch = QPixmap(16, 16)
        swatch.fill(self.canvas.brush.color)
        self.color_action.setIcon(QIcon(swatch))

    def _brush_changed(self) -> None:
        brush = self.canvas.brush
        brush.size = float(self.size_spin.value())
        brush.hardness = self.hardness_slider.value() / 100.0
        brush.opacity = self.opacity_slider.value() / 100.0
        self.canvas.update()

    def values(self) -> dict[str, str]:
        """The drawing as the Paint node stores it."""
        return {"mask_png": encode_mask(self.canvas.layers[MASK]),
                "sketch_png": encode_sketch(self.canvas.layers[SKETCH])}
