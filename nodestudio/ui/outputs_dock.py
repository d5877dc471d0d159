"""The outputs dock: images a run produced. Empty until the run work fills it.

The run work adds images through :meth:`OutputsDock.content_layout` (or replaces the widget);
the dock only reserves its place in the window and its state in the saved layout.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QVBoxLayout, QWidget


class OutputsDock(QDockWidget):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Outputs", parent)
        self.setObjectName("outputsDock")
        body = QWidget(self)
        self._layout = QVBoxLayout(body)
        self._layout.setContentsMargins(10, 10, 10, 10)
        self.placeholder = QLabel("Images, videos, sounds and meshes from runs appear here.", body)
        self.placeholder.setObjectName("dim")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self._layout.addWidget(self.placeholder, 1)
        self.setWidget(body)

    def content_layout(self) -> QVBoxLayout:
        """Where the run work puts its widgets (hide :attr:`placeholder` when it does)."""
        return self._layout
