"""``lychee-rerank batch``: its arguments and its body; ``cli`` only registers it.

Importing this module stays light (no torch, pyarrow or Ray): the job's modules are imported
when the command runs, after the arguments are checked.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .spec import DEFAULT_CHUNK_ROWS, ENGINES, BatchJob

if TYPE_CHECKING:  # the job's module reads Parquet (pyarrow); only its type is needed here
    from .job import JobReport

logger = logging.getLogger("lychee_rerank.batch")

USAGE_NOTE = (
    "MANIFEST: CSV, JSONL or Parquet with 'query' and 'image' columns (optional 'id', 'group'; others carried "
    "through). OUT: Parquet, or CSV when it ends in .csv: every manifest row with score, rank (within its group), "
    "parse_method, warning, scored_size."
)


def add_batch_parser(
    subparsers: Any, add_model_options: Callable[[argparse.ArgumentParser], None],
    model_kwargs: Callable[[argparse.Namespace], dict[str, Any]],
) -> None:
    """Register ``batch`` on the CLI's ``subparsers``; ``add_model_options`` and ``model_kwargs`` are the CLI's
    shared model options and their conversion to ``Reranker.from_pretrained`` keyword arguments."""
    parser = subparsers.add_parser("batch", help="score a manifest of (query, image) rows into a ranked table",
                                   description="Score every row of a manifest; resumable, on one machine or Ray.",
                                   epilog=USAGE_NOTE)
    parser.add_argument("manifest", metavar="MANIFEST", help="a .csv, .jsonl or .parquet manifest")
    parser.add_argument("--out", required=True, metavar="OUT", help="the results: .parquet (default) or .csv")
    add_model_options(parser)
    parser.add_argument("--instruction", default=None, help="an instruction preset or free text")
    parser.add_argument("--query-from-metadata", action="store_true",
                        help="rows without a query (or a manifest without the column) are scored against their "
                             "generated image's own prompt (A1111/Forge, ComfyUI, InvokeAI)")
    parser.add_argument("--engine", choices=ENGINES, default="local",
                        help="local (one process) or ray (Ray Data; pip install 'lychee-rerank[cluster]')")
    parser.add_argument("--resume", action="store_true",
                        help="continue a job that was stopped: rows already written (OUT.parts/) are not scored again")
    parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_ROWS, metavar="ROWS",
                        help=f"rows per part file and per Ray batch (default {DEFAULT_CHUNK_ROWS})")
    parser.add_argument("--workers", type=int, default=1, help="Ray: actors, each holding one model (default 1)")
    parser.add_argument("--gpus-per-worker", type=float, default=None,
                        help="Ray: GPUs per actor (default: 1 where the cluster has GPUs, else 0)")
    parser.add_argument("--address", default=None,
                        help="Ray: the cluster to join (default: $RAY_ADDRESS, else a new local cluster)")
    parser.set_defaults(handler=partial(run_batch, model_kwargs=model_kwargs))


def run_batch(args: argparse.Namespace, *, model_kwargs: Callable[[argparse.Namespace], dict[str, Any]]) -> int:
    """The ``batch`` command: run the job, log its figures; 0 when every manifest row is in OUT."""
    job = BatchJob(
        manifest=Path(args.manifest), out=Path(args.out), model=args.model, reranker_options=model_kwargs(args),
        instruction=args.instruction, engine=args.engine, resume=args.resume, chunk_rows=args.chunk_size,
        workers=args.workers, gpus_per_worker=args.gpus_per_worker, address=args.address or os.environ.get(
            "RAY_ADDRESS"), query_from_metadata=args.query_from_metadata,
    )
    # lazy: the job reads Parquet (pyarrow) and loads the model; the arguments above are checked first
    from .job import run_job

    report = run_job(job)
    merged = report.merged
    logger.info("%s: %d rows in %d groups (%d with a warning, %d not scored); this run scored %d rows: %s%s",
                report.out, merged.rows, merged.groups, merged.warned, merged.not_scored, report.scored_now,
                _rates(report), f"; {report.resumed_rows} kept from the earlier run" if report.resumed_rows else "")
    return 0


def _rates(report: JobReport) -> str:
    """The job's speed, each figure saying what it measures (scoring alone, or the whole job)."""
    whole = f"whole job {report.seconds:.1f} s, {report.rows_per_s:.2f} rows/s including model load and merge"
    scoring = report.scoring_rows_per_s
    return whole if scoring is None else f"scoring {scoring:.2f} rows/s; {whole}"
