"""Classical image analysis that reads back what a demo-world image shows. No learned judge.

`read_image` segments the one foreground object from its plain background and classifies it:

- background: the median colour of the image border, nearest of white/black/gray;
- foreground mask: pixels farther from the background colour than half the way to the
  object's own colour (the anti-aliased edge's 50% coverage), largest connected component,
  holes filled;
- colour: hue of the median colour inside the (eroded) mask, nearest of the six world hues;
- shape: the best intersection-over-union against the three canonical shapes (upright, as the
  world draws them) rendered with the mask's own area and centroid. Unlike a fill-ratio
  threshold, this needs no cut-off that anti-aliased small circles sit next to;
- position: which third of the image, horizontally and vertically, holds the centroid;
- size: the radius a shape of that class would need for the mask's area, against the
  midpoint of the world's small and large radii.

`control_region` fills the contours of a canny edge map, the area a ControlNet was told to
draw; `iou` compares it with a generated object's mask.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from nodestudio.demo import world

# Below this colour distance (RGB units) from the background nothing counts as an object.
MIN_CONTRAST = 40.0
# Fewer foreground pixels than this (at 64×64) is no object at all.
MIN_AREA = 6


@dataclass
class Reading:
    """What one image shows, as far as classical analysis can tell."""

    background: str
    mask: np.ndarray = field(repr=False)  # bool [H, W]
    area: int = 0
    colour: str | None = None
    shape: str | None = None
    position: str | None = None
    size: str | None = None
    shape_scores: dict[str, float] = field(default_factory=dict)

    def attributes(self) -> dict[str, str | None]:
        return {
            "background": self.background,
            "colour": self.colour,
            "shape": self.shape,
            "position": self.position,
            "size": self.size,
        }


def _hue_degrees(rgb: np.ndarray) -> float:
    import colorsys

    red, green, blue = (float(channel) / 255.0 for channel in rgb)
    return colorsys.rgb_to_hsv(red, green, blue)[0] * 360.0


def _nearest(value: np.ndarray, prototypes: Mapping[str, tuple[int, int, int]]) -> str:
    return min(
        prototypes,
        key=lambda name: float(np.linalg.norm(value - np.asarray(prototypes[name], np.float32))),
    )


def classify_colour(rgb: np.ndarray) -> str:
    """Nearest world colour by hue (circular distance in degrees)."""
    hue = _hue_degrees(rgb)

    def distance(name: str) -> float:
        difference = abs(hue - _hue_degrees(np.asarray(world.COLOURS[name])))
        return min(difference, 360.0 - difference)

    return min(world.COLOURS, key=distance)


def estimate_background(image: np.ndarray) -> np.ndarray:
    """The median colour of the one-pixel image border (objects rarely touch it)."""
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]]).astype(np.float32)
    return np.median(border, axis=0)


def _largest_component_filled(mask: np.ndarray) -> np.ndarray:
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), 8)
    if count <= 1:
        return np.zeros_like(mask, dtype=bool)
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    component = (labels == largest).astype(np.uint8)
    contours, _ = cv2.findContours(component, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(component)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)


def foreground_mask(image: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask, object colour): pixels past the 50% point between background and object."""
    distance = np.linalg.norm(image.astype(np.float32) - background, axis=-1)
    if distance.max() < MIN_CONTRAST:
        return np.zeros(distance.shape, bool), background
    # The object's colour: the pixels most unlike the background (its solid interior).
    strong = distance >= max(MIN_CONTRAST, 0.75 * float(distance.max()))
    object_colour = np.median(image[strong].astype(np.float32), axis=0)
    half_way = 0.5 * float(np.linalg.norm(object_colour - background))
    return _largest_component_filled(distance > max(half_way, MIN_CONTRAST / 2)), object_colour


def canonical_shape_mask(
    shape: str, area: float, centroid: tuple[float, float], image_size: int
) -> np.ndarray:
    """The world's upright `shape` with the given pixel area and centroid (x, y), as coverage."""
    side_fraction = {
        "circle": math.pi,
        "square": (2 * world.SQUARE_HALF_SIDE) ** 2,
        "triangle": 3 * math.sqrt(3) / 4 * world.TRIANGLE_CIRCUMRADIUS**2,
    }[shape]
    radius_pixels = math.sqrt(area / side_fraction)
    scene = world.Scene(
        shape=shape,
        colour="red",
        size="small",
        position="center",
        background="white",
        # +0.5: pixel indices are pixel corners, the world's coordinates pixel centres.
        centre_x=(centroid[0] + 0.5) / image_size,
        centre_y=(centroid[1] + 0.5) / image_size,
        radius=radius_pixels / image_size,
    )
    return world.coverage(scene, image_size)


def iou(mask_a: np.ndarray, mask_b: np.ndarray) -> float:
    a, b = mask_a.astype(bool), mask_b.astype(bool)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def classify_shape(mask: np.ndarray) -> tuple[str, dict[str, float]]:
    ys, xs = np.nonzero(mask)
    centroid = (float(xs.mean()), float(ys.mean()))
    scores = {
        shape: iou(mask, canonical_shape_mask(shape, float(mask.sum()), centroid, mask.shape[0])
                   >= 0.5)
        for shape in world.SHAPES
    }
    return max(scores, key=scores.__getitem__), scores


def classify_position(mask: np.ndarray) -> str:
    ys, xs = np.nonzero(mask)
    height, width = mask.shape
    column = min(2, int(3 * (xs.mean() + 0.5) / width))
    row = min(2, int(3 * (ys.mean() + 0.5) / height))
    return next(name for name, cell in world.POSITIONS.items() if cell == (column, row))


def classify_size(mask: np.ndarray, shape: str) -> str:
    area = float(mask.sum())
    side_fraction = {
        "circle": math.pi,
        "square": (2 * world.SQUARE_HALF_SIDE) ** 2,
        "triangle": 3 * math.sqrt(3) / 4 * world.TRIANGLE_CIRCUMRADIUS**2,
    }[shape]
    radius = math.sqrt(area / side_fraction) / mask.shape[0]
    threshold = math.sqrt(world.RADIUS["small"] * world.RADIUS["large"])
    return "large" if radius > threshold else "small"


def read_image(image: np.ndarray) -> Reading:
    """Classify the object in an RGB uint8 image [H, W, 3] of the demo world."""
    import cv2

    if image.dtype != np.uint8:
        image = np.clip(np.rint(np.asarray(image, np.float32) * 255.0), 0, 255).astype(np.uint8)
    background = estimate_background(image)
    reading = Reading(background=_nearest(background, world.BACKGROUNDS), mask=np.zeros(0))
    mask, _ = foreground_mask(image, background)
    reading.mask = mask
    reading.area = int(mask.sum())
    if reading.area < MIN_AREA:
        return reading
    interior = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    if interior.sum() < 3:
        interior = mask
    reading.colour = classify_colour(np.median(image[interior].astype(np.float32), axis=0))
    reading.shape, reading.shape_scores = classify_shape(mask)
    reading.position = classify_position(mask)
    reading.size = classify_size(mask, reading.shape)
    return reading


def control_region(edges: np.ndarray) -> np.ndarray:
    """The area enclosed by a canny edge map's contours (edges included), bool [H, W]."""
    import cv2

    binary = (np.asarray(edges) > 127).astype(np.uint8)
    if binary.ndim == 3:
        binary = binary.max(axis=-1)
    # Close one-pixel gaps so a nearly closed outline still encloses its inside.
    closed = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(closed)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled.astype(bool)


@dataclass
class Adherence:
    """Fractions of images whose reading matches the prompt, per attribute."""

    counts: dict[str, int] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    ious: list[float] = field(default_factory=list)
    # (asked, read) shape pairs: the overall shape rate hides which shape is drawn wrong.
    shape_pairs: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, reading: Reading, expected: Mapping[str, str]) -> None:
        observed = reading.attributes()
        for name, value in expected.items():
            self.counts[name] = self.counts.get(name, 0) + 1
            self.hits[name] = self.hits.get(name, 0) + int(observed.get(name) == value)
        if "shape" in expected:
            pair = (expected["shape"], str(observed.get("shape")))
            self.shape_pairs[pair] = self.shape_pairs.get(pair, 0) + 1

    def shape_rates(self) -> dict[str, float]:
        """Per asked shape, the fraction read back as that shape."""
        asked: dict[str, list[int]] = {}
        for (shape, read), count in self.shape_pairs.items():
            tally = asked.setdefault(shape, [0, 0])
            tally[0] += count * (read == shape)
            tally[1] += count
        return {shape: round(right / total, 4) for shape, (right, total) in sorted(asked.items())}

    def rate(self, name: str) -> float:
        return self.hits.get(name, 0) / self.counts[name] if self.counts.get(name) else math.nan

    def mean_iou(self) -> float:
        return float(np.mean(self.ious)) if self.ious else math.nan

    def summary(self) -> dict[str, float]:
        rates = {name: round(self.rate(name), 4) for name in sorted(self.counts)}
        if self.ious:
            rates["controlnet_iou"] = round(self.mean_iou(), 4)
        return rates
