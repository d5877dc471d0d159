"""The procedural world the demo model learns: one flat shape on a plain background.

Every image shows a single circle, square or triangle in one of six colours, at one of nine
places on a 3×3 grid, small or large, on a white, black or gray background. Images are
rendered with exact anti-aliasing (coverage on a 4× finer grid, averaged down), so the model
sees the same soft edges a real renderer gives, and the ground-truth mask comes for free.

Captions name the attributes in a fixed order ("a large red circle at the top left on a white
background"); training captions drop attributes at random, and a dropped attribute is simply
whatever the scene happened to sample, so "a red circle" means "a red circle, anywhere, any
size, any background".

Held-out combinations: a few colour+shape and colour+position pairs are never *named
together* in a training caption. Scenes showing them are still rendered (the world is
uniform), but their captions always drop one attribute of the pair. Evaluation prompts name
exactly these pairs, so the adherence metrics measure composition, not memorisation.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import numpy as np

IMAGE_SIZE = 64
SUPERSAMPLE = 4

SHAPES = ("circle", "square", "triangle")
SIZES = ("small", "large")
# Hues about 30–95 degrees apart (red 0°, orange 30°, yellow 54°, green 131°, blue 224°,
# purple 278°), saturated and mid-to-bright, so hue alone tells them apart.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "orange": (240, 130, 20),
    "yellow": (235, 215, 25),
    "green": (35, 170, 60),
    "blue": (40, 90, 225),
    "purple": (145, 50, 200),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "gray": (128, 128, 128),
}
# Position name -> (column, row) in the 3×3 grid.
POSITIONS: dict[str, tuple[int, int]] = {
    "top left": (0, 0),
    "top": (1, 0),
    "top right": (2, 0),
    "left": (0, 1),
    "center": (1, 1),
    "right": (2, 1),
    "bottom left": (0, 2),
    "bottom": (1, 2),
    "bottom right": (2, 2),
}
# Pixel centre of each grid column/row at IMAGE_SIZE 64 (scaled for other sizes). Not the
# cell centres (10.7, 32, 53.3): pulled inwards so a large triangle stays inside the image.
GRID_CENTRES = (15.0 / 64, 32.0 / 64, 49.0 / 64)
# Base "radius" in pixels at 64 px: circle radius; the square and triangle derive from it.
RADIUS = {"small": 5.0 / 64, "large": 8.5 / 64}
SQUARE_HALF_SIDE = 0.86  # × radius: about the circle's area
TRIANGLE_CIRCUMRADIUS = 1.35  # × radius
SIZE_JITTER = 0.08  # relative
POSITION_JITTER = 1.5 / 64  # of the image side

ATTRIBUTES = ("size", "colour", "shape", "position", "background")

# Pairs never named together in a training caption (see the module docstring).
HELD_OUT_COLOUR_SHAPE = frozenset(
    {("green", "triangle"), ("purple", "square"), ("orange", "circle")}
)
HELD_OUT_COLOUR_POSITION = frozenset(
    {("blue", "bottom right"), ("yellow", "top left"), ("red", "center")}
)

# Probability that a training caption keeps each attribute (when it is not the full caption).
KEEP_PROBABILITY = {"size": 0.5, "colour": 0.8, "shape": 0.85, "position": 0.7, "background": 0.6}
FULL_CAPTION_PROBABILITY = 0.3

# Every word a caption can use; the tokenizer makes each one a single token.
CAPTION_WORDS: tuple[str, ...] = tuple(
    dict.fromkeys(
        ["a", "an", "at", "the", "on", "background", "shape"]
        + list(SIZES)
        + list(COLOURS)
        + list(SHAPES)
        + [word for name in POSITIONS for word in name.split()]
        + list(BACKGROUNDS)
    )
)


@dataclass(frozen=True)
class Scene:
    """One image's content: the named attributes plus the continuous jitter."""

    shape: str
    colour: str
    size: str
    position: str
    background: str
    centre_x: float  # fraction of the image width
    centre_y: float  # fraction of the image height
    radius: float  # fraction of the image side

    def attributes(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in ATTRIBUTES}


def sample_scene(rng: random.Random, **fixed: str) -> Scene:
    """A uniformly random scene; keyword arguments pin attributes (e.g. colour="red")."""
    unknown = set(fixed) - set(ATTRIBUTES)
    if unknown:
        raise ValueError(f"unknown scene attributes: {sorted(unknown)}")
    choices = {
        "shape": SHAPES,
        "colour": tuple(COLOURS),
        "size": SIZES,
        "position": tuple(POSITIONS),
        "background": tuple(BACKGROUNDS),
    }
    picked: dict[str, str] = {}
    for name in ATTRIBUTES:
        value = fixed.get(name)
        if value is None:
            value = rng.choice(choices[name])
        elif value not in choices[name]:
            raise ValueError(f"{value!r} is not a {name}; choose from {', '.join(choices[name])}")
        picked[name] = value
    column, row = POSITIONS[picked["position"]]
    return Scene(
        **picked,
        centre_x=GRID_CENTRES[column] + rng.uniform(-POSITION_JITTER, POSITION_JITTER),
        centre_y=GRID_CENTRES[row] + rng.uniform(-POSITION_JITTER, POSITION_JITTER),
        radius=RADIUS[picked["size"]] * (1 + rng.uniform(-SIZE_JITTER, SIZE_JITTER)),
    )


def _inside(scene: Scene, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Which points (in image fractions) lie inside the scene's shape."""
    dx, dy = x - scene.centre_x, y - scene.centre_y
    r = scene.radius
    if scene.shape == "circle":
        return dx * dx + dy * dy <= r * r
    if scene.shape == "square":
        half = SQUARE_HALF_SIDE * r
        return (np.abs(dx) <= half) & (np.abs(dy) <= half)
    if scene.shape == "triangle":
        # Equilateral, pointing up, centroid at the centre: inside all three half-planes.
        big_r = TRIANGLE_CIRCUMRADIUS * r
        below_base = dy <= big_r / 2
        sqrt3 = np.sqrt(3.0)
        # The two slanted sides through the apex (0, -R) and the base corners (±R√3/2, R/2).
        right_side = sqrt3 * dx - dy <= big_r
        left_side = -sqrt3 * dx - dy <= big_r
        return below_base & right_side & left_side
    raise ValueError(f"unknown shape {scene.shape!r}")


def coverage(scene: Scene, image_size: int = IMAGE_SIZE) -> np.ndarray:
    """The fraction of each pixel the shape covers: float32 [H, W] in [0, 1] (exact AA mask)."""
    fine = image_size * SUPERSAMPLE
    centres = (np.arange(fine, dtype=np.float64) + 0.5) / fine
    inside = _inside(scene, centres[None, :], centres[:, None]).astype(np.float32)
    return inside.reshape(image_size, SUPERSAMPLE, image_size, SUPERSAMPLE).mean(axis=(1, 3))


def render(scene: Scene, image_size: int = IMAGE_SIZE) -> np.ndarray:
    """The scene as an anti-aliased uint8 RGB image [H, W, 3]."""
    alpha = coverage(scene, image_size)[..., None]
    foreground = np.asarray(COLOURS[scene.colour], dtype=np.float32)
    background = np.asarray(BACKGROUNDS[scene.background], dtype=np.float32)
    pixels = background * (1 - alpha) + foreground * alpha
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def canny_edges(image: np.ndarray, low: int = 100, high: int = 200) -> np.ndarray:
    """Canny edges of an RGB uint8 image as uint8 [H, W] (0 or 255).

    OpenCV's Canny on a 3-channel image takes the strongest channel's gradient, so shapes
    whose luminance matches the background (green on gray) still get edges.
    """
    import cv2

    return cv2.Canny(np.ascontiguousarray(image), low, high)


def caption(attributes: Mapping[str, str]) -> str:
    """The caption naming exactly the given attributes, in the world's fixed word order."""
    unknown = set(attributes) - set(ATTRIBUTES)
    if unknown:
        raise ValueError(f"unknown scene attributes: {sorted(unknown)}")
    words = [
        attributes.get("size", ""),
        attributes.get("colour", ""),
        attributes.get("shape", "shape"),
    ]
    words = [word for word in words if word]
    article = "an" if words[0][0] in "aeiou" else "a"
    text = " ".join([article, *words])
    if "position" in attributes:
        text += f" at the {attributes['position']}"
    if "background" in attributes:
        text += f" on a {attributes['background']} background"
    return text


def parse_caption(text: str) -> dict[str, str]:
    """The attributes a caption of the world's grammar names (the inverse of `caption`)."""
    import re

    def one_of(names: Iterable[str]) -> str:
        # Longest first, so "top left" wins over "top".
        return "|".join(sorted(names, key=len, reverse=True))

    pattern = (
        rf"an? (?:(?P<size>{one_of(SIZES)}) )?(?:(?P<colour>{one_of(COLOURS)}) )?"
        rf"(?:(?P<shape>{one_of(SHAPES)})|shape)(?: at the (?P<position>{one_of(POSITIONS)}))?"
        rf"(?: on a (?P<background>{one_of(BACKGROUNDS)}) background)?"
    )
    match = re.fullmatch(pattern, text.strip())
    if match is None:
        raise ValueError(f"not a caption of the demo world: {text!r}")
    return {name: value for name, value in match.groupdict().items() if value is not None}


def names_held_out_pair(attributes: Mapping[str, str]) -> bool:
    """Whether a caption naming these attributes would name a held-out pair."""
    colour = attributes.get("colour")
    return (colour, attributes.get("shape")) in HELD_OUT_COLOUR_SHAPE or (
        colour,
        attributes.get("position"),
    ) in HELD_OUT_COLOUR_POSITION


def training_caption(attributes: Mapping[str, str], rng: random.Random,
                     always: tuple[str, ...] = ()) -> str:
    """A randomly shortened caption of a scene's attributes that never names a held-out pair.

    Attributes in `always` are always named; when that would name a held-out pair, the
    other side of the pair is the one dropped."""
    full = dict(attributes)
    if rng.random() < FULL_CAPTION_PROBABILITY:
        kept = dict(full)
    else:
        kept = {
            name: value for name, value in full.items()
            if name in always or rng.random() < KEEP_PROBABILITY[name]
        }
    while names_held_out_pair(kept):
        # Drop one side of the pair at random, so both attributes stay learnable on their own.
        partner = "shape" if (kept.get("colour"), kept.get("shape")) in HELD_OUT_COLOUR_SHAPE else (
            "position"
        )
        sides = [side for side in ("colour", partner) if side not in always] or ["colour"]
        del kept[rng.choice(sides)]
    return caption(kept)


def held_out_prompts(count: int, seed: int = 0) -> list[tuple[str, Scene]]:
    """Evaluation prompts: full captions that each name one held-out pair.

    Returns (caption, reference scene) pairs cycling over the held-out pairs; the other
    attributes are sampled from `seed`. The scene is what an ideal model would draw.
    """
    rng = random.Random(seed)
    pairs: list[dict[str, str]] = [
        {"colour": colour, "shape": shape} for colour, shape in sorted(HELD_OUT_COLOUR_SHAPE)
    ] + [
        {"colour": colour, "position": position}
        for colour, position in sorted(HELD_OUT_COLOUR_POSITION)
    ]
    prompts = []
    for index in range(count):
        scene = sample_scene(rng, **pairs[index % len(pairs)])
        prompts.append((caption(scene.attributes()), scene))
    return prompts


def scene_to_dict(scene: Scene) -> dict[str, object]:
    return asdict(scene)


def scenes_to_arrays(scenes: Iterable[Scene]) -> dict[str, np.ndarray]:
    """Attribute indices of many scenes, for compact storage next to cached latents."""
    scenes = list(scenes)
    return {
        "shape": np.array([SHAPES.index(s.shape) for s in scenes], np.int8),
        "colour": np.array([list(COLOURS).index(s.colour) for s in scenes], np.int8),
        "size": np.array([SIZES.index(s.size) for s in scenes], np.int8),
        "position": np.array([list(POSITIONS).index(s.position) for s in scenes], np.int8),
        "background": np.array([list(BACKGROUNDS).index(s.background) for s in scenes], np.int8),
    }


def attributes_from_arrays(arrays: Mapping[str, np.ndarray], index: int) -> dict[str, str]:
    names = {
        "shape": SHAPES,
        "colour": tuple(COLOURS),
        "size": SIZES,
        "position": tuple(POSITIONS),
        "background": tuple(BACKGROUNDS),
    }
    return {name: names[name][int(arrays[name][index])] for name in ATTRIBUTES}
