"""Issue 13, item 14 (eliding): a file name too long for its node keeps its start, the end of
its stem and its extension ("contr…ape.png"), instead of being cut anywhere in the middle of
the whole text ("contro…pe.png") or at its end."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRectF
from PySide6.QtGui import QImage, QPainter

from nodestudio.app.packs import create_registry
from nodestudio.ui.canvas.widgets import paint_widget

ELLIPSIS = "…"
NAME = "controlnet_shape.png"


class RecordingPainter(QPainter):
    """A painter that remembers the text it draws (paint_widget calls it from Python)."""

    def __init__(self, device: QImage) -> None:
        super().__init__(device)
        self.texts: list[str] = []

    def drawText(self, *args: Any) -> None:
        self.texts.append(next(a for a in args if isinstance(a, str)))
        super().drawText(*args)


def _halves(text: str, suffix: str) -> tuple[str, str]:
    head, _, rest = text.partition(ELLIPSIS)
    assert rest.endswith(suffix), text
    return head, rest[: len(rest) - len(suffix)]


def test_file_names_keep_the_extension_and_both_ends_of_the_stem():
    from nodestudio.ui.canvas.widgets import elide_value

    assert elide_value(NAME, 13, len) == "cont…hape.png"
    assert elide_value(NAME, 12, len) == "cont…ape.png"
    assert elide_value("my.holiday.photo.jpeg", 12, len) == "my.…oto.jpeg"
    assert elide_value(NAME, 30, len) == NAME  # fits: untouched
    assert elide_value("a long prompt value here", 10, len) == "a lon…here"


def test_a_narrow_load_image_node_shows_start_and_end_of_the_file_name(make_window, tmp_path):
    window = make_window(create_registry())
    node_id = window.add_node_at("image.load", window.view.scene_center())
    window.editor.set_value(node_id, "image", NAME)
    window.editor.set_node_layout([node_id], "size", (200.0, 90.0), "Resize node")
    item = window.node_item(node_id)
    [slot] = [slot for slot in item.geometry.widgets if slot.name == "image"]
    image = QImage(400, 200, QImage.Format.Format_ARGB32)
    painter = RecordingPainter(image)
    painter.translate(-slot.rect.left() + 10, -slot.rect.top() + 10)
    paint_widget(painter, slot, item.value("image"), window.theme, False)
    value_text = painter.texts[-1]
    width = painter.fontMetrics().horizontalAdvance(value_text)
    painter.end()
    assert value_text != NAME and ELLIPSIS in value_text  # the node is too narrow for it
    head, end = _halves(value_text, ".png")
    assert NAME.startswith(head) and NAME[: -len(".png")].endswith(end)
    assert len(end) >= len(head) - 1  # both ends of the stem, balanced
    assert width <= QRectF(slot.rect).width()
    # The value shown beside an input socket ("image = …") keeps the extension too.
    assert item._short_value("image").endswith(".png")
