"""What the demo model is asked, in every modality: texts for a (colour, shape), and ranking tasks.

A *target* is a (colour, shape) pair. Queries and captions come from the same
templates as the first training stage (``scenes.make_query``), plus a few
synonyms users type ("圆圈", "round"). A ranking task has one query, 12
candidates and exactly one match; of the 11 others 3 share the colour (other
shape), 3 share the shape (other colour), the rest are random non-matching.
The four modalities are the product's task shapes (``prompts.TASK_INSTRUCTIONS``):

* ``text-image``: a text query, image candidates;
* ``image-image``: a reference image, candidates showing the same colour and shape are relevant;
* ``image-text``: an image, the caption naming its colour and shape is relevant;
* ``text-text``: a description in one language, its counterpart in the other is relevant.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import scenes

Target = tuple[str, str]
MODALITIES = ("text-image", "image-image", "image-text", "text-text")
QUERY_KIND = {"text-image": "text", "image-image": "image", "image-text": "image", "text-text": "text"}
DOCUMENT_KIND = {"text-image": "image", "image-image": "image", "image-text": "text", "text-text": "text"}

# Cheap synonyms: (language, word) -> alternatives a user may type instead.
SYNONYMS: dict[str, list[str]] = {
    "circle": ["round", "disc", "dot"], "square": ["box"], "star": ["star shape"],
    "red": ["crimson", "scarlet"], "purple": ["violet"],
    "圆形": ["圆圈", "圆"], "正方形": ["方形", "方块"], "三角形": ["三角"], "星形": ["五角星", "星星"],
    "红色": ["大红色"], "紫色": ["紫罗兰色"],
}


def all_targets() -> list[Target]:
    return [(c, s) for c in scenes.COLOURS for s in scenes.SHAPES]


def describe(rng: random.Random, target: Target, language: str, synonym_rate: float = 0.0) -> str:
    """A query or caption naming ``target`` in ``language`` ('en', 'zh' or 'mixed')."""
    template = rng.randrange(len(scenes.TEMPLATES[language]))
    text = scenes.make_query(*target, language, template)
    if synonym_rate and rng.random() < synonym_rate:
        words = [w for w in SYNONYMS if w in text]
        if words:
            word = rng.choice(words)
            text = text.replace(word, rng.choice(SYNONYMS[word]), 1)
    return text


def other_language(rng: random.Random, language: str) -> str:
    """The counterpart's language in text-text tasks: English <-> Chinese (mixed -> either)."""
    return {"en": "zh", "zh": "en"}.get(language) or rng.choice(["en", "zh"])


def negative_targets(rng: random.Random, target: Target, count: int) -> list[Target]:
    """``count`` non-matching targets: 3 same colour, 3 same shape, the rest random."""
    colour, shape = target
    out = [scenes.negative_target(rng, colour, shape, "shape") for _ in range(min(3, count))]
    out += [scenes.negative_target(rng, colour, shape, "colour") for _ in range(min(3, count - len(out)))]
    others = [t for t in all_targets() if t != target]
    out += [rng.choice(others) for _ in range(count - len(out))]
    return out


@dataclass
class RankingTask:
    """One query against candidates; ``relevant`` is the matching candidate's index."""

    modality: str
    language: str
    query_text: str | None
    query_image: Any
    candidates: list[Any]  # PIL images or strings
    labels: list[Target]
    relevant: int


SceneFactory = Callable[[random.Random, Target], Any]  # returns something with .draw(canvas)


def ranking_task(rng: random.Random, modality: str, language: str, make_scene: SceneFactory,
                 canvas: int, candidates: int = 12) -> RankingTask:
    """A task of ``modality``; scenes come from ``make_scene`` drawn at ``canvas`` px."""
    target = rng.choice(all_targets())
    labels = [target, *negative_targets(rng, target, candidates - 1)]
    order = list(range(candidates))
    rng.shuffle(order)
    labels = [labels[i] for i in order]
    query_text = query_image = None
    if QUERY_KIND[modality] == "text":
        query_text = describe(rng, target, language)
    else:
        query_image = make_scene(rng, target).draw(canvas)
    if DOCUMENT_KIND[modality] == "image":
        docs = [make_scene(rng, label).draw(canvas) for label in labels]
    else:
        doc_language = other_language(rng, language) if modality == "text-text" else language
        docs = [describe(rng, label, doc_language) for label in labels]
    return RankingTask(modality, language, query_text, query_image, docs, labels, order.index(0))
