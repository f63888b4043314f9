"""Train the demo reranker: a small Qwen2.5-VL taught lychee's yes/no recipe on synthetic scenes.

Training sees exactly the inference inputs: ``prompts.yesno_messages`` -> the
processor's chat template -> the processor (left padding), and the loss is the
cross-entropy over the scorer's two logits ``[logit_no, logit_yes]`` at the last
position. Auxiliary linear heads on the pooled merged image embeddings predict
the shape's colour and kind so the vision tower becomes informative fast, and
linear probes on the last position's hidden state (after the second of three
text layers) predict the image's and the query's colour and shape, so what the
answer needs reaches the position it is read from. Heads and probes are dropped
when saving, so the folder holds a plain
``Qwen2_5_VLForConditionalGeneration``.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..scoring.prompts import Content, yesno_messages
from ..scoring.query import normalize_query
from ..scoring.yesno import yes_no_token_ids
from . import scenes
from .architecture import ModelShape, build_config, build_processor, new_model, train_tokenizer

logger = logging.getLogger(__name__)

DEMO_SHAPE = ModelShape(
    name="demo",
    text_hidden=128,
    text_layers=3,
    text_heads=4,
    text_kv_heads=2,
    text_intermediate=256,
    vision_hidden=128,
    vision_depth=4,
    vision_heads=4,
    vision_intermediate=256,
    tokenizer_vocab=800,
    tie_word_embeddings=True,
    note="lychee-rerank demo: small Qwen2.5-VL trained on synthetic coloured shapes (yes/no recipe)",
    recommended_max_pixels=scenes.CANVAS * scenes.CANVAS,  # it was trained on 84 x 84 scenes
)


@dataclass
class Schedule:
    """The optimiser settings both training stages share (see :func:`lr_at`)."""

    lr: float = 2e-3
    warmup: int = 100
    decay_from: int = 300  # after this step lr = lr * sqrt(decay_from / step): independent of the run length
    weight_decay: float = 0.01


@dataclass
class TrainConfig(Schedule):
    steps: int = 2500
    batch_size: int = 32
    snapshot_every: int = 0  # >0: also save a loadable copy every N steps under snapshot_dir/step_N
    snapshot_dir: str | None = None
    aux_weight: float = 1.0
    aux_shape_weight: float = 1.0  # extra factor on the vision head's shape term (shape is the hard part)
    aux_until: float = 1.0  # fraction of training with the auxiliary heads on
    probe_weight: float = 1.0  # linear probes at the last position of layer probe_layer (query + image classes)
    probe_layer: int = -2
    hard_shape: float = 0.4  # share of negatives with the same colour, other shape
    hard_colour: float = 0.3  # same shape, other colour (rest: random non-matching)
    log_every: int = 50
    eval_every: int = 100
    seed: int = 0
    shape: ModelShape = field(default_factory=lambda: DEMO_SHAPE)


def tokenizer_corpus() -> list[str]:
    """Query words separated by spaces, so BPE learns words (红色, 圆形) but no whole phrases (红色圆形)."""
    words: set[str] = set()
    for colour, (_, zh, zh_short) in scenes.COLOURS.items():
        words.update([colour, zh, zh_short])
    for shape, (zh, zh_short) in scenes.SHAPES.items():
        words.update([shape, zh, zh_short])
    for templates in scenes.TEMPLATES.values():
        for template in templates:
            for part in template.replace("{", " {").replace("}", "} ").split():
                if "{" not in part:
                    words.add(part)
    ordered = sorted(words)
    return [" ".join(ordered)] * 5


def make_examples(rng: random.Random, cfg: TrainConfig) -> list[tuple[str, scenes.Scene, int]]:
    """A batch of (query, scene, label): exactly half matching; negatives hard or random."""
    examples = []
    for i in range(cfg.batch_size):
        colour, shape = rng.choice(list(scenes.COLOURS)), rng.choice(list(scenes.SHAPES))
        query = normalize_query(scenes.random_query(rng, colour, shape))
        label = 1 if i < cfg.batch_size // 2 else 0
        if label:
            scene = scenes.random_scene(rng, colour, shape)
        else:
            r = rng.random()
            kind = "shape" if r < cfg.hard_shape else "colour" if r < cfg.hard_shape + cfg.hard_colour else "both"
            scene = scenes.random_scene(rng, *scenes.negative_target(rng, colour, shape, kind))
        examples.append((query, scene, label, colour, shape))
    return examples


class Batcher:
    """Turns examples into processor inputs exactly as YesNoScorer.preprocess does."""

    def __init__(self, processor):
        self.processor = processor

    def __call__(self, examples):
        images = [example[1].draw() for example in examples]
        texts = [
            self.processor.apply_chat_template(
                yesno_messages(Content(text=example[0]), Content(image=im)), tokenize=False, add_generation_prompt=True
            )
            for example, im in zip(examples, images)
        ]
        inputs = self.processor(text=texts, images=images, padding=True, return_tensors="pt")
        colour_ids, shape_ids = list(scenes.COLOURS), list(scenes.SHAPES)
        labels = torch.tensor([e[2] for e in examples])
        classes = torch.tensor([
            [colour_ids.index(e[1].colour), shape_ids.index(e[1].shape), colour_ids.index(e[3]), shape_ids.index(e[4])]
            for e in examples
        ])
        return inputs, labels, classes


class Probes(nn.Module):
    """Linear probes on one hidden state at the last position: image colour/shape and query colour/shape."""

    def __init__(self, width: int):
        super().__init__()
        sizes = [len(scenes.COLOURS), len(scenes.SHAPES)] * 2
        self.heads = nn.ModuleList(nn.Linear(width, n) for n in sizes)

    def forward(self, hidden: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        return sum(nn.functional.cross_entropy(h(hidden), classes[:, k]) for k, h in enumerate(self.heads))


class AuxHeads(nn.Module):
    """Linear probes on mean+max pooled merged image embeddings: colour and shape classes."""

    def __init__(self, width: int):
        super().__init__()
        self.colour = nn.Linear(2 * width, len(scenes.COLOURS))
        self.shape = nn.Linear(2 * width, len(scenes.SHAPES))

    def forward(self, merged: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = torch.cat([merged.mean(1), merged.amax(1)], dim=-1)
        return self.colour(pooled), self.shape(pooled)


def build_model(cfg: TrainConfig) -> tuple[Any, Any]:
    """The untrained demo model and its processor (left padding, as the scorer uses it)."""
    torch.manual_seed(cfg.seed)
    tokenizer = train_tokenizer(cfg.shape.tokenizer_vocab, tokenizer_corpus())
    processor = build_processor(tokenizer)
    processor.tokenizer.padding_side = "left"
    return new_model(build_config(cfg.shape, tokenizer)), processor


def lr_at(step: int, cfg: Schedule) -> float:
    """Linear warm-up, constant, then inverse square root decay.

    The schedule does not depend on ``cfg.steps``, so a run of N steps is the prefix of any longer run.
    """
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    return cfg.lr * min(1.0, math.sqrt(cfg.decay_from / (step + 1)))


def validation_batches(cfg: TrainConfig, batcher: Batcher, n: int = 4):
    """Fixed held-out pairs (eval seed range) for the training log's pair accuracy."""
    out = []
    for k in range(n):
        rng = random.Random(scenes.EVAL_SEED_BASE + 999_000 + k)
        out.append(batcher(make_examples(rng, cfg)))
    return out


class _Trainer:
    """One training run: the model, the training-only heads and probes, the optimiser and the log."""

    def __init__(self, cfg: TrainConfig):
        self.cfg = cfg
        self.model, self.processor = build_model(cfg)
        self.batcher = Batcher(self.processor)
        self.no_yes = list(yes_no_token_ids(self.processor.tokenizer))  # the scorer's own ids, in its order
        self.heads = AuxHeads(cfg.shape.text_hidden)
        self.probes = Probes(cfg.shape.text_hidden)
        self.captured: dict[str, torch.Tensor] = {}
        visual = self.model.model.visual
        self._hook = visual.register_forward_hook(lambda m, i, o: self.captured.__setitem__("merged", o.pooler_output))
        self.params = list(self.model.parameters()) + list(self.heads.parameters()) + list(self.probes.parameters())
        self.optimiser = torch.optim.AdamW(self.params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98))
        self.val = validation_batches(cfg, self.batcher)
        self.log: list[dict] = []
        self.window: list[float] = []
        self.start = time.time()

    def run(self, out: Path) -> Path:
        cfg = self.cfg
        n_params = sum(p.numel() for p in self.model.parameters())
        logger.info("model: %.2fM parameters; training %d steps, batch %d", n_params / 1e6, cfg.steps, cfg.batch_size)
        self.model.train()
        for step in range(cfg.steps):
            self._after_step(step, *self._step(step))
        self._hook.remove()
        save(self.model, self.processor, out, cfg, self.log, time.time() - self.start)
        return out

    def _step(self, step: int) -> tuple[float, float]:
        """One optimiser step; returns (ranking loss, auxiliary loss)."""
        cfg = self.cfg
        rng = random.Random(scenes.TRAIN_SEED_BASE + cfg.seed * 1_000_000 + step)
        inputs, labels, classes = self.batcher(make_examples(rng, cfg))
        for group in self.optimiser.param_groups:
            group["lr"] = lr_at(step, cfg)
        aux_on = step < cfg.aux_until * cfg.steps
        use_probe = cfg.probe_weight > 0 and aux_on
        output = self.model(**inputs, logits_to_keep=1, output_hidden_states=use_probe)
        loss = nn.functional.cross_entropy(output.logits[:, -1, self.no_yes], labels)
        total, aux_value = loss, 0.0
        if use_probe:
            probe = self.probes(output.hidden_states[cfg.probe_layer][:, -1, :], classes)
            total, aux_value = total + cfg.probe_weight * probe, aux_value + probe.item()
        if cfg.aux_weight > 0 and aux_on:
            aux = self._vision_aux_loss(len(labels), classes)
            total, aux_value = total + cfg.aux_weight * aux, aux_value + aux.item()
        self.optimiser.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimiser.step()
        return loss.item(), aux_value

    def _vision_aux_loss(self, batch: int, classes: torch.Tensor) -> torch.Tensor:
        merged = self.captured["merged"].reshape(batch, -1, self.cfg.shape.text_hidden)
        colour_logits, shape_logits = self.heads(merged)
        colour = nn.functional.cross_entropy(colour_logits, classes[:, 0])
        return colour + self.cfg.aux_shape_weight * nn.functional.cross_entropy(shape_logits, classes[:, 1])

    def _after_step(self, step: int, loss: float, aux_value: float) -> None:
        """Log, evaluate and snapshot as the config asks."""
        cfg = self.cfg
        self.window.append(loss)
        entry = {"step": step + 1, "loss": round(loss, 5), "aux_loss": round(aux_value, 5),
                 "lr": lr_at(step, cfg), "elapsed_s": round(time.time() - self.start, 2)}
        if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.steps:
            entry["val_accuracy"] = pair_accuracy(self.model, self.val, self.no_yes)
            self.model.train()
        self.log.append(entry)
        if cfg.snapshot_every and cfg.snapshot_dir and (step + 1) % cfg.snapshot_every == 0:
            snapshot = Path(cfg.snapshot_dir) / f"step_{step + 1}"
            save(copy.deepcopy(self.model), self.processor, snapshot, cfg, self.log, time.time() - self.start)
            self.model.train()
        if (step + 1) % cfg.log_every == 0 or "val_accuracy" in entry:
            self._log_line(entry)

    def _log_line(self, entry: dict) -> None:
        val = f" val_acc {entry['val_accuracy']:.3f}" if "val_accuracy" in entry else ""
        logger.info(
            "step %d/%d loss %.4f (mean of last %d: %.4f) aux %.3f lr %.2e %.0fs%s",
            entry["step"], self.cfg.steps, entry["loss"], len(self.window), sum(self.window) / len(self.window),
            entry["aux_loss"], entry["lr"], time.time() - self.start, val,
        )
        self.window = []


def train(out_dir: str | Path, cfg: TrainConfig | None = None) -> Path:
    """Train from ``cfg.seed`` and save model + processor (+ training_log.json) to ``out_dir``."""
    return _Trainer(cfg or TrainConfig()).run(Path(out_dir))


@torch.no_grad()
def pair_accuracy(model: Any, val: list, no_yes: list[int]) -> float:
    """Share of held-out pairs (``(inputs, labels, ...)`` batches) the yes/no answer gets right; leaves eval mode on."""
    model.eval()
    correct = total = 0
    for inputs, labels, *_ in val:
        logits = model(**inputs, logits_to_keep=1).logits[:, -1, no_yes]
        correct += (logits.argmax(-1) == labels).sum().item()
        total += len(labels)
    return correct / total


def save(model: Any, processor: Any, out: Path, cfg: TrainConfig, log: list[dict], seconds: float) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.eval()
    model.to(torch.bfloat16)
    for sub in (model.config.text_config, model.config.vision_config):
        sub.dtype = torch.bfloat16  # a model loaded in float32 (the second stage) would otherwise say so
    model.save_pretrained(out)
    processor.save_pretrained(out)
    record = {"train_config": asdict(cfg), "steps_done": len(log), "wall_seconds": round(seconds, 1),
              "torch_threads": torch.get_num_threads(), "log": log}
    (out / "training_log.json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    logger.info("saved %s (%.0f s of training)", out, seconds)
