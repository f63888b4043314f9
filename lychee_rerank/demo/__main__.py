"""``python -m lychee_rerank.demo build|evaluate|examples`` (see lychee_rerank/demo/README.md)."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

import torch
from transformers.utils import logging as hf_logging

from ..settings import DEMO_EXAMPLES_DIR, DEMO_MODEL_DIR
from . import suite
from .evaluate import evaluate
from .finetune import FinetuneConfig, finetune
from .gallery import write_examples
from .train import TrainConfig, train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lychee_rerank.demo",
                                     description="Build and check the demo reranker.")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: on a shared 2-core machine 2 threads ran ~10x slower)")
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="train the demo reranker from a fixed seed on the CPU and save it")
    build.add_argument("--out", default=str(DEMO_MODEL_DIR))
    build.add_argument("--steps", type=int, default=None, help="first-stage steps (default: the recipe's)")
    build.add_argument("--stage2-steps", type=int, default=None, help="second-stage steps (default: the recipe's)")
    build.add_argument("--stage1", default=None,
                       help="start the second stage from this saved first-stage folder instead of training one")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--log-every", type=int, default=50)
    build.set_defaults(handler=run_build)
    report = sub.add_parser("report", help="top-1/top-3 per modality on the independent renderer, and the scale rows")
    report.add_argument("--model", default=str(DEMO_MODEL_DIR))
    report.add_argument("--tasks", type=int, default=200)
    report.add_argument("--scale-tasks", type=int, default=None, help="tasks per scale row (default: --tasks)")
    report.add_argument("--parts", default="acceptance,scale,training", help="which rows: acceptance, scale, training")
    report.add_argument("--seed", type=int, default=0)
    report.add_argument("--json", default=None, help="also write the rows to this JSON file")
    report.set_defaults(handler=run_report)
    check = sub.add_parser("evaluate", help="top-1/top-3 on held-out ranking tasks via Reranker.rank")
    check.add_argument("--model", default=str(DEMO_MODEL_DIR))
    check.add_argument("--tasks", type=int, default=200)
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--batch-size", type=int, default=12)
    check.set_defaults(handler=run_evaluate)
    examples = sub.add_parser("examples", help="redraw the example images and labels.jsonl")
    examples.add_argument("--out", default=str(DEMO_EXAMPLES_DIR))
    examples.set_defaults(handler=lambda args: 0 if write_examples(args.out) else 1)
    return parser


def run_build(args: argparse.Namespace) -> int:
    start = time.time()
    stage1 = args.stage1
    if stage1 is None:
        cfg = TrainConfig(seed=args.seed, log_every=args.log_every)
        if args.steps is not None:
            cfg.steps = args.steps
        # saved (bfloat16) and reloaded, so a build and a run from a saved first stage compute the same thing
        stage1 = train(Path(args.out) / "stage1", cfg)
    second = FinetuneConfig(seed=args.seed)
    if args.stage2_steps is not None:
        second.steps = args.stage2_steps
    finetune(stage1, args.out, second)
    # the first stage's loss curve stays with the model; its weights are a step on the way
    shutil.copyfile(Path(stage1) / "training_log.json", Path(args.out) / "training_log_stage1.json")
    if args.stage1 is None:
        shutil.rmtree(stage1)
    logging.getLogger(__name__).info("build finished in %.0f s", time.time() - start)
    return 0


def run_report(args: argparse.Namespace) -> int:
    parts = {"acceptance": suite.ACCEPTANCE, "scale": suite.SCALE, "training": suite.TRAINING}
    reranker = suite.load(args.model)
    rows = []
    for part in args.parts.split(","):
        n = args.scale_tasks if part == "scale" and args.scale_tasks else args.tasks
        rows += [suite.run_cell(reranker, cell, n, args.seed).row() for cell in parts[part]]
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    result = evaluate(args.model, tasks=args.tasks, seed=args.seed, batch_size=args.batch_size)
    print(f"tasks: {result.tasks} (12 candidates, 1 relevant; eval seed {args.seed})")
    print(f"top-1 accuracy: {result.top1:.3f}")
    print(f"top-3 accuracy: {result.top3:.3f}")
    print("top-1 by query language: " + json.dumps(result.by_language))
    for failure in result.failures[:10]:
        print("miss: " + json.dumps(failure, ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("transformers").setLevel(logging.ERROR)
    hf_logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
