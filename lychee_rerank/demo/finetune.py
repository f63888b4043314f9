"""The second training stage: from the first stage's model to the world users draw, in every modality.

It starts from a saved first-stage folder (``train.train``'s output, reloaded from
its bfloat16 files, so a build from scratch and a run from the shipped stage-1
folder are the same computation) and trains on ``pairs.make_batch``: augmented
scenes (``augment``), four modalities, the scorer's own message layout, at the
model's declared pixel budget. Batches are drawn and processed one step ahead in
a worker process (``DataLoader``), each from its own seed, so the result does
not depend on the worker. The loss is the recipe's yes/no cross-entropy plus
the first stage's last-position probes and per-image vision heads.
"""

from __future__ import annotations

import copy
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, IterableDataset
from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration

from ..scoring.yesno import yes_no_token_ids
from . import pairs
from .train import AuxHeads, Probes, Schedule, lr_at, pair_accuracy, save

logger = logging.getLogger(__name__)

STAGE2_SEED_BASE = 700_000_000  # step k of seed S: Random(STAGE2_SEED_BASE + S * 1_000_000 + k)
VALIDATION_SEED_BASE = 1_500_000_000  # fixed pairs for the log's pair accuracy (never trained on)
STAGE2_NOTE = ("lychee-rerank demo: small Qwen2.5-VL trained on synthetic coloured shapes (yes/no recipe); "
               "text or image queries, image or text documents")


@dataclass
class FinetuneConfig(Schedule):
    steps: int = 2600
    batch_size: int = 32
    probe_weight: float = 1.0
    vision_weight: float = 1.0
    pixels: int = 84 * 84  # the declared budget: min = max, every image is seen at about 84 x 84
    eval_every: int = 200
    snapshot_every: int = 400  # with snapshot_dir set
    snapshot_dir: str | None = None
    seed: int = 0
    mix: dict[str, float] = field(default_factory=lambda: dict(pairs.MODALITY_MIX))


class _Steps(IterableDataset):
    """Step k's batch, drawn from its own seed: the same batches whichever process draws them."""

    def __init__(self, processor: Any, cfg: FinetuneConfig, count: int, base: int):
        self.batcher = pairs.PairBatcher(processor, cfg.pixels)
        self.cfg, self.count, self.base = cfg, count, base

    def __iter__(self):
        torch.set_num_threads(1)
        for step in range(self.count):
            rng = random.Random(self.base + self.cfg.seed * 1_000_000 + step)
            yield self.batcher(pairs.make_batch(rng, self.cfg.batch_size, self.cfg.mix))


def _loader(dataset: _Steps, workers: int) -> DataLoader:
    if workers == 0:
        return DataLoader(dataset, batch_size=None)
    return DataLoader(dataset, batch_size=None, num_workers=workers, prefetch_factor=4, persistent_workers=False)


class Finetuner:
    """One second-stage run from a first-stage folder."""

    def __init__(self, start: str | Path, cfg: FinetuneConfig, workers: int = 1):
        self.cfg, self.workers = cfg, workers
        torch.manual_seed(cfg.seed)
        self.model = Qwen2_5_VLForConditionalGeneration.from_pretrained(str(start), dtype=torch.float32)
        self.processor = AutoProcessor.from_pretrained(str(start))
        self.processor.tokenizer.padding_side = "left"
        self.no_yes = list(yes_no_token_ids(self.processor.tokenizer))
        width = self.model.config.text_config.hidden_size
        self.probes, self.heads = Probes(width), AuxHeads(width)
        self.captured: dict[str, torch.Tensor] = {}
        self.model.model.visual.register_forward_hook(
            lambda module, args, output: self.captured.__setitem__("merged", output.pooler_output))
        self.params = [*self.model.parameters(), *self.probes.parameters(), *self.heads.parameters()]
        self.optimiser = torch.optim.AdamW(self.params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98))
        self.val = list(_loader(_Steps(self.processor, cfg, 4, VALIDATION_SEED_BASE), 0))
        self.log: list[dict] = []
        self.start = time.time()

    def run(self, out: str | Path) -> Path:
        declared = dict(getattr(self.model.config, "lychee_reranker", None) or {})
        declared.update(min_pixels=self.cfg.pixels, max_pixels=self.cfg.pixels, note=STAGE2_NOTE)
        self.model.config.lychee_reranker = declared  # the product shows it every image at its training scale
        self.model.train()
        batches = _loader(_Steps(self.processor, self.cfg, self.cfg.steps, STAGE2_SEED_BASE), self.workers)
        for step, batch in enumerate(batches):
            self._after_step(step, *self._step(step, batch))
        save(self.model, self.processor, Path(out), self.cfg, self.log, time.time() - self.start)
        return Path(out)

    def _step(self, step: int, batch) -> tuple[float, float]:
        inputs, labels, classes, image_classes = batch
        for group in self.optimiser.param_groups:
            group["lr"] = lr_at(step, self.cfg)
        output = self.model(**inputs, logits_to_keep=1, output_hidden_states=True)
        loss = nn.functional.cross_entropy(output.logits[:, -1, self.no_yes], labels)
        aux = self.cfg.probe_weight * self.probes(output.hidden_states[-2][:, -1, :], classes)
        if "image_grid_thw" in inputs and self.cfg.vision_weight:
            aux = aux + self.cfg.vision_weight * self._vision_loss(inputs["image_grid_thw"], image_classes)
        self.optimiser.zero_grad(set_to_none=True)
        (loss + aux).backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimiser.step()
        return loss.item(), aux.item()

    def _vision_loss(self, grid: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
        """Colour and shape of each single-shape image from its pooled merged embeddings."""
        pieces = self.captured["merged"].split((grid.prod(-1) // 4).tolist())
        pooled = [self.heads(piece.unsqueeze(0)) for piece in pieces]
        colour = torch.cat([p[0] for p in pooled])
        shape = torch.cat([p[1] for p in pooled])
        ce = nn.functional.cross_entropy
        if (classes[:, 0] < 0).all():
            return colour.sum() * 0.0
        return ce(colour, classes[:, 0], ignore_index=-100) + ce(shape, classes[:, 1], ignore_index=-100)

    def _after_step(self, step: int, loss: float, aux: float) -> None:
        entry = {"step": step + 1, "loss": round(loss, 5), "aux_loss": round(aux, 5),
                 "lr": lr_at(step, self.cfg), "elapsed_s": round(time.time() - self.start, 2)}
        done = step + 1
        if done % self.cfg.eval_every == 0 or done == self.cfg.steps:
            entry["val_accuracy"] = pair_accuracy(self.model, self.val, self.no_yes)
            self.model.train()
        self.log.append(entry)
        if self.cfg.snapshot_every and self.cfg.snapshot_dir and done % self.cfg.snapshot_every == 0:
            save(copy.deepcopy(self.model), self.processor, Path(self.cfg.snapshot_dir) / f"step_{done}",
                 self.cfg, self.log, time.time() - self.start)
            self.model.train()
        if done % 50 == 0 or "val_accuracy" in entry:
            recent = [e["loss"] for e in self.log[-50:]]
            logger.info("step %d/%d loss %.4f (mean of last %d: %.4f) aux %.3f %.0fs%s", done, self.cfg.steps, loss,
                        len(recent), sum(recent) / len(recent), aux, time.time() - self.start,
                        f" val_acc {entry['val_accuracy']:.3f}" if "val_accuracy" in entry else "")



def finetune(start: str | Path, out: str | Path, cfg: FinetuneConfig | None = None, workers: int = 1) -> Path:
    """Run the second stage from the first-stage folder ``start`` and save the model to ``out``."""
    return Finetuner(start, cfg or FinetuneConfig(), workers).run(out)
