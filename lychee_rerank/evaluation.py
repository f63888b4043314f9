"""Compare precisions (dtypes) on labelled queries: the engine of ``lychee-rerank bench``.

``compare_dtypes`` scores every labelled query once per dtype and reports, per
dtype: top-1 accuracy, top-3 coverage, mean within-query score standard
deviation, parse success (generate mode), mean latency per image, peak memory,
weight memory, and the Spearman correlation of its scores with float32's.
A labels file is JSONL: ``{"query", "images" (paths relative to the file), "relevant" (indices)}``.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import LycheeRerankError
from .export import format_table
from .reranker import Reranker
from .runtime import machine
from .settings import PARSE_FALLBACK, PARSE_PRIMARY, PARSER_METHODS

logger = logging.getLogger(__name__)

REFERENCE_DTYPE = "float32"
TABLE_HEADERS = ["dtype", "mode", "top-1 acc", "top-3 cov", "score std", "parse ok", "s/image", "peak MiB",
                 "weights MiB", "spearman vs fp32"]


def read_labels(path: str | Path) -> list[dict[str, Any]]:
    """The labelled queries of a JSONL file, image paths made absolute; typed errors name the bad line."""
    labels_path = Path(path)
    if not labels_path.is_file():
        raise LycheeRerankError(f"labels file {labels_path} does not exist")
    items = []
    for number, line in enumerate(labels_path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            items.append(_label(labels_path, number, line))
    if not items:
        raise LycheeRerankError(f"labels file {labels_path} holds no queries")
    return items


def _label(labels_path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        record = json.loads(line)
        images = [str((labels_path.parent / image).resolve()) for image in record["images"]]
        relevant = sorted({int(i) for i in record["relevant"]})
        query = str(record["query"])
    except (ValueError, KeyError, TypeError) as exc:
        raise LycheeRerankError(f"{labels_path}:{number}: expected {{query, images, relevant}}: {exc}") from exc
    if not images or any(i < 0 or i >= len(images) for i in relevant):
        raise LycheeRerankError(f"{labels_path}:{number}: relevant indices must point into images")
    return {"query": query, "images": images, "relevant": relevant}


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rank correlation; None when undefined (fewer than 2 values, or a constant input)."""
    if len(a) != len(b) or len(a) < 2 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    ra, rb = _ranks(a), _ranks(b)
    ma, mb = statistics.fmean(ra), statistics.fmean(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    var = math.sqrt(sum((x - ma) ** 2 for x in ra) * sum((y - mb) ** 2 for y in rb))
    return cov / var if var else None


def _ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


@dataclass
class _Tally:
    """Figures accumulated over the labelled queries of one dtype."""

    scores: list[float] = field(default_factory=list)
    stds: list[float] = field(default_factory=list)
    top1: int = 0
    top3: int = 0
    parsed: int = 0
    parse_ok: int = 0
    seconds: float = 0.0
    images: int = 0
    warnings: set[str] = field(default_factory=set)

    def add(self, ranking: Sequence[Any], relevant: set[int], seconds: float) -> None:
        by_index = sorted(ranking, key=lambda r: r.index)
        order = [r.index for r in ranking]
        self.scores.extend(r.score for r in by_index)
        self.stds.append(statistics.pstdev([r.score for r in by_index]))
        self.top1 += order[0] in relevant
        self.top3 += bool(relevant & set(order[:3]))
        self.seconds += seconds
        self.images += len(by_index)
        for r in by_index:
            if r.warning:
                self.warnings.add(r.warning)
            if r.parse_method in PARSER_METHODS:
                self.parsed += 1
                self.parse_ok += r.parse_method in (PARSE_PRIMARY, PARSE_FALLBACK)


def evaluate_dtype(model: str, dtype: str, labels: list[dict[str, Any]], *, instruction: str | None = None,
                   **load_options: Any) -> dict[str, Any]:
    """Score every labelled query with one dtype; the figures, or the error (one dtype failing is a row)."""
    _reset_peaks()
    rss_before = machine.rss_bytes()
    peak = [rss_before]
    row: dict[str, Any] = {"dtype": dtype}
    try:
        reranker = Reranker.from_pretrained(model, dtype=dtype, **load_options)
        tally = _Tally()
        for item in labels:
            start = time.perf_counter()
            ranking = reranker.rank(item["query"], item["images"], instruction=instruction,
                                    on_progress=lambda *_: peak.append(machine.rss_bytes()))
            tally.add(ranking, set(item["relevant"]), time.perf_counter() - start)
        row.update(_figures(reranker, tally, len(labels), max(peak) - rss_before))
    except Exception as exc:  # noqa: BLE001 - fp16 kernels on the CPU, OOM...: a row, not the end
        logger.warning("dtype %s failed: %s", dtype, exc)
        row["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    return row  # the model is freed here; the next dtype's _reset_peaks collects it


def _reset_peaks() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _figures(reranker: Reranker, tally: _Tally, queries: int, rss_delta: int) -> dict[str, Any]:
    gpu = machine.cuda_memory()
    weights = sum(p.numel() * p.element_size() for p in reranker.model.parameters())
    return {
        "mode": reranker.mode,
        "device": reranker.loaded_model.device,
        "top1_accuracy": tally.top1 / queries,
        "top3_coverage": tally.top3 / queries,
        "mean_score_std": statistics.fmean(tally.stds),
        "parse_success": tally.parse_ok / tally.parsed if tally.parsed else None,
        "latency_s_per_image": tally.seconds / tally.images,
        "peak_memory_mib": machine.mib(gpu["max_allocated"] if gpu else rss_delta),
        "peak_memory_kind": "cuda max_allocated" if gpu else "RSS delta",
        "weights_mib": machine.mib(weights),
        "scores": tally.scores,
        "queries": queries,
        "images": tally.images,
        "warnings": sorted(tally.warnings)[:5],
    }


def compare_dtypes(model: str, dtypes: list[str], labels_path: str | Path, **options: Any) -> dict[str, Any]:
    """Evaluate each dtype on the labels file; rows gain their Spearman correlation with float32's scores."""
    labels = read_labels(labels_path)
    info = machine.machine_info()
    rows = [evaluate_dtype(model, dtype, labels, **options) for dtype in dtypes]
    info["load_average_end"] = machine.load_average()
    reference = next((r for r in rows if r["dtype"] in (REFERENCE_DTYPE, "fp32") and "scores" in r), None)
    for row in rows:
        if "scores" in row and reference is not None:
            row["spearman_vs_float32"] = 1.0 if row is reference else spearman(row["scores"], reference["scores"])
    return {"benchmark": "precision", "model": model, "labels": str(labels_path), "queries": len(labels),
            "machine": info, "rows": rows}


def comparison_table(report: dict[str, Any]) -> str:
    """The report as a header line and a table, one row per dtype."""
    rows = []
    for row in report["rows"]:
        if "error" in row:
            rows.append([row["dtype"], "error", row["error"][:80], "", "", "", "", "", "", ""])
            continue
        rows.append([row["dtype"], row["mode"], row["top1_accuracy"], row["top3_coverage"], row["mean_score_std"],
                     row["parse_success"], row["latency_s_per_image"], row["peak_memory_mib"], row["weights_mib"],
                     row.get("spearman_vs_float32")])
    kind = next((r["peak_memory_kind"] for r in report["rows"] if "peak_memory_kind" in r), "RSS delta")
    if kind == "RSS delta":
        kind += " (from before loading; after the first dtype the heap is partly reused: compare weights MiB)"
    header = (f"# precision comparison: {report['model']} on {report['queries']} queries ({report['labels']})\n"
              f"# {machine.describe_machine(report['machine'])}; peak memory = {kind}")
    return header + "\n" + format_table(TABLE_HEADERS, rows)
