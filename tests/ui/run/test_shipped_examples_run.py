"""Issue 13, item 1: the shipped ControlNet example runs from the window as it does from the
command line. Its Load Image names a picture that only the example folder holds: the window's
dropdown, its validation and the engine must all take it (one app-layer answer)."""

from __future__ import annotations

import pytest

from nodestudio.app.packs import create_registry
from nodestudio.app.queue import FINISHED
from nodestudio.paths import workflows_dir


def _load_image(kit):
    return next(node for node in kit.graph if node.type == "image.load")


def test_the_controlnet_example_validates_and_offers_its_picture_in_the_window(make_kit):
    kit = make_kit(registry=create_registry(entry_points=False))
    assert kit.window.open_file(workflows_dir() / "controlnet.json", ask=False)
    load = _load_image(kit)
    picture = load.values["image"]
    assert picture == "controlnet_shape.png"
    assert not (kit.session.settings.input_dir / picture).exists()  # only the example has it

    # Validate (F7) says the graph is ready: nothing drawn on the Load Image.
    assert kit.controller.validate() == []
    # The node's dropdown (what the widget paints as valid and lists) holds the picture.
    spec = kit.session.registry.get("image.load").input("image")
    assert picture in kit.window.editor.choices.choices(spec)
    assert picture in kit.window.node_item(load.id).choices(spec)


@pytest.mark.slow
def test_the_controlnet_example_renders_from_the_window_on_the_demo_model(make_kit):
    kit = make_kit(registry=create_registry(entry_points=False))
    assert kit.window.open_file(workflows_dir() / "controlnet.json", ask=False)
    job = kit.run(timeout=240_000)
    assert job.status == FINISHED, job.error or job.result.failed
    assert job.result.files and all(path.is_file() for path in job.result.files)
