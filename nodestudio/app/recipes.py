"""The usual graphs, built by small pure functions, laid out and ready to run or save.

    graph, ids = text_to_image("nodestudio-shapes", "a red circle", steps=12, seed=3)
    image = session.run(graph).outputs[ids["decode"]]["image"]

Each function returns the graph and the ids of its nodes by role, so callers (tests, tools,
benchmarks, the app) change values or wire more nodes without guessing ids:
``"checkpoint"``, ``"positive"``, ``"negative"``, ``"latent"``, ``"sampler"``, ``"decode"``,
``"save"`` (and ControlNet's roles for :func:`controlnet_text_to_image`). The ids are the role
names themselves. No Qt and no torch here: only the graph model.
"""

from __future__ import annotations

from typing import Any

from nodestudio.graph.layout import NodeLayout
from nodestudio.graph.model import Graph

#: Where each role sits (x, y) in the text-to-image layout: loader left, prompts and latent in
#: a column, then sampler, decode and save in a row.
_TEXT_TO_IMAGE_LAYOUT: dict[str, tuple[float, float]] = {
    "checkpoint": (0.0, 120.0), "positive": (340.0, 0.0), "negative": (340.0, 260.0),
    "latent": (340.0, 520.0), "sampler": (720.0, 120.0), "decode": (1060.0, 120.0),
    "save": (1300.0, 120.0),
}
#: The ControlNet roles below the prompts; sampler, decode and save move one column right.
_CONTROLNET_LAYOUT: dict[str, tuple[float, float]] = {
    "control_image": (0.0, 640.0), "preprocessor": (0.0, 900.0),
    "controlnet": (340.0, 700.0), "control": (720.0, 560.0), "sampler": (1060.0, 120.0),
    "decode": (1400.0, 120.0), "save": (1640.0, 120.0),
}


def text_to_image(
    checkpoint: str,
    prompt: str,
    negative: str = "",
    *,
    width: int = 512,
    height: int = 512,
    batch_size: int = 1,
    steps: int = 20,
    cfg: float = 7.0,
    seed: int = 0,
    sampler: str = "euler",
    scheduler: str = "normal",
    filename_prefix: str = "NodeStudio",
) -> tuple[Graph, dict[str, str]]:
    """Load Checkpoint → Text Encode (prompt, negative) → Empty Latent → Sampler → VAE Decode
    → Save Image. The defaults are the nodes' own."""
    graph = Graph()
    ids = {role: role for role in _TEXT_TO_IMAGE_LAYOUT}

    def add(role: str, type_id: str, **values: object) -> None:
        graph.add_node(type_id, values, id=ids[role],
                       layout=NodeLayout(pos=_TEXT_TO_IMAGE_LAYOUT[role]))

    add("checkpoint", "diffusion.load_checkpoint", checkpoint=checkpoint)
    add("positive", "diffusion.text_encode", text=prompt)
    add("negative", "diffusion.text_encode", text=negative)
    add("latent", "diffusion.empty_latent", width=width, height=height, batch_size=batch_size)
    add("sampler", "diffusion.sampler", seed=seed, steps=steps, cfg=float(cfg), sampler=sampler,
        scheduler=scheduler)
    add("decode", "diffusion.vae_decode")
    add("save", "image.save", filename_prefix=filename_prefix)
    _connect(graph, ids, (
        ("checkpoint", "clip", "positive", "clip"),
        ("checkpoint", "clip", "negative", "clip"),
        ("checkpoint", "model", "latent", "model"),
        ("checkpoint", "model", "sampler", "model"),
        ("positive", "conditioning", "sampler", "positive"),
        ("negative", "conditioning", "sampler", "negative"),
        ("latent", "latent", "sampler", "latent"),
        ("checkpoint", "vae", "decode", "vae"),
        ("sampler", "latent", "decode", "latent"),
        ("decode", "image", "save", "images"),
    ))
    return graph, ids


def controlnet_text_to_image(
    checkpoint: str,
    prompt: str,
    controlnet: str,
    control_image: str,
    negative: str = "",
    *,
    preprocessor: str | None = None,
    strength: float = 1.0,
    start_percent: float = 0.0,
    end_percent: float = 1.0,
    **text_to_image_values: Any,
) -> tuple[Graph, dict[str, str]]:
    """:func:`text_to_image` with a ControlNet on both prompts: Load Image (``control_image``,
    a name in the input folder or an absolute path) → [``preprocessor``, a node type such as
    ``"preprocess.canny"``, with its defaults] → Apply ControlNet (Load ControlNet
    ``controlnet``) between the prompts and the sampler. Extra roles: ``"control_image"``,
    ``"controlnet"``, ``"control"`` and, with a preprocessor, ``"preprocessor"``."""
    graph, ids = text_to_image(checkpoint, prompt, negative, **text_to_image_values)
    roles = ["control_image", "controlnet", "control"]
    if preprocessor is not None:
        roles.append("preprocessor")
    ids.update({role: role for role in roles})
    for role, pos in _CONTROLNET_LAYOUT.items():
        if role in ids and role in graph:
            graph.move_node(ids[role], pos)
    graph.add_node("image.load", {"image": control_image}, id=ids["control_image"],
                   layout=NodeLayout(pos=_CONTROLNET_LAYOUT["control_image"]))
    graph.add_node("diffusion.load_controlnet", {"control_net": controlnet},
                   id=ids["controlnet"], layout=NodeLayout(pos=_CONTROLNET_LAYOUT["controlnet"]))
    graph.add_node("diffusion.apply_controlnet",
                   {"strength": float(strength), "start_percent": float(start_percent),
                    "end_percent": float(end_percent)},
                   id=ids["control"], layout=NodeLayout(pos=_CONTROLNET_LAYOUT["control"]))
    hint = "control_image"
    if preprocessor is not None:
        graph.add_node(preprocessor, {}, id=ids["preprocessor"],
                       layout=NodeLayout(pos=_CONTROLNET_LAYOUT["preprocessor"]))
        _connect(graph, ids, (("control_image", "image", "preprocessor", "image"),))
        hint = "preprocessor"
    _connect(graph, ids, (
        (hint, "image", "control", "image"),
        ("controlnet", "control_net", "control", "control_net"),
        ("positive", "conditioning", "control", "positive"),
        ("negative", "conditioning", "control", "negative"),
        ("control", "positive", "sampler", "positive"),  # replaces the direct prompt links
        ("control", "negative", "sampler", "negative"),
    ))
    return graph, ids


def _connect(graph: Graph, ids: dict[str, str],
             links: tuple[tuple[str, str, str, str], ...]) -> None:
    for source, output, target, input_name in links:
        graph.connect(ids[source], output, ids[target], input_name)
