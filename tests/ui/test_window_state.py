"""The window's settings persist (theme, layout, recent files), and the theme redraws nodes."""

from __future__ import annotations

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter


def _render(item) -> QImage:
    area = item.sceneBoundingRect()
    image = QImage(int(area.width()), int(area.height()), QImage.Format.Format_RGB32)
    image.fill(QColor("black"))
    painter = QPainter(image)
    item.scene().render(painter, QRectF(image.rect()), area)
    painter.end()
    return image


def test_theme_and_dock_layout_survive_a_restart(make_window, tmp_path):
    first = make_window()
    item = first.scene.node_items[first.editor.add_node("test.filter", (0, 0))]
    dark = _render(item)
    first.set_theme("light")
    assert _render(item) != dark  # cached node pictures were redrawn in the new colours
    first.log_dock.hide()
    first.recent.add(tmp_path / "a.json")
    assert first.close()
    second = make_window()
    assert second.theme.name == "light"
    assert second.log_dock.isHidden()
    assert second.recent.paths() == [(tmp_path / "a.json").resolve()]
    second.set_theme("dark")


def test_window_settings_live_in_the_config_folder(monkeypatch, tmp_path):
    from nodestudio.ui.main_window import gui_settings

    monkeypatch.setenv("NODESTUDIO_HOME", str(tmp_path))
    assert gui_settings().fileName() == str(tmp_path / "config" / "gui.ini")
