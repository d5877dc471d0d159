"""Control pictures in the styles people give a ControlNet, for scenes anywhere in the frame.

The shipped ControlNet was trained only on canny edges of the world's nine-place renders, so
it learnt the outline's shape but took place and size from the prompt's habits (issue 19).
This module draws, for a scene at a continuous position and size:

- ``canny``: the canny edges of the rendered picture (what the Canny Edges node gives);
- ``thin``: a 1-px outline drawn on black, as with a 1-px pen;
- ``thick``: a 2–4 px outline;
- ``wobbly``: a hand-drawn outline, its radius disturbed by smooth low-frequency noise;
- ``gap``: a thin or 2-px outline with one stretch (12–25 % of its length) left out.

Each comes with the region the outline encloses (the filled polygon it was drawn from; for
canny the shape's half-coverage mask), which the evaluation compares with the generated
object's mask. Everything is white (255) on black (0), uint8 [H, W], like the edge maps the
ControlNet pipeline receives.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

import numpy as np

from nodestudio.demo import world

STYLES = ("canny", "thin", "thick", "wobbly", "gap")
# Continuous sizes: from a bit under the world's small radius to about twice its large one,
# capped so that the shape still fits the 64-px frame with a pixel to spare.
MIN_RADIUS = 4.0 / 64
MAX_RADIUS = 15.0 / 64
# cv2 drawing with sub-pixel coordinates: points are multiplied by 2**SHIFT.
SHIFT = 4


@dataclass(frozen=True)
class Control:
    """One control picture and the region its outline encloses."""

    edges: np.ndarray  # uint8 [H, W], 0 or up to 255
    region: np.ndarray  # bool [H, W]
    style: str


def _extent(shape: str, radius: float) -> tuple[float, float, float]:
    """How far the shape reaches from its centre: (sideways, up, down), image fractions."""
    if shape == "square":
        half = world.SQUARE_HALF_SIDE * radius
        return half, half, half
    if shape == "triangle":
        big_r = world.TRIANGLE_CIRCUMRADIUS * radius
        return big_r * math.sqrt(3) / 2, big_r, big_r / 2
    return radius, radius, radius


def position_of(centre_x: float, centre_y: float) -> str:
    """The world's position word for a continuous centre: which third holds it."""
    cell = (min(2, int(3 * centre_x)), min(2, int(3 * centre_y)))
    return next(name for name, value in world.POSITIONS.items() if value == cell)


def size_of(radius: float) -> str:
    return "large" if radius > math.sqrt(world.RADIUS["small"] * world.RADIUS["large"]) \
        else "small"


def sample_free_scene(rng: random.Random, **fixed: str) -> world.Scene:
    """A scene at a uniformly random place and size anywhere the whole shape fits, with its
    position and size words read from where it landed (so captions stay truthful)."""
    scene = world.sample_scene(rng, **fixed)
    # Log-uniform: as many small shapes (which fit in more places) as large ones.
    radius = math.exp(rng.uniform(math.log(MIN_RADIUS), math.log(MAX_RADIUS)))
    sideways, up, down = _extent(scene.shape, radius)
    margin = 1.5 / 64
    centre_x = rng.uniform(sideways + margin, 1 - sideways - margin)
    centre_y = rng.uniform(up + margin, 1 - down - margin)
    return replace(scene, centre_x=centre_x, centre_y=centre_y, radius=radius,
                   position=position_of(centre_x, centre_y), size=size_of(radius))


def outline_points(scene: world.Scene, spacing: float = 0.5) -> np.ndarray:
    """The shape's boundary as float (x, y) pixel coordinates (pixel centres at integers),
    sampled every `spacing` pixels so that wobble and gaps can act along it."""
    size = world.IMAGE_SIZE
    cx, cy, r = scene.centre_x * size - 0.5, scene.centre_y * size - 0.5, scene.radius * size
    if scene.shape == "circle":
        count = max(24, int(2 * math.pi * r / spacing))
        angles = np.linspace(0, 2 * math.pi, count, endpoint=False)
        return np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], axis=1)
    if scene.shape == "square":
        h = world.SQUARE_HALF_SIDE * r
        corners = [(-h, -h), (h, -h), (h, h), (-h, h)]
    else:
        big_r = world.TRIANGLE_CIRCUMRADIUS * r
        corners = [(0.0, -big_r), (big_r * math.sqrt(3) / 2, big_r / 2),
                   (-big_r * math.sqrt(3) / 2, big_r / 2)]
    points = []
    for (x0, y0), (x1, y1) in zip(corners, corners[1:] + corners[:1], strict=True):
        steps = max(2, int(math.hypot(x1 - x0, y1 - y0) / spacing))
        t = np.arange(steps) / steps
        points.append(np.stack([cx + x0 + (x1 - x0) * t, cy + y0 + (y1 - y0) * t], axis=1))
    return np.concatenate(points)


def _wobble(points: np.ndarray, rng: random.Random) -> np.ndarray:
    """Push each point away from the centre by a smooth random amount, like an unsteady hand:
    two or three sinusoids along the outline, 0.5–1.2 px plus 5 % of the size, but never
    more than a fifth of the size (small shapes would turn into stars)."""
    centre = points.mean(axis=0)
    offsets = points - centre
    distance = np.linalg.norm(offsets, axis=1, keepdims=True)
    phase = np.linspace(0, 2 * math.pi, len(points), endpoint=False)
    size = float(distance.mean())
    amplitude = min(rng.uniform(0.5, 1.2) + 0.05 * size, 0.2 * size)
    push = np.zeros(len(points))
    for _ in range(rng.randint(2, 3)):
        push += rng.uniform(0.3, 1.0) * np.sin(rng.randint(2, 4) * phase + rng.uniform(0, 6.3))
    push *= amplitude / max(1e-6, float(np.abs(push).max()))
    return points + offsets / np.maximum(distance, 1e-6) * push[:, None]


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.rint(points * (1 << SHIFT)).astype(np.int32)


def _filled(points: np.ndarray) -> np.ndarray:
    """Pixels whose centres lie inside the polygon (cv2.fillPoly would add the boundary's
    pixels too, half a pixel all round, which a correctly drawn object would never match)."""
    from skimage.draw import polygon2mask

    size = world.IMAGE_SIZE
    return polygon2mask((size, size), points[:, ::-1])


def _stroke(points: np.ndarray, thickness: int, closed: bool, smooth: bool) -> np.ndarray:
    import cv2

    edges = np.zeros((world.IMAGE_SIZE, world.IMAGE_SIZE), np.uint8)
    cv2.polylines(edges, [_fixed(points)], closed, 255, thickness=thickness,
                  lineType=cv2.LINE_AA if smooth else cv2.LINE_8, shift=SHIFT)
    return edges


def draw(scene: world.Scene, style: str, rng: random.Random) -> Control:
    """The control picture of `scene` in `style`; `rng` picks thickness, wobble and gap."""
    if style == "canny":
        return Control(world.canny_edges(world.render(scene)),
                       world.coverage(scene) >= 0.5, style)
    points = outline_points(scene)
    if style == "thin":
        return Control(_stroke(points, 1, True, False), _filled(points), style)
    if style == "thick":
        return Control(_stroke(points, rng.randint(2, 4), True, rng.random() < 0.5),
                       _filled(points), style)
    if style == "wobbly":
        wobbly = _wobble(points, rng)
        return Control(_stroke(wobbly, rng.randint(1, 2), True, rng.random() < 0.5),
                       _filled(wobbly), style)
    if style == "gap":
        fraction = rng.uniform(0.12, 0.25)
        length = max(3, int(fraction * len(points)))
        start = rng.randrange(len(points))
        # Roll so the gap is at the end, then leave it out of an open polyline.
        rolled = np.roll(points, -start - length, axis=0)[: len(points) - length]
        return Control(_stroke(rolled, rng.randint(1, 2), False, False), _filled(points), style)
    raise ValueError(f"unknown outline style {style!r}; choose from {', '.join(STYLES)}")
