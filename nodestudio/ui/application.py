"""Starting the window: the QApplication, settings, registry, model library, screenshots.

``nodestudio [GRAPH] [--screenshot PNG] [--models DIR]`` calls :func:`run_gui`.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QMessageLogContext, Qt, QTimer, QtMsgType, qInstallMessageHandler
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication

from nodestudio.app.path_rules import named_folder_warnings, write_failure_reason
from nodestudio.app.settings import APP_NAME, Settings
from nodestudio.paths import workflows_dir
from nodestudio.ui.choices import ChoiceProvider
from nodestudio.ui.log_dock import QtLogHandler
from nodestudio.ui.main_window import MainWindow, gui_settings

DEFAULT_WORKFLOW = "text_to_image.json"
#: A screenshot is taken this long after the first paint (lets late layout settle).
SCREENSHOT_DELAY_MS = 150
SCREENSHOT_TIMEOUT_MS = 30_000

__all__ = ["create_main_window", "ensure_application", "gui_settings", "run_gui"]


def ensure_application(argv: Sequence[str] | None = None, *, headless_ok: bool = False
                       ) -> QApplication:
    """The QApplication (created once). ``headless_ok``: without a display, draw offscreen
    (screenshots on servers and in CI) instead of failing."""
    app = QApplication.instance()
    if isinstance(app, QApplication):
        return app
    if headless_ok and not _has_display():
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    route_qt_messages()
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication(list(argv) if argv is not None else sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    return app


def route_qt_messages() -> None:
    """Qt's own diagnostics go to the "nodestudio.qt" logger instead of the terminal: plugins
    it could not load (PipeWire, VA-API), the audio server it could not reach, platform notes.
    They are debug records; Qt's critical messages reach the Log panel as warnings. A
    developer who sets QT_LOGGING_RULES gets Qt's own printing back."""
    if not os.environ.get("QT_LOGGING_RULES"):
        qInstallMessageHandler(_qt_message)


_QT_LEVELS = {QtMsgType.QtCriticalMsg: logging.WARNING, QtMsgType.QtFatalMsg: logging.ERROR}


def _qt_message(kind: QtMsgType, context: QMessageLogContext, message: str) -> None:
    category = context.category if context is not None and context.category else "qt"
    logging.getLogger("nodestudio.qt").log(_QT_LEVELS.get(kind, logging.DEBUG), "%s: %s",
                                           category, message)


def _has_display() -> bool:
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                or os.environ.get("QT_QPA_PLATFORM"))


def default_workflow() -> Path | None:
    path = workflows_dir() / DEFAULT_WORKFLOW
    return path if path.is_file() else None


def create_main_window(
    graph: Path | None = None,
    models: Sequence[Path] | None = None,
    *,
    autosave: bool = True,
) -> MainWindow:
    """The window with the user's node packs, models and input folder, showing ``graph``
    (or the default workflow when there is one), ready to run graphs."""
    from nodestudio.app.packs import create_registry
    from nodestudio.app.session import Session
    from nodestudio.ui.run import install_run_support

    settings = Settings.load()
    if models:
        settings.models_dirs = [Path(path).expanduser() for path in models]
    registry = create_registry(user_packs_dir=settings.user_packs_dir)
    # One session per window: its cache makes re-runs cheap. Building it imports no torch
    # (the first run does, on the run queue's worker thread).
    session = Session(settings=settings, registry=registry)
    window = MainWindow(registry, choices=ChoiceProvider(session.models, settings.input_dir),
                        settings=gui_settings(), autosave=autosave)
    install_run_support(window, session)
    handler = QtLogHandler(window.log_dock)
    logging.getLogger("nodestudio").addHandler(handler)
    window.destroyed.connect(lambda: logging.getLogger("nodestudio").removeHandler(handler))
    for failure in registry.failures:
        window.report(f"Node pack {failure.name} failed to load: {failure.message}", "error")
    for problem in settings.problems:  # settings.json: a typo, a value of the wrong kind
        window.report(problem, "warning")
    for warning in named_folder_warnings([("--models", folder) for folder in models or []]):
        window.report(warning, "warning")
    path = graph if graph is not None else default_workflow()
    if path is not None:
        window.open_file(path, ask=False)
    return window


def take_screenshot(window: MainWindow, path: Path) -> bool:
    """Save a picture of the window; like rendered images, it carries the graph it shows
    (open the PNG in NodeStudio to get the graph back)."""
    from nodestudio.app.image_texts import PNG_GRAPH_CHUNK
    from nodestudio.graph import files

    window.view.frame_all()
    QApplication.processEvents()
    image = window.grab().toImage()
    if len(window.editor.graph):
        image.setText(PNG_GRAPH_CHUNK, files.dumps(window.editor.graph))
    path.parent.mkdir(parents=True, exist_ok=True)
    return image.save(str(path), "PNG")


def run_gui(graph: Path | None = None, screenshot: Path | None = None,
            models: Sequence[Path] | None = None) -> int:
    """Open the window; with ``screenshot``, save a PNG of it once drawn and exit."""
    app = ensure_application(headless_ok=screenshot is not None)
    window = create_main_window(graph, models, autosave=screenshot is None)
    if screenshot is None:
        window.show()
        return int(app.exec())

    result = {"code": 1}

    def capture() -> None:
        if "done" in result:
            return
        result["done"] = 1
        try:
            result["code"] = 0 if take_screenshot(window, Path(screenshot)) else 1
        except OSError as error:
            print(f"nodestudio: could not write {screenshot}: "
                  f"{write_failure_reason(error, Path(screenshot))}", file=sys.stderr)
            result["code"] = 2
        except Exception as error:  # an exception in a slot would leave the loop running
            print(f"nodestudio: could not write {screenshot}: {error}", file=sys.stderr)
            result["code"] = 2
        else:
            if result["code"]:
                print(f"nodestudio: could not write {screenshot}", file=sys.stderr)
        finally:
            window.close()
            app.quit()

    window.view.first_painted.connect(lambda: QTimer.singleShot(SCREENSHOT_DELAY_MS, capture))
    QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, capture)
    screen = app.primaryScreen()
    if screen is not None:  # the picture shows the whole screen's worth of window
        window.setGeometry(screen.availableGeometry())
    window.show()
    window.view.frame_all()
    app.exec()
    return result["code"]
