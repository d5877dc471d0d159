"""A real text-to-image graph on a tiny seeded SD model, run from the window: sampler
progress and live previews on the node, the saved image in the gallery, cached upstream
nodes after a seed change, and cancelling within a sampler step."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from nodestudio.app import recipes
from nodestudio.app.queue import CANCELLED, FINISHED

pytestmark = pytest.mark.slow

SIZE = 64


@pytest.fixture(scope="session")
def tiny_sd_root(tmp_path_factory) -> Path:
    """A models root holding only the tiny SD1.5-shaped checkpoint (fast to build)."""
    from nodestudio.runtime.tiny import TinyModels, save_sd_folder, tiny_sd_components

    root = tmp_path_factory.mktemp("tiny-sd-models")
    save_sd_folder(tiny_sd_components(0), root / "checkpoints" / TinyModels.sd_folder)
    return root


def text_to_image(kit, steps: int) -> dict[str, str]:
    """The recipe's graph pasted into the window (an undoable edit); its node ids by role."""
    graph, roles = recipes.text_to_image("tiny-sd", "a red circle on a blue square", "blurry",
                                         width=SIZE, height=SIZE, steps=steps, seed=5)
    placed = dict(zip(graph.nodes, kit.window.editor.insert(graph, (0.0, 0.0), "Text to image"),
                      strict=True))
    return {role: placed[node_id] for role, node_id in roles.items()}


def test_a_tiny_model_runs_with_previews_progress_and_reuse(make_kit, tiny_sd_root, qtbot):
    kit = make_kit(models=tiny_sd_root)
    ids = text_to_image(kit, steps=4)
    sampler_item = kit.window.node_item(ids["sampler"])
    during: list[tuple[int, bool, str | None, str]] = []
    kit.on_ui(kit.controller.bridge.node_progress, lambda event, _job: during.append(
        (event.done, sampler_item.preview is not None, sampler_item.status,
         kit.controller.status.label.text())) if event.node_id == ids["sampler"] else None)
    loading: list[str] = []
    kit.on_ui(kit.controller.bridge.node_started, lambda event, _job: loading.append(
        kit.controller.status.label.text()) if event.node_id == ids["checkpoint"] else None)

    job = kit.run(timeout=60_000)
    assert job.status == FINISHED, job.error or job.result.failed
    # Sampler steps arrive in order, the node shows them, with a live preview.
    steps = [(e.done, e.total) for e in kit.recorder.events("node_progress")
             if e.node_id == ids["sampler"]]
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [done for done, *_ in during] == [1, 2, 3, 4]
    assert during[0][1], "the first step's preview is on the node while it samples"
    assert all(status == "running" for _d, _p, status, _t in during)
    assert "Sampler · step 4/4" in during[-1][3]
    assert loading and loading[0].startswith("Load Checkpoint")
    # The picture: saved, in the gallery, and on the save node.
    saved = Path(job.result.files[0])
    assert saved.is_file()
    assert kit.controller.gallery.entries[0].path == saved
    shown = kit.window.node_item(ids["save"]).preview
    assert shown.width() == shown.height() >= SIZE
    assert {kit.badge(node_id) for node_id in ids.values()} == {"ran"}

    # A new seed: only the sampler and what follows it are stale, before running.
    kit.window.editor.set_value(ids["sampler"], "seed", 6)
    kit.settle_marks()
    stale = {name for name, node_id in ids.items() if kit.badge(node_id) == "stale"}
    assert stale == {"sampler", "decode", "save"}
    assert "torch" in __import__("sys").modules  # (the run imported it, on its thread)

    job = kit.run(timeout=60_000)
    assert job.status == FINISHED
    assert job.result.executed == [ids["sampler"], ids["decode"], ids["save"]]
    for name in ("checkpoint", "positive", "negative", "latent"):
        assert ids[name] not in job.result.executed
        assert kit.badge(ids[name]) == "cached"
    assert kit.badge(ids["sampler"]) == "ran"
    assert len([e for e in kit.controller.gallery.entries if e.path]) == 2


def test_cancel_stops_the_sampler_within_one_step(make_kit, tiny_sd_root, qtbot):
    kit = make_kit(models=tiny_sd_root)
    ids = text_to_image(kit, steps=60)
    emitted: list[int] = []
    kit.controller.bridge.node_progress.connect(
        lambda event, _job: emitted.append(event.done) if event.node_id == ids["sampler"]
        else None, Qt.ConnectionType.DirectConnection)
    job = kit.controller.run()[0]
    qtbot.waitUntil(lambda: len(emitted) >= 2, timeout=60_000)
    kit.controller.cancel()
    at_cancel = len(emitted)
    kit.wait_done(job, timeout=30_000)
    assert job.status == CANCELLED
    assert len(emitted) - at_cancel <= 1
    assert emitted[-1] < 60
    assert job.result.files == []
    item = kit.window.node_item(ids["sampler"])
    assert item.status is None and item.progress is None

    kit.window.editor.set_value(ids["sampler"], "steps", 2)
    job = kit.run(timeout=60_000)
    assert job.status == FINISHED
    assert Path(job.result.files[0]).is_file()
    assert ids["checkpoint"] not in job.result.executed  # loaded before the cancel
