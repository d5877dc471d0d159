"""Live-mode latency (run by hand, not collected by pytest):

    python tests/benchmarks/bench_live.py [--strokes 20] [--shot docs/screenshots/paint_editor.png]

Opens the shipped "Draw to control" workflow (resources/workflows/draw_to_control.json: a
Paint node's outline → Canny Edges → ControlNet on the demo model) in a real window with a
real session, turns Run › Live on and, in the Paint node's editor, draws strokes with real
mouse events. For each stroke it measures the time from the mouse release (the end of the
stroke) to the updated image reaching the window (the live run's Preview Image shown), and
prints the median and p95. The first run (model loading) is not timed. Target: ≤ 0.5 s
median on a 2-core CPU machine.

With ``--shot``, it also saves an offscreen grab of the editor with the drawing on it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NODESTUDIO_HOME", tempfile.mkdtemp(prefix="nodestudio-bench-live-"))
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["NODESTUDIO_WARM_START"] = "0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strokes", type=int, default=20)
    parser.add_argument("--shot", type=Path, default=None)
    args = parser.parse_args()

    from PySide6.QtCore import QPointF, QSettings, Qt
    from PySide6.QtGui import QColor
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from nodestudio.app.packs import create_registry
    from nodestudio.app.queue import FINISHED
    from nodestudio.app.session import Session
    from nodestudio.app.settings import Settings
    from nodestudio.paths import workflows_dir
    from nodestudio.ui.main_window import MainWindow
    from nodestudio.ui.paint.editing import open_paint_editor
    from nodestudio.ui.run import install_run_support

    app = QApplication.instance() or QApplication(sys.argv)
    home = Path(os.environ["NODESTUDIO_HOME"])
    registry = create_registry(entry_points=False)
    settings = Settings(output_dir=home / "output", input_dir=home / "input", device="cpu")
    session = Session(registry=registry, settings=settings)
    window = MainWindow(registry, settings=QSettings(str(home / "gui.ini"),
                                                     QSettings.Format.IniFormat),
                        autosave=False)
    window.ask_save_changes = lambda _name: "discard"
    controller = install_run_support(window, session)
    window.resize(1400, 900)
    window.show()
    assert window.open_file(workflows_dir() / "draw_to_control.json", ask=False)
    paint_id = next(node.id for node in window.editor.graph if node.type == "image.paint")
    preview_id = next(node.id for node in window.editor.graph if node.type == "image.preview")

    shown: list[tuple[float, int]] = []
    controller.bridge.node_finished.connect(
        lambda event, job: shown.append((time.perf_counter(), job.id))
        if event.node_id == preview_id else None, Qt.ConnectionType.QueuedConnection)

    def wait_for(condition, timeout: float = 300.0) -> None:
        deadline = time.perf_counter() + timeout
        while not condition():
            app.processEvents()
            time.sleep(0.002)
            if time.perf_counter() > deadline:
                raise TimeoutError("the live run did not finish")

    live = controller.live
    live.set_enabled(True)
    started = time.perf_counter()
    wait_for(lambda: bool(live.jobs) and all(job.done for job in live.jobs) and shown)
    first_run = time.perf_counter() - started
    assert live.jobs[-1].status == FINISHED, live.jobs[-1].error

    editor = open_paint_editor(window, paint_id, show=False)
    editor.resize(900, 720)
    editor.show()
    app.processEvents()
    canvas = editor.canvas
    canvas.fit()
    editor.size_spin.setValue(3)
    editor.hardness_slider.setValue(100)
    editor.set_color(QColor(20, 20, 20))

    def at(x: float, y: float):
        return canvas.to_widget(QPointF(x, y)).toPoint()

    latencies = []
    for index in range(args.strokes):
        # Strokes that move the outline around: a short bar, somewhere new each time.
        x = 8 + (index * 13) % 44
        y = 8 + (index * 29) % 44
        QTest.mousePress(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         at(x, y))
        for step in range(1, 9):
            QTest.mouseMove(canvas, at(x + step * 1.5, y + step))
        before = len(shown)
        QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                           at(x + 12, y + 8))
        released = time.perf_counter()
        wait_for(lambda b=before: len(shown) > b and shown[-1][1] == live.jobs[-1].id
                 and not live.pending)
        latencies.append(shown[-1][0] - released)
    latencies.sort()
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    report = {"machine": f"{platform.processor() or platform.machine()}, "
                         f"{os.cpu_count()} cores", "strokes": len(latencies),
              "first_run_s": round(first_run, 2),
              "median_s": round(statistics.median(latencies), 3), "p95_s": round(p95, 3),
              "min_s": round(latencies[0], 3), "max_s": round(latencies[-1], 3),
              "live_runs": live.submitted}
    print(json.dumps(report, indent=2))
    if args.shot is not None:
        editor.close()
        screenshot(window, args.shot)
    controller.shutdown()


def screenshot(window, path: Path) -> None:
    """An editor on a 512² Paint canvas with an outline sketched and an area masked, drawn
    with real mouse strokes, grabbed offscreen."""
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QColor
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from nodestudio.ui.paint.editing import open_paint_editor

    node_id = window.add_node_at("image.paint", window.view.scene_center())
    window.editor.set_value(node_id, "color", "#f4f1ea")
    editor = open_paint_editor(window, node_id, show=False)
    editor.show()
    QApplication.processEvents()
    canvas = editor.canvas
    canvas.fit()

    def stroke(points, shift=False):
        modifier = (Qt.KeyboardModifier.ShiftModifier if shift
                    else Qt.KeyboardModifier.NoModifier)
        where = [canvas.to_widget(QPointF(x, y)).toPoint() for x, y in points]
        QTest.mousePress(canvas, Qt.MouseButton.LeftButton, modifier, where[0])
        for point in where[1:]:
            QTest.mouseMove(canvas, point)
        QTest.mouseRelease(canvas, Qt.MouseButton.LeftButton, modifier, where[-1])

    editor.size_spin.setValue(9)
    editor.hardness_slider.setValue(85)
    editor.set_color(QColor(30, 32, 40))
    # A house outline (Shift: straight lines from the last point), then a round sun.
    stroke([(120, 400), (121, 401)])
    for corner in ((120, 230), (256, 110), (392, 230), (392, 400), (120, 400)):
        stroke([corner], shift=True)
    stroke([(210, 400), (211, 401)])
    for corner in ((210, 300), (280, 300), (280, 400)):
        stroke([corner], shift=True)
    editor.set_color(QColor(235, 150, 40))
    editor.size_spin.setValue(14)
    stroke([(430 + 34 * math.cos(a / 10), 90 + 34 * math.sin(a / 10))
            for a in range(0, 64)])
    editor.set_layer("mask")
    editor.size_spin.setValue(60)
    editor.hardness_slider.setValue(40)
    stroke([(150, 180), (200, 150), (250, 180), (300, 150), (350, 180)])
    editor.set_layer("sketch")
    editor.size_spin.setValue(24)
    canvas._cursor = canvas.to_widget(QPointF(330, 330))  # show the brush outline
    QApplication.processEvents()
    path.parent.mkdir(parents=True, exist_ok=True)
    editor.grab().save(str(path))
    print(f"saved {path}")
    editor.close()


if __name__ == "__main__":
    main()
