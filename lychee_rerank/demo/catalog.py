"""``lychee-rerank models``: the published checkpoints of every family (also the README's table).

Parameters are counted from each checkpoint's architecture (built on the meta device), so the
bfloat16 weight size is computed, not typed in; a run also needs working memory for its images,
which device_map keeps free (``GPU_MEMORY_RESERVE_GIB``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..export import format_table
from ..settings import GPU_MEMORY_RESERVE_GIB

GIB = 1024**3
HEADERS = ("family", "checkpoint", "parameters", "bf16 weights GiB", "GPU GiB (+reserve)", "modalities", "licence")


def catalog_rows() -> list[dict[str, Any]]:
    """One row per published checkpoint, with its parameter count and bfloat16 sizes."""
    # lazy: the families and the architectures import torch and transformers; the CLI must start without them
    from ..scoring.families import FAMILIES
    from .published import parameter_count

    rows = []
    for family in FAMILIES.values():
        for checkpoint in family.checkpoints:
            count = parameter_count(checkpoint.architecture)
            weights = 2 * count / GIB
            rows.append({
                "family": family.name, "checkpoint": checkpoint.hub_id, "parameters": count,
                "parameters_text": f"{count / 1e9:.2f}B", "bf16_weights_gib": weights,
                "gpu_gib": weights + GPU_MEMORY_RESERVE_GIB, "modalities": family.modalities,
                "licence": checkpoint.licence, "note": checkpoint.parameters, "recipe": family.summary,
            })
    return rows


def catalog_table(rows: list[dict[str, Any]]) -> list[tuple]:
    """The rows as table cells, in HEADERS order."""
    return [(r["family"], r["checkpoint"], r["parameters_text"], f"{r['bf16_weights_gib']:.1f}",
             f"{r['gpu_gib']:.1f}", r["modalities"], r["licence"]) for r in rows]


def add_models_parser(subparsers: Any) -> None:
    """Register ``models`` on the CLI's ``subparsers``."""
    parser = subparsers.add_parser(
        "models", help="list the model families and their published checkpoints",
        description="The families lychee-rerank scores with, each by its authors' recipe, and the GPU memory "
                    "each checkpoint needs in bfloat16 (counted from its architecture).",
    )
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(handler=run_models)


def run_models(args: argparse.Namespace) -> int:
    rows = catalog_rows()
    if args.format == "json":
        sys.stdout.write(json.dumps(rows, indent=2, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(format_table(HEADERS, catalog_table(rows)) + "\n")
    return 0
