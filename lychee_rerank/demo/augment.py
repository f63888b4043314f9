"""The second training stage's scenes: the world a user draws, not one tidy 84 px picture.

Canvases of 56-4000 px, shapes from 10 % to 90 % of the canvas anywhere in it
(sometimes cut off at the edge), rotated, filled or outline-only, on plain,
gradient, noisy or textured backgrounds, sometimes with a second unrelated
shape, sometimes JPEG-compressed or blurred. Drawn with Pillow like the first
stage's ``scenes`` (the held-out check uses ``heldout``, a separate renderer).

The model sees every image at about 84 x 84 px (its declared pixel budget), so a
canvas larger than :data:`RENDER_LIMIT` is drawn at that size: after the
anti-aliased downscale to 84 px a 4000 px and a 168 px drawing look alike.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from . import scenes

RENDER_LIMIT = 168  # px: twice the model's 84 px view
MIN_CONTRAST = 110.0  # RGB distance between a shape and every background colour behind it


@dataclass(frozen=True)
class Item:
    """One shape, in canvas fractions."""

    colour: str
    shape: str
    rgb: tuple[int, int, int]
    size: float  # bounding-box side / canvas side
    cx: float
    cy: float
    rotation: float
    detail: float  # star inner radius ratio; triangle width / height
    outline: float  # 0 = filled, else the stroke width as a fraction of the shape's size


@dataclass(frozen=True)
class AugScene:
    """A canvas with one or two shapes and its post-processing."""

    items: tuple[Item, ...]
    canvas: int
    background: str
    tones: tuple[tuple[int, int, int], tuple[int, int, int]]
    period: float  # texture period as a fraction of the canvas
    jpeg: int  # 0 = none, else the quality
    blur: float  # Gaussian radius in px at the drawn size
    seed: int

    @property
    def colour(self) -> str:
        return self.items[0].colour

    @property
    def shape(self) -> str:
        return self.items[0].shape

    def targets(self) -> set[tuple[str, str]]:
        return {(i.colour, i.shape) for i in self.items}

    def draw(self, canvas: int | None = None) -> Image.Image:
        return render(self, min(canvas or self.canvas, RENDER_LIMIT))


def _jitter(rng: random.Random, rgb: tuple[int, int, int], amount: int) -> tuple[int, int, int]:
    return tuple(min(255, max(0, c + rng.randint(-amount, amount))) for c in rgb)  # type: ignore[return-value]


def random_item(rng: random.Random, colour: str, shape: str, small: bool = False, mild: bool = False) -> Item:
    low, high = (0.25, 0.85) if mild else (0.1, 0.45 if small else 0.9)
    size = math.exp(rng.uniform(math.log(low), math.log(high)))
    if not mild and rng.random() < 0.1:  # partly cut off at the edge
        cx, cy = rng.uniform(0.05, 0.95), rng.uniform(0.05, 0.95)
    else:
        half = min(size / 2, 0.49)
        cx, cy = rng.uniform(half, 1 - half), rng.uniform(half, 1 - half)
    rotation = {"circle": 0.0, "square": rng.uniform(-45, 45), "star": rng.uniform(-36, 36)}.get(
        shape, rng.uniform(-40, 40) + (180 if rng.random() < 0.1 else 0))
    detail = rng.uniform(0.35, 0.55) if shape == "star" else rng.uniform(0.75, 1.3)
    outline = rng.uniform(0.06, 0.16) if rng.random() < 0.12 else 0.0
    rgb = _jitter(rng, scenes.COLOURS[colour][0], 20)
    return Item(colour, shape, rgb, size, cx, cy, rotation, detail, outline)


def _apart(rng: random.Random, first: Item, target: tuple[str, str]) -> Item:
    """A second shape placed where it overlaps ``first`` little (the best of a few tries)."""
    tries = [random_item(rng, *target, small=True) for _ in range(8)]
    gap = lambda i: math.hypot(i.cx - first.cx, i.cy - first.cy) - (i.size + first.size) / 2  # noqa: E731
    return max(tries, key=gap)


def _tone(rng: random.Random, avoid: list[tuple[int, int, int]]) -> tuple[int, int, int]:
    """A background colour far from every shape colour."""
    palette = [c[0] for c in scenes.COLOURS.values()]
    for _ in range(50):
        pale = tuple(rng.randint(200, 255) for _ in range(3))
        pool = palette if rng.random() < 0.3 else list(scenes.NEUTRAL_BACKGROUNDS.values()) + [pale] * 4
        tone = _jitter(rng, rng.choice(pool), 25)
        if all(scenes._distance(tone, a) >= MIN_CONTRAST for a in avoid):
            return tone
    return (250, 250, 250) if all(sum(a) < 500 for a in avoid) else (15, 15, 15)


def random_aug_scene(
    rng: random.Random, colour: str, shape: str, distractor: tuple[str, str] | None = None, mild: bool = False
) -> AugScene:
    """A training scene showing ``colour`` ``shape`` (first item), plus ``distractor`` when given.

    ``mild``: a reference image as users pick one (25-85 % of the canvas, never cut off).
    """
    items = [random_item(rng, colour, shape, small=distractor is not None, mild=mild)]
    if distractor:
        items.append(_apart(rng, items[0], distractor))
    canvas = rng.randint(56, 83) if rng.random() < 0.2 else round(math.exp(rng.uniform(math.log(84), math.log(4000))))
    avoid = [i.rgb for i in items]
    background = rng.choice(["plain", "plain", "gradient", "noise", "texture"])
    first = _tone(rng, avoid)
    second = _tone(rng, avoid) if background == "gradient" else _jitter(rng, first, 30)
    if background == "texture" and any(scenes._distance(second, a) < MIN_CONTRAST for a in avoid):
        second = first
    jpeg = rng.randint(30, 90) if rng.random() < 0.25 else 0
    blur = rng.uniform(0.3, 1.2) if rng.random() < 0.2 else 0.0
    return AugScene(tuple(items), canvas, background, (first, second), rng.uniform(0.04, 0.2), jpeg, blur,
                    rng.randrange(2**31))


def _background(scene: AugScene, n: int) -> Image.Image:
    first, second = (np.array(t, dtype=np.float32) for t in scene.tones)
    axis = np.arange(n, dtype=np.float32) / max(n - 1, 1)
    rng = np.random.default_rng(scene.seed)
    if scene.background == "gradient":
        angle = rng.uniform(0, math.pi)
        x, y = np.meshgrid(axis, axis)
        t = np.clip((x * math.cos(angle) + y * math.sin(angle)) / (abs(math.cos(angle)) + abs(math.sin(angle))), 0, 1)
        array = first * (1 - t[..., None]) + second * t[..., None]
    elif scene.background == "texture":
        period = max(2.0, scene.period * n)
        x, y = np.meshgrid(np.arange(n), np.arange(n))
        pattern = [(x // period + y // period) % 2, (x // period) % 2, ((x + y) // period) % 2][scene.seed % 3]
        array = np.where(pattern[..., None] > 0, second, first)
    else:
        array = np.broadcast_to(first, (n, n, 3)).astype(np.float32)
    if scene.background == "noise":
        array = array + rng.normal(0, rng.uniform(4, 25), (n, n, 3))
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), "RGB")


def _outline_points(item: Item, n: int) -> list[tuple[float, float]]:
    cx, cy, r = item.cx * n, item.cy * n, item.size * n / 2
    if item.shape == "square":
        angles, radii = [45 + item.rotation + 90 * k for k in range(4)], [r * math.sqrt(2) * 0.88] * 4
    elif item.shape == "triangle":
        w = item.detail
        pts = [(0.0, -1.0), (-w, 0.8), (w, 0.8)]
        t = math.radians(item.rotation)
        return [(cx + r * (x * math.cos(t) - y * math.sin(t)), cy + r * (x * math.sin(t) + y * math.cos(t)))
                for x, y in pts]
    else:
        angles = [-90 + item.rotation + 36 * k for k in range(10)]
        radii = [r if k % 2 == 0 else r * item.detail for k in range(10)]
    return [(cx + q * math.cos(math.radians(a)), cy + q * math.sin(math.radians(a))) for a, q in zip(angles, radii)]


def _draw_item(draw: ImageDraw.ImageDraw, item: Item, n: int) -> None:
    width = max(1, round(item.outline * item.size * n)) if item.outline else 0
    fill = None if width else item.rgb
    if item.shape == "circle":
        cx, cy, r = item.cx * n, item.cy * n, item.size * n / 2
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill, outline=item.rgb if width else None, width=width)
    else:
        points = _outline_points(item, n)
        if width:
            draw.line([*points, points[0], points[1]], fill=item.rgb, width=width, joint="curve")
        else:
            draw.polygon(points, fill=fill)


def render(scene: AugScene, n: int) -> Image.Image:
    """The scene drawn at ``n`` px (shapes supersampled 2x), then blurred / JPEG-compressed as described."""
    image = _background(scene, 2 * n).convert("RGB")
    draw = ImageDraw.Draw(image)
    for item in scene.items:
        _draw_item(draw, item, 2 * n)
    image = image.resize((n, n), Image.Resampling.BOX)
    if scene.blur:
        image = image.filter(ImageFilter.GaussianBlur(scene.blur))
    if scene.jpeg:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=scene.jpeg)
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return image
