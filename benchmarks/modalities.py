"""Cost per document of each query shape x document shape, against text -> image.

    python benchmarks/modalities.py --model small-qwen-vocab --documents 8 --image-size 448x448

Every shape is timed end to end through ``Reranker.rank`` / ``rank_texts`` (intake,
processor, model) after one untimed warm-up call, on the same synthetic images
and texts. An image query adds a second image to every sample, so its cost is
mostly one more pass of the vision tower per document; text documents drop the
document image. Prints a table last; writes the figures to benchmarks/out/modalities.json or --out.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import torch

from lychee_rerank import Document
from lychee_rerank.export import format_table
from lychee_rerank.reranker import Reranker
from lychee_rerank.runtime.machine import describe_machine, machine_info

from bench_support import (
    DEFAULT_MODEL_CACHE,
    MODEL_HELP,
    parse_size,
    resolve_model,
    run_thread_count,
    script_main,
    synthetic_images,
)

QUERY = "a red dress on a beach"
TEXTS = [
    "a red silk dress on a sunny beach", "a blue denim jacket", "一件红色连衣裙", "a green field at dawn",
    "a cyberpunk street in the rain", "matte red lipstick, close-up, white background", "a black cat", "a yellow car",
]
SHAPES = [("text", "image"), ("image", "image"), ("image+text", "image"), ("text", "text"), ("image", "text"),
          ("text", "image+text")]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="small-qwen-vocab", help=MODEL_HELP)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--documents", type=int, default=8, help="documents per shape (default 8)")
    parser.add_argument("--image-size", type=parse_size, default=parse_size("448x448"))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--model-cache", default=str(DEFAULT_MODEL_CACHE))
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/out/modalities.json)")
    return parser.parse_args(argv)


def shape_call(reranker: Reranker, query_kind: str, document_kind: str, images: list, reference: tuple) -> Any:
    """A zero-argument call ranking ``len(images)`` documents of one shape."""
    query = QUERY if "text" in query_kind else None
    query_image = reference if "image" in query_kind else None
    texts = [TEXTS[i % len(TEXTS)] for i in range(len(images))]
    if document_kind == "text":
        return lambda: reranker.rank_texts(query, texts, query_image=query_image)
    if document_kind == "image+text":
        documents = [Document(image=image, text=text) for image, text in zip(images, texts)]
        return lambda: reranker.rank(query, documents, query_image=query_image)
    return lambda: reranker.rank(query, images, query_image=query_image)


def run(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads:
        torch.set_num_threads(args.threads)
    info = machine_info()
    loaded = resolve_model(args.model, device=args.device, dtype=args.dtype, cache_dir=args.model_cache)
    info["torch_threads"] = run_thread_count(loaded, args.threads)  # what the runs use
    reranker = Reranker(loaded, mode="yesno", cpu_threads=args.threads)
    images = synthetic_images(args.documents, args.image_size)
    reference = synthetic_images(1, args.image_size, start=50_000)[0]
    rows = []
    for query_kind, document_kind in SHAPES:
        call = shape_call(reranker, query_kind, document_kind, images, reference)
        call()  # warm-up, untimed
        start = time.perf_counter()
        ranking = call()
        seconds = time.perf_counter() - start
        assert len(ranking) == args.documents and all(r.ok for r in ranking)
        rows.append({"query": query_kind, "document": document_kind, "s_per_document": seconds / args.documents})
        print(f"{query_kind} -> {document_kind}: {seconds / args.documents:.3f} s/doc", file=sys.stderr, flush=True)
    base = rows[0]["s_per_document"]
    for row in rows:
        row["vs_text_to_image"] = row["s_per_document"] / base
    return {"benchmark": "modalities", "model": args.model, "documents": args.documents,
            "image_size": "x".join(map(str, args.image_size)), "device": loaded.device, "machine": info, "rows": rows}


def print_table(report: dict[str, Any], path: Any) -> None:
    print(f"# modalities: {report['model']} on {report['device']}, {report['documents']} documents per shape, "
          f"images {report['image_size']}; {describe_machine(report['machine'])}; full figures: {path}")
    rows = [[r["query"], r["document"], r["s_per_document"], f"{r['vs_text_to_image']:.2f}x"] for r in report["rows"]]
    print(format_table(["query", "document", "s/document", "vs text -> image"], rows))


def main(argv: list[str] | None = None) -> int:
    return script_main("modalities", argv, parse_args, run, print_table)


if __name__ == "__main__":
    sys.exit(main())
