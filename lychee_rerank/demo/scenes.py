"""Synthetic scenes (one coloured shape on a plain background) and the queries that describe them.

Everything is a pure function of a seed (``random.Random``), so training and
evaluation draw reproducible, disjoint sets of scenes:

* training step ``k`` of a build with seed ``S`` draws from ``Random(TRAIN_SEED_BASE + S * 1_000_000 + k)``;
* evaluation task ``t`` with seed ``E`` draws from ``Random(EVAL_SEED_BASE + E * 100_000 + t)``.

The two ranges never overlap for ``0 <= S < 500`` and any ``E >= 0`` (``EVAL_SEED_BASE`` is 1e9).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

CANVAS = 84  # px: 6x6 patches of 14 px -> 9 image tokens after Qwen2.5-VL's 2x2 merge
SUPERSAMPLE = 4  # drawn larger, then downsampled: smooth edges

TRAIN_SEED_BASE = 0
EVAL_SEED_BASE = 1_000_000_000

# name -> (RGB, Chinese name with 色, short Chinese name)
COLOURS: dict[str, tuple[tuple[int, int, int], str, str]] = {
    "red": ((220, 30, 30), "红色", "红"),
    "green": ((30, 170, 50), "绿色", "绿"),
    "blue": ((30, 70, 220), "蓝色", "蓝"),
    "yellow": ((240, 210, 20), "黄色", "黄"),
    "purple": ((140, 40, 180), "紫色", "紫"),
    "orange": ((245, 130, 20), "橙色", "橙"),
}

# name -> (Chinese names: full, short)
SHAPES: dict[str, tuple[str, str]] = {
    "circle": ("圆形", "圆"),
    "square": ("正方形", "方块"),
    "triangle": ("三角形", "三角"),
    "star": ("星形", "星星"),
}

# Backgrounds: neutrals, plus pale tints; palette colours are allowed too when far enough from the shape.
NEUTRAL_BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (250, 250, 250),
    "lightgrey": (200, 200, 200),
    "grey": (128, 128, 128),
    "darkgrey": (60, 60, 60),
    "black": (10, 10, 10),
    "cream": (245, 235, 200),
    "skyblue": (190, 220, 245),
    "mint": (200, 240, 215),
}
MIN_BACKGROUND_DISTANCE = 120.0  # RGB Euclidean distance between shape and background colours
COLOUR_JITTER = 12


@dataclass(frozen=True)
class Scene:
    """One shape on a plain background, fully described (draw() is a pure function of it)."""

    colour: str
    shape: str
    size: int  # bounding-box side in px
    cx: int
    cy: int
    background: str
    background_rgb: tuple[int, int, int]
    rgb: tuple[int, int, int]
    rotation: float = 0.0  # degrees, triangles and stars only

    @property
    def label(self) -> str:
        return f"{self.colour} {self.shape}"

    def draw(self) -> Image.Image:
        return draw_scene(self)


def _distance(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    return sum((x - y) ** 2 for x, y in zip(a, b)) ** 0.5


def background_choices(colour: str) -> dict[str, tuple[int, int, int]]:
    """Backgrounds allowed behind a shape of ``colour``: never equal or near its colour."""
    rgb = COLOURS[colour][0]
    options = dict(NEUTRAL_BACKGROUNDS)
    options.update({name: value[0] for name, value in COLOURS.items() if name != colour})
    return {name: bg for name, bg in options.items() if _distance(bg, rgb) >= MIN_BACKGROUND_DISTANCE}


def random_scene(rng: random.Random, colour: str | None = None, shape: str | None = None) -> Scene:
    """A random scene; colour/shape fixed when given."""
    colour = colour or rng.choice(list(COLOURS))
    shape = shape or rng.choice(list(SHAPES))
    size = rng.randint(34, 60)
    half = size // 2
    cx = rng.randint(half + 2, CANVAS - half - 2)
    cy = rng.randint(half + 2, CANVAS - half - 2)
    backgrounds = background_choices(colour)
    # Two thirds neutral backgrounds, one third another palette colour.
    neutral = [name for name in backgrounds if name in NEUTRAL_BACKGROUNDS]
    coloured = [name for name in backgrounds if name not in NEUTRAL_BACKGROUNDS]
    background = rng.choice(neutral if rng.random() < 0.67 or not coloured else coloured)
    base = COLOURS[colour][0]
    rgb = tuple(min(255, max(0, c + rng.randint(-COLOUR_JITTER, COLOUR_JITTER))) for c in base)
    rotation = rng.uniform(-20, 20) if shape in ("triangle", "star") else 0.0
    return Scene(colour, shape, size, cx, cy, background, backgrounds[background], rgb, rotation)  # type: ignore[arg-type]


def _polygon(shape: str, cx: float, cy: float, r: float, rotation: float) -> list[tuple[float, float]]:
    if shape == "triangle":
        # Equilateral, centroid at (cx, cy); circumradius r (slightly enlarged to fill the box).
        angles = [-90 + rotation + k * 120 for k in range(3)]
        radii = [r * 1.1] * 3
    else:  # star: five points, inner radius 0.45 r
        angles = [-90 + rotation + k * 36 for k in range(10)]
        radii = [r if k % 2 == 0 else r * 0.45 for k in range(10)]
    return [
        (cx + rad * math.cos(math.radians(a)), cy + rad * math.sin(math.radians(a))) for a, rad in zip(angles, radii)
    ]


def draw_scene(scene: Scene, canvas: int = CANVAS) -> Image.Image:
    """Render the scene as an RGB image of ``canvas`` x ``canvas`` px."""
    k = SUPERSAMPLE
    big = Image.new("RGB", (canvas * k, canvas * k), scene.background_rgb)
    draw = ImageDraw.Draw(big)
    cx, cy, r = scene.cx * k, scene.cy * k, scene.size * k / 2
    if scene.shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=scene.rgb)
    elif scene.shape == "square":
        s = r * 0.88  # same visual area as the other shapes
        draw.rectangle([cx - s, cy - s, cx + s, cy + s], fill=scene.rgb)
    else:
        draw.polygon(_polygon(scene.shape, cx, cy, r, scene.rotation), fill=scene.rgb)
    return big.resize((canvas, canvas), Image.Resampling.LANCZOS)


# --- queries ---------------------------------------------------------------------------------

EN_TEMPLATES = ["a {c} {s}", "{c} {s}", "the {c} {s}", "an image of a {c} {s}", "a {c} {s} shape", "find the {c} {s}"]
ZH_TEMPLATES = ["{C}{S}", "一个{C}的{S}", "{C}的{S}", "一个{C}{S}", "{c1}{S}", "一个{c1}{s1}", "图片里有{C}{S}"]
MIXED_TEMPLATES = ["一个 {c} {S}", "a {C} {s}", "{C} {s}", "{c} {S}", "一个 {c} {s}", "a {c} {S}"]
LANGUAGES = ("en", "zh", "mixed")
TEMPLATES = {"en": EN_TEMPLATES, "zh": ZH_TEMPLATES, "mixed": MIXED_TEMPLATES}


def make_query(colour: str, shape: str, language: str, template: int) -> str:
    """The query text for (colour, shape) in a language with a template index."""
    _, zh_colour, zh_colour_short = COLOURS[colour]
    zh_shape, zh_shape_short = SHAPES[shape]
    text = TEMPLATES[language][template % len(TEMPLATES[language])]
    return text.format(c=colour, s=shape, C=zh_colour, S=zh_shape, c1=zh_colour_short, s1=zh_shape_short)


def all_queries() -> list[str]:
    """Every query text the generator can produce (the tokenizer's extra corpus)."""
    return [
        make_query(c, s, lang, t)
        for c in COLOURS
        for s in SHAPES
        for lang in LANGUAGES
        for t in range(len(TEMPLATES[lang]))
    ]


def random_query(rng: random.Random, colour: str, shape: str) -> str:
    language = rng.choice(LANGUAGES)
    return make_query(colour, shape, language, rng.randrange(len(TEMPLATES[language])))


def negative_target(rng: random.Random, colour: str, shape: str, kind: str) -> tuple[str, str]:
    """A (colour, shape) differing from the target: 'colour' (same shape), 'shape' (same colour) or 'both'."""
    other_colours = [c for c in COLOURS if c != colour]
    other_shapes = [s for s in SHAPES if s != shape]
    if kind == "shape":
        return colour, rng.choice(other_shapes)
    if kind == "colour":
        return rng.choice(other_colours), shape
    return rng.choice(other_colours), rng.choice(other_shapes)


def ranking_task(rng: random.Random, candidates: int = 12) -> tuple[str, list[Scene], int]:
    """One query, ``candidates`` scenes, exactly one matching (at a random position).

    The others: 3 same colour/other shape, 3 same shape/other colour, the rest random non-matching.
    """
    colour, shape = rng.choice(list(COLOURS)), rng.choice(list(SHAPES))
    query = random_query(rng, colour, shape)
    scenes = [random_scene(rng, colour, shape)]
    kinds = ["shape"] * 3 + ["colour"] * 3 + ["any"] * (candidates - 7)
    for kind in kinds:
        if kind == "any":
            c, s = colour, shape
            while (c, s) == (colour, shape):
                c, s = rng.choice(list(COLOURS)), rng.choice(list(SHAPES))
        else:
            c, s = negative_target(rng, colour, shape, kind)
        scenes.append(random_scene(rng, c, s))
    order = list(range(candidates))
    rng.shuffle(order)
    return query, [scenes[i] for i in order], order.index(0)
