"""Render the PNG icon sizes from the SVG with Qt's SVG renderer (run after editing the SVG):

    QT_QPA_PLATFORM=offscreen python tools/render_icons.py

The PNGs are committed so installing needs neither Qt's SVG module nor a display.
"""

from __future__ import annotations

from pathlib import Path

SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
HERE = Path(__file__).resolve().parents[1] / "packaging" / "linux" / "icons"
NAME = "org.nodestudio.NodeStudio"


def render() -> list[Path]:
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication([])
    renderer = QSvgRenderer(str(HERE / f"{NAME}.svg"))
    written = []
    for size in SIZES:
        image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(Qt.GlobalColor.transparent)
        painter = QPainter(image)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        renderer.render(painter)
        painter.end()
        path = HERE / f"{size}x{size}" / f"{NAME}.png"
        path.parent.mkdir(exist_ok=True)
        if not image.save(str(path)):
            raise SystemExit(f"could not write {path}")
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in render():
        print(written_path)
