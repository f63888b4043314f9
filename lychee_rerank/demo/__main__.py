"""``python -m lychee_rerank.demo build|evaluate|examples`` (see lychee_rerank/demo/README.md)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import torch
from transformers.utils import logging as hf_logging

from ..settings import DEMO_EXAMPLES_DIR, DEMO_MODEL_DIR
from .evaluate import evaluate
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
    build.add_argument("--steps", type=int, default=None, help="training steps (default: the recipe's)")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--log-every", type=int, default=50)
    build.set_defaults(handler=run_build)
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
    cfg = TrainConfig(seed=args.seed, log_every=args.log_every)
    if args.steps is not None:
        cfg.steps = args.steps
    start = time.time()
    train(args.out, cfg)
    logging.getLogger(__name__).info("build finished in %.0f s", time.time() - start)
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
