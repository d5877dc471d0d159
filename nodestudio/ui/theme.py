"""Colours and fonts of the window and the canvas: a dark theme (default) and a light one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont, QPalette, QPen
from PySide6.QtWidgets import QApplication

# Passing Qt.PenStyle.NoPen / Qt.BrushStyle.NoBrush to QPainter makes PySide6 build a
# temporary pen or brush on every call, and under load that conversion has corrupted
# reference counts ("deallocating None"); these shared objects avoid it.
NO_PEN = QPen(Qt.PenStyle.NoPen)
NO_BRUSH = QBrush(Qt.BrushStyle.NoBrush)


@dataclass(frozen=True)
class Theme:
    name: str
    # window
    window: str
    panel: str
    base: str
    alternate: str
    text: str
    text_dim: str
    button: str
    border: str
    accent: str
    # canvas
    canvas: str
    grid_minor: str
    grid_major: str
    node_body: str
    node_border: str
    node_title: str
    node_text: str
    node_text_dim: str
    widget_fill: str
    widget_hover: str
    widget_text: str
    widget_label: str
    selection: str
    shadow: str
    bypass_tint: str
    error: str
    warning: str
    success: str

    def color(self, name: str, alpha: int | None = None) -> QColor:
        """The colour ``name`` (shared: painting asks for colours thousands of times a
        frame; copy it before changing it)."""
        key = (self.name, name, alpha)
        color = _COLORS.get(key)
        if color is None:
            color = QColor(getattr(self, name))
            if alpha is not None:
                color.setAlpha(alpha)
            _COLORS[key] = color
        return color


_COLORS: dict[tuple[str, str, int | None], QColor] = {}


DARK = Theme(
    name="dark",
    window="#1e1f22", panel="#25272b", base="#1b1c1f", alternate="#232428", text="#dfe1e5",
    text_dim="#8b8f98", button="#2d2f34", border="#3a3d43", accent="#4c8dff",
    canvas="#17181b", grid_minor="#1f2024", grid_major="#26282d",
    node_body="#2a2c31", node_border="#3b3e45", node_title="#f1f2f4", node_text="#c9ccd3",
    node_text_dim="#858a94", widget_fill="#1f2125", widget_hover="#2a2d33",
    widget_text="#e3e5e9", widget_label="#9ba0aa", selection="#ffb340", shadow="#000000",
    bypass_tint="#9c4dcc", error="#ff5d5d", warning="#ffb74d", success="#66bb6a",
)

LIGHT = Theme(
    name="light",
    window="#eef0f3", panel="#f6f7f9", base="#ffffff", alternate="#f2f3f5", text="#1f2328",
    text_dim="#6a717c", button="#e4e7eb", border="#c9ced6", accent="#2f6fe4",
    canvas="#e9ebef", grid_minor="#e0e3e8", grid_major="#d3d7de",
    node_body="#fbfbfc", node_border="#c3c8d0", node_title="#ffffff", node_text="#2b3038",
    node_text_dim="#7a808b", widget_fill="#eceef2", widget_hover="#e1e4ea",
    widget_text="#1f2328", widget_label="#5f6672", selection="#f08c00", shadow="#4a5060",
    bypass_tint="#9c4dcc", error="#d93025", warning="#e37400", success="#2e7d32",
)

THEMES = {theme.name: theme for theme in (DARK, LIGHT)}

#: Header colours of the usual categories; others get a stable colour from their name.
CATEGORY_COLORS = {
    "loaders": "#7a5cc2", "models": "#7a5cc2", "conditioning": "#c77d2e",
    "sampling": "#3f7fcf", "latent": "#c2508a", "image": "#2f8fa8", "mask": "#4a9a5b",
    "controlnet": "#23877c", "preprocessors": "#23877c", "primitives": "#6b7280",
    "math": "#5f7f3a", "text": "#a0763a", "utils": "#6b7280", "upscaling": "#8d6e63",
    "diffusion": "#3f7fcf",
}


@cache
def category_color(category: str) -> QColor:
    """The header colour of a category (its first path element decides)."""
    head = category.split("/")[0].strip().lower()
    if head in CATEGORY_COLORS:
        return QColor(CATEGORY_COLORS[head])
    digest = hashlib.md5(head.encode("utf-8")).digest()
    return QColor.fromHsl(digest[0] * 360 // 256, 110, 95)


@cache
def canvas_font(pixel_size: int, weight: QFont.Weight = QFont.Weight.Normal) -> QFont:
    """Fonts of the canvas, sized in scene pixels so that nodes look the same on any DPI."""
    font = QFont(QApplication.font())
    font.setPixelSize(pixel_size)
    font.setWeight(weight)
    font.setHintingPreference(QFont.HintingPreference.PreferNoHinting)
    return font


def apply_theme(app: QApplication, theme: Theme) -> None:
    """Style the whole application (Fusion, a palette and a small style sheet)."""
    if app.property("nodestudio_theme") == theme.name:
        return  # re-polishing every widget of every window is slow: only on a real change
    app.setProperty("nodestudio_theme", theme.name)
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: theme.window,
        QPalette.ColorRole.WindowText: theme.text,
        QPalette.ColorRole.Base: theme.base,
        QPalette.ColorRole.AlternateBase: theme.alternate,
        QPalette.ColorRole.Text: theme.text,
        QPalette.ColorRole.Button: theme.button,
        QPalette.ColorRole.ButtonText: theme.text,
        QPalette.ColorRole.ToolTipBase: theme.panel,
        QPalette.ColorRole.ToolTipText: theme.text,
        QPalette.ColorRole.Highlight: theme.accent,
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.PlaceholderText: theme.text_dim,
        QPalette.ColorRole.Link: theme.accent,
        QPalette.ColorRole.Mid: theme.border,
        QPalette.ColorRole.Dark: theme.window,
        QPalette.ColorRole.Light: theme.button,
    }
    for role, color in roles.items():
        palette.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText,
                 QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor(theme.text_dim))
    app.setPalette(palette)
    app.setStyleSheet(style_sheet(theme))


def style_sheet(theme: Theme) -> str:
    from nodestudio.ui.style_images import spin_box_rules  # it draws with this module's pens

    return spin_box_rules(theme.text, theme.text_dim, theme.button) + f"""
QMainWindow::separator {{ background: {theme.window}; width: 3px; height: 3px; }}
QDockWidget {{ color: {theme.text}; titlebar-close-icon: none; }}
QDockWidget::title {{
    background: {theme.panel}; padding: 6px 8px; border-bottom: 1px solid {theme.border};
}}
QToolBar {{ background: {theme.panel}; border: none; border-bottom: 1px solid {theme.border};
    spacing: 2px; padding: 3px 6px; }}
QToolButton {{ color: {theme.text}; border: 1px solid transparent; border-radius: 5px;
    padding: 4px 8px; }}
QToolButton:hover {{ background: {theme.button}; border-color: {theme.border}; }}
QToolButton:pressed, QToolButton:checked {{ background: {theme.border}; }}
QToolButton#qt_toolbar_ext_button {{ padding: 0; min-width: 14px; }}
QMenuBar {{ background: {theme.panel}; color: {theme.text}; }}
QMenuBar::item:selected {{ background: {theme.button}; border-radius: 4px; }}
QMenu {{ background: {theme.panel}; color: {theme.text}; border: 1px solid {theme.border};
    padding: 4px; }}
QMenu::item {{ padding: 5px 24px 5px 16px; border-radius: 4px; }}
QMenu::item:selected {{ background: {theme.accent}; color: #ffffff; }}
QMenu::separator {{ height: 1px; background: {theme.border}; margin: 4px 6px; }}
QLineEdit, QPlainTextEdit, QSpinBox, QDoubleSpinBox, QComboBox {{
    background: {theme.base}; color: {theme.text}; border: 1px solid {theme.border};
    border-radius: 5px; padding: 3px 6px; selection-background-color: {theme.accent};
}}
QLineEdit:focus, QPlainTextEdit:focus, QSpinBox:focus, QDoubleSpinBox:focus,
QComboBox:focus {{ border-color: {theme.accent}; }}
QTreeView, QListView {{ background: {theme.base}; color: {theme.text}; border: none;
    outline: none; }}
QTreeView::item, QListView::item {{ padding: 3px 2px; border-radius: 4px; }}
QTreeView::item:hover, QListView::item:hover {{ background: {theme.alternate}; }}
QTreeView::item:selected, QListView::item:selected {{ background: {theme.accent};
    color: #ffffff; }}
QListView#outputThumbnails::item:selected {{ background: transparent;
    border: 2px solid {theme.accent}; }}
QStatusBar {{ background: {theme.panel}; color: {theme.text_dim};
    border-top: 1px solid {theme.border}; }}
QScrollBar:vertical {{ background: transparent; width: 10px; margin: 0; }}
QScrollBar::handle:vertical {{ background: {theme.border}; border-radius: 4px;
    min-height: 24px; }}
QScrollBar:horizontal {{ background: transparent; height: 10px; margin: 0; }}
QScrollBar::handle:horizontal {{ background: {theme.border}; border-radius: 4px;
    min-width: 24px; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
QFrame#searchPalette {{ background: {theme.panel}; border: 1px solid {theme.border};
    border-radius: 8px; }}
QFrame#banner {{ background: {theme.panel}; border: 1px solid {theme.accent};
    border-radius: 8px; }}
QLabel#dim {{ color: {theme.text_dim}; }}
QPushButton {{ background: {theme.button}; color: {theme.text};
    border: 1px solid {theme.border}; border-radius: 5px; padding: 4px 12px; }}
QPushButton:hover {{ border-color: {theme.accent}; }}
QPushButton:default {{ background: {theme.accent}; color: #ffffff; border-color: {theme.accent}; }}
"""
