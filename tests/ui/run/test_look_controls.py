"""Issue 13, item 14: the Cancel Run icon is a stop sign (filled, not an empty box), the batch
count's arrows show in both themes, and each node's badge shows that node's own memory."""

from __future__ import annotations

import re

import numpy as np
import pytest
from fakes import make_bench
from PySide6.QtCore import QPoint
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QStyle, QStyleOptionSpinBox

from nodestudio.api import FLOAT, IMAGE, NodePack, Output, node
from nodestudio.app.packs import create_registry
from nodestudio.app.queue import FINISHED
from nodestudio.ui.icons import icon
from nodestudio.ui.theme import THEMES

BIG_BYTES = 64 * 2**20


@node("look.big", category="test", output_node=True, description="Holds 64 MB",
      outputs=[Output("image", IMAGE)])
def big_image() -> np.ndarray:
    # np.ones writes every page: the memory is really resident (np.zeros may not be).
    return np.ones((1, 2048, 2048, 4), np.float32)[..., :3]


@node("look.tiny", category="test", output_node=True, description="Holds a number",
      outputs=[Output("value", FLOAT)])
def tiny_value() -> float:
    return 1.0


@pytest.mark.parametrize("theme_name", ["dark", "light"])
def test_the_cancel_icon_is_a_filled_stop_square(kit, theme_name):
    theme = THEMES[theme_name]
    for image in (icon("stop", theme).pixmap(24, 24).toImage(),
                  kit.controller.cancel_action.icon().pixmap(24, 24).toImage()):
        # The middle of the icon is painted (an unchecked box is empty inside) ...
        for x, y in ((12, 12), (10, 10), (14, 14)):
            assert image.pixelColor(x, y).alpha() > 200, (theme_name, x, y)
        # ... and its corners are not (a square inside the icon, not a filled tile).
        assert image.pixelColor(1, 1).alpha() < 30


def _arrow_pixels(spin, text: QColor) -> int:
    """Pixels of the up and down buttons in (about) the theme's text colour."""
    picture = spin.grab().toImage()
    option = QStyleOptionSpinBox()
    spin.initStyleOption(option)
    count = 0
    for part in (QStyle.SubControl.SC_SpinBoxUp, QStyle.SubControl.SC_SpinBoxDown):
        rect = spin.style().subControlRect(QStyle.ComplexControl.CC_SpinBox, option, part, spin)
        for x in range(rect.left(), rect.right() + 1):
            for y in range(rect.top(), rect.bottom() + 1):
                pixel = picture.pixelColor(QPoint(x, y))
                distance = (abs(pixel.red() - text.red()) + abs(pixel.green() - text.green())
                            + abs(pixel.blue() - text.blue()))
                count += distance < 90
    return count


@pytest.mark.parametrize("theme_name", ["dark", "light"])
def test_the_batch_counts_arrows_are_visible(kit, theme_name):
    kit.window.set_theme(theme_name)
    spin = kit.controller.batch_spin
    spin.setValue(5)  # both directions possible
    QApplication.processEvents()
    assert _arrow_pixels(spin, QColor(kit.window.theme.text)) >= 8


def _badge_bytes(text: str) -> int:
    match = re.search(r"\+([\d.]+) (KB|MB|GB) (RAM|VRAM)", text)
    assert match, f"no memory of the node's own in {text!r}"
    scale = {"KB": 2**10, "MB": 2**20, "GB": 2**30}[match.group(2)]
    return int(float(match.group(1)) * scale)


def test_each_badge_shows_that_nodes_own_memory(make_kit):
    bench = make_bench()
    registry = create_registry(entry_points=False)
    registry.add_pack(NodePack("test", [*bench.registry, big_image, tiny_value]))
    kit = make_kit(registry=registry, bench=bench)
    editor = kit.window.editor
    big = editor.add_node("look.big", (0, 0))
    tiny = editor.add_node("look.tiny", (0, 300))
    job = kit.run()
    assert job.status == FINISHED
    big_badge, tiny_badge = kit.controller.board.badge(big), kit.controller.board.badge(tiny)
    assert big_badge is not None and tiny_badge is not None
    assert _badge_bytes(big_badge.text) >= BIG_BYTES * 0.6
    assert _badge_bytes(tiny_badge.text) < 8 * 2**20
    # Labelled for what it is: an increase, and what the outputs keep.
    assert "raised" in big_badge.tooltip and "outputs hold" in big_badge.tooltip
