"""Take docs/screenshots/run.png: the window in the middle of a run (docs only, not a test).

    QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1920x1080x24" \\
        python docs/screenshots/make_run_screenshot.py docs/screenshots/run.png

It opens the text-to-image workflow (resources/workflows/text_to_image.json with the demo model
when they exist; otherwise a tiny seeded model built on the spot and an equivalent graph), runs
it once so that the gallery has an image, edits the prompt and queues two more runs (the
loader and the other prompt are reused) and grabs the window when the sampler of the second run
reports step ``--step`` — with the live preview in the sampler node, the badges (cached, ran
with its time and memory), the progress in the status bar and the queue.
Like every NodeStudio screenshot, the PNG carries the graph it shows.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPOSITORY))

# Settings, outputs and the window's state go to a throw-away home, not the user's.
os.environ.setdefault("NODESTUDIO_HOME", tempfile.mkdtemp(prefix="nodestudio-shot-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from nodestudio.ui import application  # noqa: E402  (after the environment is set)

TIMEOUT_MS = 600_000


def tiny_workflow(folder: Path, size: int, steps: int) -> tuple[Path, Path]:
    """A models root with a tiny seeded checkpoint, and a text-to-image graph using it."""
    from nodestudio.app.recipes import text_to_image
    from nodestudio.graph import files
    from nodestudio.runtime.tiny import TinyModels, save_sd_folder, tiny_sd_components

    models = folder / "models"
    save_sd_folder(tiny_sd_components(0), models / "checkpoints" / TinyModels.sd_folder)
    graph, ids = text_to_image(
        TinyModels.sd_folder, "a red circle above a blue square, flat colours, centred",
        "blurry, noisy, text", width=size, height=size, steps=steps, cfg=6.5, seed=1234,
        filename_prefix="shapes")
    graph.set_control(ids["sampler"], "seed", "increment")
    graph.metadata["title"] = "text_to_image"
    path = folder / "text_to_image.json"
    files.save(graph, path)
    return path, models


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path)
    parser.add_argument("--graph", type=Path, help="graph to run (default: the workflow)")
    parser.add_argument("--models", type=Path, action="append", help="models root")
    parser.add_argument("--step", type=int, default=0,
                        help="grab when the sampler reports this step (default: half way)")
    parser.add_argument("--size", type=int, default=128, help="tiny model: image size")
    parser.add_argument("--steps", type=int, default=24, help="tiny model: sampler steps")
    args = parser.parse_args(argv)

    graph, models = args.graph, args.models
    if graph is None:
        graph = application.default_workflow()
        demo = REPOSITORY / "resources" / "models" / "nodestudio-shapes"
        if graph is None or not demo.is_dir():
            folder = Path(tempfile.mkdtemp(prefix="nodestudio-tiny-"))
            graph, tiny_models = tiny_workflow(folder, args.size, args.steps)
            models = [tiny_models, *(models or [])]
            print("no demo model/workflow yet: using a tiny seeded model", file=sys.stderr)
    return shoot(graph, models, args.output, args.step)


def edit_prompt(editor: Any) -> None:
    """Add a few words to the longest prompt (the positive one, in the usual workflows)."""
    prompts = [node for node in editor.graph if node.type == "diffusion.text_encode"]
    if prompts:
        prompt = max(prompts, key=lambda node: len(str(node.values.get("text", ""))))
        editor.set_value(prompt.id, "text", f"{prompt.values.get('text', '')}, soft light")


def shoot(graph: Path, models: list[Path] | None, output: Path, step: int) -> int:
    from PySide6.QtCore import QObject, QTimer

    from nodestudio.engine.events import NodeProgress
    from nodestudio.ui.run.bridge import connect_queued

    app = application.ensure_application(headless_ok=True)
    window = application.create_main_window(graph, models, autosave=False)
    controller = window.run_controller
    # The prompt edit makes the graph "unsaved"; quitting must not stop to ask about it.
    window.ask_save_changes = lambda _name: "discard"
    screen = app.primaryScreen()
    if screen is not None:
        window.setGeometry(screen.availableGeometry())
    window.show()
    window.outputs_dock.raise_()
    window.view.frame_all()
    result = {"code": 1, "first": None}

    class Shooter(QObject):
        def finished(self, event: Any, job: Any) -> None:
            if event.what == "finished" and job is result["first"]:
                # Edit the prompt and run twice more: the loader and the other prompt are
                # reused, the edited prompt runs, then the sampler (its seed moves on too).
                edit_prompt(window.editor)
                controller.batch_spin.setValue(2)
                second = controller.run()
                result["second"] = second[0] if second else None

        def progress(self, event: NodeProgress, job: Any) -> None:
            if job is not result.get("second") or "done" in result:
                return
            node = job.graph.node(event.node_id)
            if node.type != "diffusion.sampler":
                return
            wanted = step or max(1, event.total // 2)
            item = window.node_item(event.node_id)
            if event.done >= wanted and item is not None and item.preview is not None:
                result["done"] = True
                result["code"] = 0 if application.take_screenshot(window, output) else 1
                controller.cancel_all()
                QTimer.singleShot(0, app.quit)

    shooter = Shooter()
    connect_queued(controller.bridge.queue_changed, shooter.finished)
    connect_queued(controller.bridge.node_progress, shooter.progress)

    def start() -> None:
        jobs = controller.run()
        if not jobs:
            print("the graph cannot run; see the problems above", file=sys.stderr)
            app.quit()
            return
        result["first"] = jobs[0]

    QTimer.singleShot(300, start)
    QTimer.singleShot(TIMEOUT_MS, app.quit)
    app.exec()
    controller.shutdown()
    if result["code"] == 0:
        print(f"wrote {output}")
    return int(result["code"])


if __name__ == "__main__":
    sys.exit(main())
