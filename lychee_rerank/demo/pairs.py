"""Training pairs for the second stage, in every modality, turned into the scorer's own inputs.

A pair is (query, document, label) in the published recipe's message layout for
its shape (``prompts.yesno_messages`` with the task's default instruction), so
the model is trained on exactly what ``Reranker.rank`` / ``rank_texts`` send.
Half of every batch matches. Negatives share the colour (40 %), the shape
(30 %) or neither. A reference image is a tidy one (``mild``). A quarter of
text-image scenes hold a second, unrelated shape: a query about one shape
matches a scene containing it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from ..intake.fit import recipe_resize
from ..scoring.prompts import Content, task_instruction, yesno_messages
from ..scoring.query import normalize_query
from . import scenes, tasks
from .augment import AugScene, random_aug_scene

MODALITY_MIX = {"text-image": 0.35, "image-image": 0.25, "image-text": 0.25, "text-text": 0.15}
DISTRACTOR_RATE = 0.25
SYNONYM_RATE = 0.1
CROSS_LANGUAGE_RATE = 0.8  # text-text pairs in two languages; the rest in one


@dataclass
class Pair:
    modality: str
    query: Content
    document: Content
    label: int
    query_target: tasks.Target
    document_target: tasks.Target
    images: list[AugScene]  # in message order (query's, then document's)


def _negative(rng: random.Random, target: tasks.Target) -> tasks.Target:
    r = rng.random()
    kind = "shape" if r < 0.4 else "colour" if r < 0.7 else "both"
    return scenes.negative_target(rng, *target, kind)


def _scene(rng: random.Random, target: tasks.Target, avoid: tasks.Target | None) -> AugScene:
    """A scene of ``target``; with a distractor (never ``avoid``, the query's target) a third of the time."""
    if avoid is None or rng.random() >= DISTRACTOR_RATE:
        return random_aug_scene(rng, *target)
    options = [t for t in tasks.all_targets() if t not in (target, avoid)]
    return random_aug_scene(rng, *target, distractor=rng.choice(options))


def _text(rng: random.Random, target: tasks.Target, language: str | None = None) -> str:
    return normalize_query(tasks.describe(rng, target, language or rng.choice(scenes.LANGUAGES), SYNONYM_RATE))


def make_pair(rng: random.Random, modality: str, label: int) -> Pair:
    """One training pair of ``modality``: matching when ``label`` is 1."""
    target = rng.choice(tasks.all_targets())
    doc_target = target if label else _negative(rng, target)
    images: list[AugScene] = []
    if tasks.QUERY_KIND[modality] == "image":
        images.append(random_aug_scene(rng, *target, mild=True))
        query = Content(image=images[-1].draw())
        language = rng.choice(("en", "zh", "mixed"))
    else:
        language = rng.choice(scenes.LANGUAGES)
        query = Content(text=_text(rng, target, language))
    if tasks.DOCUMENT_KIND[modality] == "image":
        images.append(_scene(rng, doc_target, target if modality == "text-image" else None))
        document = Content(image=images[-1].draw())
    elif modality == "text-text" and rng.random() < CROSS_LANGUAGE_RATE:
        document = Content(text=_text(rng, doc_target, tasks.other_language(rng, language)))
    else:
        document = Content(text=_text(rng, doc_target, language if modality == "text-text" else None))
    return Pair(modality, query, document, label, target, doc_target, images)


def make_batch(rng: random.Random, size: int, mix: dict[str, float] | None = None) -> list[Pair]:
    """``size`` pairs, half matching, modalities drawn from ``mix`` (default :data:`MODALITY_MIX`)."""
    mix = mix or MODALITY_MIX
    names, weights = list(mix), list(mix.values())
    return [make_pair(rng, rng.choices(names, weights)[0], int(i < size // 2)) for i in range(size)]


class PairBatcher:
    """Pairs -> processor inputs exactly as ``YesNoScorer.preprocess`` builds them, plus class labels."""

    def __init__(self, processor, pixels: int):
        self.processor = processor
        self.size = {"shortest_edge": pixels, "longest_edge": pixels}

    def __call__(self, pairs: list[Pair]):
        texts = [
            self.processor.apply_chat_template(
                yesno_messages(p.query, p.document, task_instruction(p.query.kind, p.document.kind)),
                tokenize=False, add_generation_prompt=True,
            )
            for p in pairs
        ]
        images = [recipe_resize(c.image) for p in pairs for c in (p.query, p.document) if c.image is not None]
        inputs = self.processor(text=texts, images=images or None, padding=True, return_tensors="pt", size=self.size)
        return inputs, torch.tensor([p.label for p in pairs]), _classes(pairs), _image_classes(pairs)


def _index(target: tasks.Target) -> list[int]:
    return [list(scenes.COLOURS).index(target[0]), list(scenes.SHAPES).index(target[1])]


def _classes(pairs: list[Pair]) -> torch.Tensor:
    """Per pair: document colour/shape, query colour/shape (the last-position probes' targets)."""
    return torch.tensor([_index(p.document_target) + _index(p.query_target) for p in pairs])


def _image_classes(pairs: list[Pair]) -> torch.Tensor:
    """Per image in batch order: colour/shape of its main shape, -100 (ignored) when it has two."""
    rows = []
    for pair in pairs:
        for scene in pair.images:
            rows.append(_index((scene.colour, scene.shape)) if len(scene.items) == 1 else [-100, -100])
    return torch.tensor(rows, dtype=torch.long).reshape(-1, 2)
