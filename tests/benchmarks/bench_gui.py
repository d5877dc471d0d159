"""GUI timings (run by hand, not collected by pytest):

    python tests/benchmarks/bench_gui.py              # offscreen
    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1600x1000x24" \\
        python tests/benchmarks/bench_gui.py          # a real X window

1. cold start: a fresh process that opens the window with the built-in registry, wall time
   from process start to the canvas's first paint (and the whole ``nodestudio --screenshot``);
2. opening a 1000-node graph file and drawing it (load + items + frame + first paint);
3. pan frame times: the canvas scrolled N frames, each one painted synchronously, at 100 %
   zoom and with the whole graph framed.

Targets (2-core machine): start <= 1.5 s, 1000 nodes <= 1 s, pan <= 16 ms per frame.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

FIRST_PAINT = """
from nodestudio.ui.application import create_main_window, ensure_application
app = ensure_application(headless_ok=True)
window = create_main_window(autosave=False)
window.view.first_painted.connect(lambda: (print("painted", flush=True), app.quit()))
window.resize(1600, 1000)
window.show()
app.exec()
"""


def cold_start(runs: int, home: Path) -> dict[str, float]:
    env = dict(os.environ, NODESTUDIO_HOME=str(home))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-c", FIRST_PAINT], env=env,
                                   stdout=subprocess.PIPE, text=True)
        assert process.stdout is not None
        line = process.stdout.readline()
        times.append(time.perf_counter() - start)
        process.wait()
        assert line.strip() == "painted", line
    shots = []
    for index in range(max(1, runs // 2)):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nodestudio.cli", "--screenshot",
                        str(home / f"shot{index}.png")], env=env, check=True)
        shots.append(time.perf_counter() - start)
    return {"first_paint_first_run_s": times[0], "first_paint_median_s": statistics.median(times),
            "first_paint_min_s": min(times), "screenshot_command_median_s":
            statistics.median(shots)}


def make_big_graph(registry, count: int):
    """``count`` nodes of the built-in types in a grid, each fed by an earlier one."""
    from nodestudio.api.sockets import ANY
    from nodestudio.graph.model import Graph

    graph = Graph()
    types = [t for t in registry if t.inputs or t.outputs]
    outputs_by_type: dict[str, list[tuple[str, str]]] = {}
    columns = 25
    for index in range(count):
        node_type = types[index % len(types)]
        node_id = graph.add_node(node_type.id, node_type.default_values(),
                                 type_version=node_type.version,
                                 pos=(index % columns * 420.0, index // columns * 460.0)).id
        for spec in node_type.inputs:
            if spec.has_widget:
                continue
            candidates = outputs_by_type.get(spec.type) or outputs_by_type.get(ANY) or []
            if candidates:
                source, output = candidates[-1]
                graph.connect(source, output, node_id, spec.name)
        for output in node_type.outputs:
            outputs_by_type.setdefault(output.type, []).append((node_id, output.name))
    return graph


def big_graph(count: int, home: Path) -> tuple[dict[str, float], object]:
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from nodestudio.app.packs import create_registry
    from nodestudio.graph import files
    from nodestudio.ui.application import ensure_application
    from nodestudio.ui.main_window import MainWindow

    app = ensure_application()
    registry = create_registry(entry_points=False)
    graph = make_big_graph(registry, count)
    path = home / "big.json"
    files.save(graph, path)
    window = MainWindow(registry, settings=QSettings(str(home / "gui.ini"),
                                                     QSettings.Format.IniFormat),
                        autosave=False)
    window.resize(1600, 1000)
    window.show()
    for _ in range(5):
        app.processEvents()
    start = time.perf_counter()
    assert window.open_file(path, ask=False)
    opened = time.perf_counter()
    window.view.viewport().repaint()
    drawn = time.perf_counter()
    QApplication.processEvents()
    return ({"nodes": len(window.editor.graph), "links": len(window.editor.graph.links),
             "open_s": opened - start, "first_paint_s": drawn - opened,
             "open_and_draw_s": drawn - start}, window)


def pan_frames(window, frames: int, zoom: float | None, full_repaint: bool,
               repeats: int = 3) -> dict[str, float]:
    """Scroll ``frames`` times by (12, 5) px. ``full_repaint``: paint the whole canvas each
    frame (the worst case); otherwise let Qt scroll and paint the uncovered strip, as a
    drag does. The best of ``repeats`` runs is kept (other processes share the CPUs)."""
    from PySide6.QtWidgets import QApplication

    view = window.view
    if zoom is None:
        view.frame_all()
    else:
        view.set_zoom(zoom)
        view.centerOn(view.scene().itemsBoundingRect().center())
    view.viewport().repaint()
    runs = []
    for _ in range(repeats):
        times = []
        cpu_start = time.process_time()
        for index in range(frames):
            direction = 1 if (index // 40) % 2 == 0 else -1
            start = time.perf_counter()
            view.pan_by(12 * direction, 5 * direction)
            if full_repaint:
                view.viewport().repaint()
            else:
                QApplication.processEvents()
            times.append((time.perf_counter() - start) * 1000)
        cpu = (time.process_time() - cpu_start) * 1000 / frames
        times.sort()
        runs.append({"zoom": round(view.zoom(), 3), "mean_ms": round(statistics.mean(times), 2),
                     "p95_ms": round(times[int(len(times) * 0.95) - 1], 2),
                     "max_ms": round(times[-1], 2), "cpu_ms_per_frame": round(cpu, 2)})
    return min(runs, key=lambda run: run["mean_ms"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--frames", type=int, default=120)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="nodestudio-bench-"))
    os.environ["NODESTUDIO_HOME"] = str(home)
    print(f"machine: {platform.platform()}, {os.cpu_count()} CPUs, "
          f"Qt platform {os.environ['QT_QPA_PLATFORM']}, {time.strftime('%Y-%m-%d')}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print("cold start:", cold_start(args.runs, home))
    figures, window = big_graph(args.nodes, home)
    print(f"{args.nodes}-node graph:", figures)
    for full in (False, True):
        for zoom in (1.0, 0.5, None):
            label = "framed" if zoom is None else f"{zoom:.0%}"
            kind = "full repaint" if full else "scroll"
            print(f"pan at {label} ({kind}):", pan_frames(window, args.frames, zoom, full))


if __name__ == "__main__":
    main()
