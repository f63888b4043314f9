"""The published checkpoints of every family, for `lychee-rerank models` and the README's table.

Parameters are counted from each checkpoint's architecture (built on the meta device), so the
bfloat16 weight size is computed, not typed in; a run also needs working memory for its images,
which device_map keeps free (``GPU_MEMORY_RESERVE_GIB``).
"""

from __future__ import annotations

from typing import Any

from ...settings import GPU_MEMORY_RESERVE_GIB
from . import FAMILIES

GIB = 1024**3
HEADERS = ("family", "checkpoint", "parameters", "bf16 weights GiB", "GPU GiB (+reserve)", "modalities", "licence")


def catalog_rows() -> list[dict[str, Any]]:
    """One row per published checkpoint, with its parameter count and bfloat16 sizes."""
    # lazy: building the architectures imports the model classes (torch, transformers)
    from ...demo.published import parameter_count

    rows = []
    for family in FAMILIES.values():
        for checkpoint in family.checkpoints:
            count = parameter_count(checkpoint.architecture)
            weights = 2 * count / GIB
            rows.append({
                "family": family.name, "checkpoint": checkpoint.hub_id, "parameters": count,
                "parameters_text": f"{count / 1e9:.2f}B", "bf16_weights_gib": weights,
                "gpu_gib": weights + GPU_MEMORY_RESERVE_GIB, "modalities": family.modalities,
                "licence": checkpoint.licence, "note": checkpoint.parameters,
            })
    return rows


def catalog_table(rows: list[dict[str, Any]]) -> list[tuple]:
    """The rows as table cells, in HEADERS order."""
    return [(r["family"], r["checkpoint"], r["parameters_text"], f"{r['bf16_weights_gib']:.1f}",
             f"{r['gpu_gib']:.1f}", r["modalities"], r["licence"]) for r in rows]
