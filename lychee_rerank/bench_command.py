"""``lychee-rerank bench``: score a labelled query set once per dtype and compare them."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from .errors import InvalidSettingError
from .safe_text import terminal_text
from .settings import DEMO_ALIAS, DEMO_EXAMPLES_DIR

DEFAULT_DTYPES = "bfloat16,float16,float32"
DEMO_LABELS = DEMO_EXAMPLES_DIR / "labels.jsonl"


def add_bench_parser(
    subparsers: Any, add_model_options: Callable[[argparse.ArgumentParser], None],
    model_kwargs: Callable[[argparse.Namespace], dict[str, Any]],
) -> None:
    """Register ``bench`` on the CLI's ``subparsers`` with the CLI's shared model options."""
    parser = subparsers.add_parser(
        "bench", help="compare precisions (dtypes) on a labelled query set",
        description="Score a labelled set once per dtype and compare accuracy, spread, speed and memory.",
    )
    add_model_options(parser)
    parser.add_argument("--labels", default=None,
                        help="JSONL of {query, images, relevant}; default with --model demo: the demo's labels")
    parser.add_argument("--dtypes", default=DEFAULT_DTYPES,
                        help=f"comma-separated (default {DEFAULT_DTYPES}); --dtype is ignored")
    parser.add_argument("--instruction", default=None, help="an instruction preset or free text")
    parser.add_argument("--out", default=None, help="JSON file for the full figures (default: none written)")
    parser.set_defaults(handler=partial(run_bench, model_kwargs=model_kwargs))


def run_bench(args: argparse.Namespace, *, model_kwargs: Callable[[argparse.Namespace], dict[str, Any]]) -> int:
    labels = args.labels
    if labels is None:
        if args.model != DEMO_ALIAS:
            raise InvalidSettingError(
                "--labels FILE.jsonl is required (it defaults to the demo's labels only with --model demo)"
            )
        labels = DEMO_LABELS
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    if not dtypes:
        raise InvalidSettingError("--dtypes needs at least one dtype, e.g. bfloat16,float32")
    # lazy: evaluation loads models through torch and transformers
    from .evaluation import compare_dtypes, comparison_table

    options = {k: v for k, v in model_kwargs(args).items() if k != "dtype"}
    report = compare_dtypes(args.model, dtypes, labels, instruction=args.instruction, **options)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
        print(f"# full figures: {terminal_text(out)}")
    print(comparison_table(report))
    return 0 if any("error" not in row for row in report["rows"]) else 1
