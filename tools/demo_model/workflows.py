"""The example workflows that run the demo model, built with the graph API.

    python -m tools.demo_model.workflows   # (re)writes resources/workflows/*.json and the picture

text_to_image.json  Load Checkpoint (nodestudio-shapes) → Text Encode ×2 → Empty Latent 64×64 →
                    Sampler → VAE Decode → Save Image, and a note of the words the demo model
                    knows. The app opens it on a fresh install.
controlnet.json     the same, plus Load Image (controlnet_shape.png, shipped beside it: a
                    drawn outline at a place the prompt does not name) → Canny Edges →
                    Apply ControlNet (nodestudio-shapes-canny): the picture's outline, place
                    and size, the prompt's colours.

Both are app.recipes graphs (node ids are the recipes' role names) with the demo settings.
"""

from __future__ import annotations

from pathlib import Path

from nodestudio.app import recipes
from nodestudio.graph import files
from nodestudio.graph.layout import NodeLayout
from nodestudio.graph.model import Graph

CHECKPOINT = "nodestudio-shapes"
CONTROLNET = "nodestudio-shapes-canny"
TEXT_TO_IMAGE = "text_to_image.json"
CONTROLNET_WORKFLOW = "controlnet.json"
CONTROL_PICTURE = "controlnet_shape.png"
# A triangle: the demo model tells circles from squares only by chance (docs/DEMO_MODEL.md).
DEFAULT_PROMPT = "a large blue triangle at the top left on a white background"
CONTROL_PROMPT = "a blue shape on a white background"
# The sampler settings measured best for the demo model (docs/DEMO_MODEL.md).
SAMPLER_VALUES = {"seed": 1, "steps": 20, "cfg": 3.0, "sampler": "ddim", "scheduler": "normal",
                  "denoise": 1.0}
IMAGE_SIZE = 64
#: The id of the note that lists the demo model's words (text_to_image.json).
WORDS_NOTE = "demo_words"


def _demo_settings(graph: Graph, title: str, description: str, prefix: str) -> Graph:
    """The demo model's measured sampler settings, its image size, a title and file prefix."""
    for name, value in SAMPLER_VALUES.items():
        graph.set_value("sampler", name, value)
    graph.set_value("save", "filename_prefix", prefix)
    graph.metadata = {"title": title, "description": description}
    return graph


def text_to_image_graph(prompt: str = DEFAULT_PROMPT, negative: str = "",
                        batch_size: int = 1) -> Graph:
    graph, _ = recipes.text_to_image(CHECKPOINT, prompt, negative, width=IMAGE_SIZE,
                                     height=IMAGE_SIZE, batch_size=batch_size)
    _add_words_note(graph)
    return _demo_settings(
        graph, "Text to image (demo model)",
        "The embedded demo model draws one shape from a prompt such as "
        "'a small green square at the bottom on a black background'.", "shapes")


def _add_words_note(graph: Graph) -> None:
    """A note under the checkpoint listing the demo model's words: the first graph a new user
    sees says what to type (issue 13)."""
    from tools.demo_model.vocabulary import vocabulary_text

    graph.add_node("utils.note", {"text": vocabulary_text()}, id=WORDS_NOTE,
                   title="Words the demo model knows",
                   layout=NodeLayout(pos=(0.0, 300.0), size=(300.0, 300.0)))


def controlnet_graph(prompt: str = CONTROL_PROMPT, picture: str = CONTROL_PICTURE) -> Graph:
    graph, _ = recipes.controlnet_text_to_image(
        CHECKPOINT, prompt, CONTROLNET, picture, preprocessor="preprocess.canny",
        width=IMAGE_SIZE, height=IMAGE_SIZE)
    return _demo_settings(
        graph, "ControlNet (demo model, canny)",
        "The outline of the loaded picture, found by Canny Edges, fixes the shape and its "
        "place; the prompt picks the colours.", "shapes_controlnet")


def write_control_picture(path: Path) -> None:
    """A drawn outline (white, 1 px, on black) of a large triangle at the top right: the
    example's prompt names neither place nor size, so the picture shows the control carrying
    them (issue 19). Canny Edges in the workflow turns the stroke into the edges it trains on."""
    import random
    from dataclasses import replace

    from PIL import Image

    from nodestudio.demo import world
    from tools.demo_model import outlines

    scene = replace(world.sample_scene(random.Random(3), shape="triangle"),
                    centre_x=0.70, centre_y=0.34, radius=9.5 / 64)
    edges = outlines.draw(replace(scene, position=outlines.position_of(0.70, 0.34)), "thin",
                          random.Random(0)).edges
    Image.fromarray(edges).convert("RGB").save(path)


def write_workflows(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    write_control_picture(folder / CONTROL_PICTURE)
    return [
        files.save(text_to_image_graph(), folder / TEXT_TO_IMAGE),
        files.save(controlnet_graph(), folder / CONTROLNET_WORKFLOW),
        folder / CONTROL_PICTURE,
    ]


if __name__ == "__main__":
    from nodestudio.paths import workflows_dir

    for written in write_workflows(workflows_dir()):
        print(f"wrote {written}")
