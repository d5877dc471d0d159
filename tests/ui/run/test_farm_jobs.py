"""Farm jobs in the window's Queue panel and Outputs gallery, on a real local Ray cluster.

One cluster (1 CPU) and one farm backend with one worker for the module: the worker imports
torch and loads the demo model once (the first test pays it), the tests after reuse it. Each
test has its own window, which uses that farm (``FarmPanel.use_farm``) without owning it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtGui import QImage

ray = pytest.importorskip("ray")

from nodestudio.app.farm.feed import FarmJob  # noqa: E402
from nodestudio.app.farm.ray_backend import RayBackend  # noqa: E402
from nodestudio.app.formats import read_graph  # noqa: E402
from nodestudio.app.packs import create_registry  # noqa: E402
from nodestudio.app.queue import CANCELLED, FAILED, FINISHED  # noqa: E402
from nodestudio.app.session import Session  # noqa: E402
from nodestudio.paths import demo_models_dir, workflows_dir  # noqa: E402

pytestmark = pytest.mark.timeout(300)

WORKFLOW = workflows_dir() / "text_to_image.json"
FARM_TIMEOUT_MS = 180_000


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    session = Session(device="cpu", output_dir=tmp_path_factory.mktemp("unused"))
    backend = RayBackend(output_dir=tmp_path_factory.mktemp("farm-output"), session=session,
                         workers=1)
    yield backend
    backend.shutdown()
    ray.shutdown()


def _link(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _farm_kit(make_kit, farm, steps: int, checkpoint: str | None = None,
              models: Path | None = None):
    """A window showing the text-to-image example, its Run target on ``farm``."""
    kit = make_kit(registry=create_registry(entry_points=False), models=models)
    assert kit.window.open_file(WORKFLOW, ask=False)
    kit.graph.set_value("sampler", "steps", steps)
    if checkpoint is not None:
        kit.graph.set_value("checkpoint", "checkpoint", checkpoint)
    kit.controller.farm_panel.use_farm(farm)
    assert kit.controller.farm_panel.on_farm
    return kit


def _row(kit, job: FarmJob) -> str:
    """The job's row in the queue panel ("" until the panel shows it)."""
    return next((text for text in kit.controller.queue_dock.rows()
                 if text.startswith(f"#{job.display_id} ")), "")


def _select(kit, job: FarmJob) -> None:
    dock = kit.controller.queue_dock
    row = next(r for r in range(dock.list.count()) if dock.list.job_id(r) == job.id)
    dock.list.setCurrentRow(row)


def _pixels(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    data = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes())
    rows = data.reshape(image.height(), image.bytesPerLine())
    return rows[:, :image.width() * 3].reshape(image.height(), image.width(), 3).copy()


def test_farm_jobs_show_in_the_queue_panel_and_their_pictures_in_the_gallery(
        make_kit, farm, qtbot):
    kit = _farm_kit(make_kit, farm, steps=2)
    # Each queued run takes the next seed (an identical job would be all cached on the worker).
    kit.graph.set_control("sampler", "seed", "increment")
    controller, gallery = kit.controller, kit.controller.gallery
    seen: list[list[str]] = []  # the queue panel's rows each time the queue changed
    kit.on_ui(controller.bridge.queue_changed,
              lambda _event, _job: seen.append(controller.queue_dock.rows()))

    assert controller.run(batch=2) == []  # nothing went to the local queue
    jobs = controller.farm_jobs.jobs()
    assert len(jobs) == 2 and controller.queue.jobs() == []
    qtbot.waitUntil(lambda: len(gallery.entries) == 2, timeout=FARM_TIMEOUT_MS)
    qtbot.waitUntil(lambda: all("done in" in _row(kit, job) for job in jobs), timeout=5000)

    # The second job waited while the first one had the only worker.
    assert any(f"#{jobs[1].display_id}  text_to_image (2/2)\nwaiting for a farm worker"
               in rows for rows in seen)
    for job in jobs:
        assert job.status == FINISHED and job.worker == "worker-1"
        assert _row(kit, job).endswith("ran · 1 image")
        [path] = job.handle.result.files
        entry = next(e for e in gallery.entries if e.job_id == job.id)
        # The gallery holds the job's file under the node that wrote it, pixel for pixel.
        assert entry.path == path and entry.title == "Save Image" and entry.node_id == "save"
        expected = np.asarray(Image.open(path).convert("RGB"))
        np.testing.assert_array_equal(_pixels(entry.full_image()), expected)
        # …and "Open Its Graph" gets the graph with this job's own parameters.
        carried = read_graph(entry.path, kit.session.registry)
        assert carried.node("sampler").values == job.graph.node("sampler").values
    assert jobs[1].graph.node("sampler").values["seed"] == \
        jobs[0].graph.node("sampler").values["seed"] + 1
    assert any("text_to_image (2/2): done" in message
               for _level, message in kit.window.log_dock.entries)


def test_farm_jobs_are_cancelled_from_the_queue_panel_waiting_or_running(
        make_kit, farm, qtbot):
    kit = _farm_kit(make_kit, farm, steps=400)
    dock = kit.controller.queue_dock
    kit.controller.run(batch=2)
    running, waiting = kit.controller.farm_jobs.jobs()
    # The running job's row follows the worker's progress.
    qtbot.waitUntil(lambda: "running on worker-1 · Sampler " in _row(kit, running),
                    timeout=FARM_TIMEOUT_MS)
    assert "waiting for a farm worker" in _row(kit, waiting)

    _select(kit, waiting)
    assert dock.remove_button.text() == "Cancel" and not dock.up_button.isEnabled()
    dock.remove_button.click()
    qtbot.waitUntil(lambda: _row(kit, waiting).endswith("\ncancelled"), timeout=5000)
    assert running.status != CANCELLED  # only the chosen job stopped

    _select(kit, running)
    assert dock.remove_button.text() == "Cancel"
    dock.remove_button.click()
    qtbot.waitUntil(lambda: _row(kit, running).endswith("\ncancelled"), timeout=30_000)
    assert running.status == waiting.status == CANCELLED
    assert running.handle.result.files == [] and kit.controller.gallery.entries == []
    # A done row is removed with the same button.
    _select(kit, running)
    assert dock.remove_button.text() == "Remove"
    dock.remove_button.click()
    qtbot.waitUntil(lambda: len(dock.rows()) == 1, timeout=5000)


def test_a_farm_job_that_fails_says_why_on_its_row_and_in_the_log(make_kit, farm, qtbot,
                                                                  tmp_path):
    # This machine has a checkpoint the farm's workers lack.
    models = tmp_path / "local-models"
    (models / "checkpoints").mkdir(parents=True)
    shutil.copytree(demo_models_dir() / "nodestudio-shapes",
                    models / "checkpoints" / "not-on-the-farm", copy_function=_link)
    kit = _farm_kit(make_kit, farm, steps=2, checkpoint="not-on-the-farm", models=models)
    assert kit.controller.validate() == []  # it runs here
    kit.controller.run(batch=1)
    [job] = kit.controller.farm_jobs.jobs()
    qtbot.waitUntil(lambda: "failed: " in _row(kit, job), timeout=FARM_TIMEOUT_MS)
    assert job.status == FAILED
    assert "worker worker-1 lacks model 'not-on-the-farm'" in _row(kit, job)
    qtbot.waitUntil(lambda: any(
        level == "error" and "the run stopped: worker worker-1 lacks model" in message
        for level, message in kit.window.log_dock.entries), timeout=5000)
    assert kit.controller.gallery.entries == [] and job.handle.result.files == []
