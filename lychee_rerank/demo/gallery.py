"""The shipped example images (``examples/``) and their labelled queries (``examples/labels.jsonl``)."""

from __future__ import annotations

import json
from pathlib import Path

from . import scenes

# file name -> (colour, shape, background, cx, cy, size)
EXAMPLES: dict[str, tuple[str, str, str, int, int, int]] = {
    "red_circle.png": ("red", "circle", "white", 42, 42, 50),
    "red_square.png": ("red", "square", "white", 40, 44, 46),
    "red_triangle_on_skyblue.png": ("red", "triangle", "skyblue", 44, 46, 52),
    "blue_circle_on_cream.png": ("blue", "circle", "cream", 46, 40, 44),
    "blue_square_on_yellow.png": ("blue", "square", "yellow", 42, 42, 48),
    "green_triangle_on_black.png": ("green", "triangle", "black", 42, 44, 54),
    "green_star.png": ("green", "star", "lightgrey", 40, 42, 56),
    "yellow_star_on_grey.png": ("yellow", "star", "grey", 44, 42, 54),
    "purple_circle_on_mint.png": ("purple", "circle", "mint", 40, 46, 42),
    "orange_square_on_darkgrey.png": ("orange", "square", "darkgrey", 44, 40, 44),
}

# (query, relevant file names); the benchmark reads these from labels.jsonl.
LABELLED_QUERIES: list[tuple[str, list[str]]] = [
    ("a red circle", ["red_circle.png"]),
    ("blue square", ["blue_square_on_yellow.png"]),
    ("红色三角形", ["red_triangle_on_skyblue.png"]),
    ("一个蓝色的圆形", ["blue_circle_on_cream.png"]),
    ("一个 green 三角形", ["green_triangle_on_black.png"]),
    ("a 黄色 star", ["yellow_star_on_grey.png"]),
    ("紫色圆形", ["purple_circle_on_mint.png"]),
    ("an image of a orange square", ["orange_square_on_darkgrey.png"]),
]


def example_scene(name: str) -> scenes.Scene:
    colour, shape, background, cx, cy, size = EXAMPLES[name]
    backgrounds = scenes.background_choices(colour)
    return scenes.Scene(colour, shape, size, cx, cy, background, backgrounds[background], scenes.COLOURS[colour][0])


def write_examples(out_dir: str | Path) -> Path:
    """Draw every example image and write labels.jsonl into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = sorted(EXAMPLES)
    for name in names:
        example_scene(name).draw().save(out / name, optimize=True)
    lines = [
        json.dumps(
            {"query": query, "images": names, "relevant": [names.index(r) for r in relevant]}, ensure_ascii=False
        )
        for query, relevant in LABELLED_QUERIES
    ]
    (out / "labels.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out
