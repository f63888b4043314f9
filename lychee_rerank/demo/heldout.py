"""An independent scene renderer for the honest held-out check: never used in training.

It shares only the *names* (6 colours x 4 shapes) with the training renderer
(``scenes``/``augment``). Everything else is its own: colours are drawn in HSV
around its own hues, shapes are analytic coverage masks computed with numpy
(not Pillow's polygon filler), the triangle is isosceles with a varying
height, the star's inner radius varies, and the backgrounds are paper, graph
paper, soft gradients, vignettes and a few dark tones. A scene is drawn at any
canvas size (56 px to 4000 px) from the same description, so one task can be
rendered at every scale.
"""

from __future__ import annotations

import colorsys
import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image

# Hue (degrees) and allowed hue jitter per colour name; saturation/value ranges are shared.
HUES: dict[str, tuple[float, float]] = {
    "red": (356.0, 6.0), "orange": (27.0, 4.0), "yellow": (51.0, 4.0),
    "green": (128.0, 14.0), "blue": (218.0, 10.0), "purple": (282.0, 10.0),
}
SHAPE_NAMES = ("circle", "square", "triangle", "star")
BACKGROUNDS = ("paper", "white", "graph", "gradient", "vignette", "tint", "dark")
FULL_RES_LIMIT = 1400  # above this the mask is computed on a coarser grid and upsampled (anti-aliased anyway)


@dataclass(frozen=True)
class HeldoutScene:
    """One shape, described in canvas fractions so it renders the same at any size."""

    colour: str
    shape: str
    rgb: tuple[int, int, int]
    extent: float  # shape's half-size as a fraction of the canvas side
    cx: float
    cy: float
    rotation: float  # degrees
    aspect: float  # triangle height / base; star inner radius ratio
    background: str
    background_rgb: tuple[tuple[int, int, int], tuple[int, int, int]]
    rim: bool  # a darker rim around the shape
    texture_seed: int  # paper grain and graph spacing

    def draw(self, canvas: int = 300) -> Image.Image:
        return render(self, canvas)


def _hsv_rgb(hue: float, sat: float, val: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb((hue % 360) / 360, sat, val)
    return round(r * 255), round(g * 255), round(b * 255)


def shape_colour(rng: random.Random, colour: str) -> tuple[int, int, int]:
    hue, jitter = HUES[colour]
    sat = rng.uniform(0.7, 1.0)
    val = rng.uniform(0.6, 0.85) if colour == "purple" else rng.uniform(0.78, 1.0)
    return _hsv_rgb(hue + rng.uniform(-jitter, jitter), sat, val)


def _background(rng: random.Random, colour: str) -> tuple[str, tuple[tuple[int, int, int], tuple[int, int, int]]]:
    kind = rng.choice(BACKGROUNDS)
    if kind == "dark" and colour in ("purple", "blue"):
        kind = "paper"  # dark purple/blue on near-black is not a fair question
    light = lambda lo: tuple(rng.randint(lo, 255) for _ in range(3))  # noqa: E731
    if kind == "white":
        return kind, (light(244), light(244))
    if kind == "dark":
        base = tuple(rng.randint(15, 55) for _ in range(3))
        return kind, (base, base)
    if kind == "tint":
        hue = HUES[colour][0] + rng.choice([120, 180, 240])
        return kind, (_hsv_rgb(hue, rng.uniform(0.06, 0.16), rng.uniform(0.92, 1.0)),) * 2
    return kind, (light(225), light(200))


def random_heldout_scene(rng: random.Random, colour: str | None = None, shape: str | None = None) -> HeldoutScene:
    """A random held-out scene; colour/shape fixed when given."""
    colour = colour or rng.choice(list(HUES))
    shape = shape or rng.choice(SHAPE_NAMES)
    extent = rng.uniform(0.13, 0.38)
    margin = extent + 0.03
    cx, cy = rng.uniform(margin, 1 - margin), rng.uniform(margin, 1 - margin)
    rotation = rng.uniform(-12, 12) if shape != "circle" else 0.0
    aspect = rng.uniform(0.8, 1.1) if shape == "triangle" else rng.uniform(0.38, 0.5)
    background, background_rgb = _background(rng, colour)
    return HeldoutScene(colour, shape, shape_colour(rng, colour), extent, cx, cy, rotation, aspect,
                        background, background_rgb, rng.random() < 0.25, rng.randrange(2**31))


def _grid(n: int, scene: HeldoutScene) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in units of the shape's half-size, rotated into the shape's frame."""
    axis = (np.arange(n, dtype=np.float32) + 0.5) / n
    x, y = np.meshgrid((axis - scene.cx) / scene.extent, (axis - scene.cy) / scene.extent)
    t = math.radians(scene.rotation)
    return x * math.cos(t) + y * math.sin(t), -x * math.sin(t) + y * math.cos(t)


def _inside(shape: str, x: np.ndarray, y: np.ndarray, aspect: float, shrink: float = 0.0) -> np.ndarray:
    """Boolean mask of points inside the unit shape (shrunk by ``shrink`` for the rim)."""
    if shape == "circle":
        return np.hypot(x, y) <= 1.0 - shrink
    if shape == "square":
        return np.maximum(np.abs(x), np.abs(y)) <= 0.86 - shrink
    if shape == "triangle":
        half_base = 1.0 / max(aspect, 0.5) * 0.95
        top, bottom = -0.95 + shrink * 2, 0.95 - shrink
        width_at = half_base * (y - (-0.95)) / 1.9 - shrink * 1.2
        return (y >= top) & (y <= bottom) & (np.abs(x) <= width_at)
    angle = np.arctan2(x, -y)  # 0 at the top point
    phase = np.abs(((angle / (2 * math.pi / 5)) % 1.0) - 0.5) * 2  # 1 at a point, 0 between points
    # near-straight star edges: interpolate 1/r between the inner radius and the points
    radius = 1.0 / (1.0 / aspect + (1.0 - 1.0 / aspect) * phase)
    return np.hypot(x, y) <= radius - shrink


def _coverage(scene: HeldoutScene, n: int, shrink: float = 0.0) -> np.ndarray:
    """Fraction of each pixel covered by the shape (4x4 supersampling on small canvases)."""
    factor = 4 if n <= 300 else 2 if n <= 700 else 1
    x, y = _grid(n * factor, scene)
    mask = _inside(scene.shape, x, y, scene.aspect, shrink).astype(np.float32)
    return mask.reshape(n, factor, n, factor).mean(axis=(1, 3))


def _background_array(scene: HeldoutScene, n: int, rng: random.Random) -> np.ndarray:
    first, second = (np.array(c, dtype=np.float32) for c in scene.background_rgb)
    axis = (np.arange(n, dtype=np.float32) + 0.5) / n
    if scene.background == "gradient":
        t = axis[:, None, None] if rng.random() < 0.5 else axis[None, :, None]
        return np.broadcast_to(first * (1 - t) + second * t, (n, n, 3)).copy()
    base = np.broadcast_to(first, (n, n, 3)).copy()
    if scene.background == "vignette":
        x, y = np.meshgrid(axis - 0.5, axis - 0.5)
        base *= (1.0 - 0.35 * (x**2 + y**2))[:, :, None]
    elif scene.background == "graph":
        step = max(2, round(n / rng.choice([8, 10, 12, 16])))
        lines = (np.arange(n) % step) < max(1, n // 200)
        base[lines, :, :] *= 0.8
        base[:, lines, :] *= 0.8
    elif scene.background == "paper":
        noise = np.random.default_rng(rng.randrange(2**32)).normal(0, 4, (n, n, 1)).astype(np.float32)
        base += noise
    return base


def render(scene: HeldoutScene, canvas: int) -> Image.Image:
    """The scene as a ``canvas`` x ``canvas`` RGB image (same look at every size)."""
    n = min(canvas, FULL_RES_LIMIT)
    rng = random.Random(scene.texture_seed)
    image = _background_array(scene, n, rng)
    colour = np.array(scene.rgb, dtype=np.float32)
    cover = _coverage(scene, n)[:, :, None]
    if scene.rim:
        inner = _coverage(scene, n, shrink=0.08)[:, :, None]
        image = image * (1 - cover) + colour * 0.55 * (cover - inner) + colour * inner
    else:
        image = image * (1 - cover) + colour * cover
    out = Image.fromarray(np.clip(image, 0, 255).round().astype(np.uint8), "RGB")
    return out if n == canvas else out.resize((canvas, canvas), Image.Resampling.BILINEAR)
