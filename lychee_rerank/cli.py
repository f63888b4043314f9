"""The command line: ``lychee-rerank rank ... PATH...``, ``bench``, ``models``, ``batch`` and ``serve`` (DESIGN.md §2).

Argument checks that need no model (an empty query, no images found) run
before torch is imported, so a mistake is reported at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .batch.command import add_batch_parser
from .bench_command import add_bench_parser
from .demo.catalog import add_models_parser
from .errors import (
    InvalidQueryError,
    InvalidSettingError,
    LycheeRerankError,
    NoImagesError,
    QueryImageError,
    ScoringFailedError,
)
from .intake import URL_PROBLEM, as_input, collect_paths, looks_like_url, prepare_image, read_texts
from .own_prompts import check_own_prompt_request, rank_by_own_prompts
from .safe_text import terminal_text
from .scoring.query import normalize_query, validate_query
from .serve.command import add_serve_parser
from .settings import BATCH_AUTO, DEFAULT_MAX_IMAGES, MIN_PIXELS, MODES, QUANTIZATIONS
from .takeout import add_takeout_options, check_takeout_options, format_ranking, run_takeout
from .terminal import TerminalFormatter, progress_callback

logger = logging.getLogger("lychee_rerank.cli")

FORMATS = ("table", "json", "csv")
NO_QUERY = "no query: pass --query TEXT, --query-image IMAGE, or both"


def batch_size_arg(text: str) -> int | str:
    """``--batch-size``: a whole number of at least 1, or ``auto``."""
    if text.strip().lower() == BATCH_AUTO:
        return BATCH_AUTO
    if not text.strip().isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, or 'auto' (got {text!r})")
    return int(text)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by every subcommand that loads a model."""
    parser.add_argument("--model", default=os.environ.get("LYCHEE_MODEL"), required="LYCHEE_MODEL" not in os.environ,
                        help="hub id, local folder, or 'demo' (default: $LYCHEE_MODEL)")
    parser.add_argument("--mode", choices=MODES, default="auto")
    parser.add_argument("--dtype", default="auto", help="auto | bfloat16 | float16 | float32")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--batch-size", type=batch_size_arg, default=1, metavar="N|auto",
                        help="documents per forward pass; auto fills free GPU memory (1 on the CPU)")
    parser.add_argument("--max-pixels", type=int, default=None,
                        help="largest image area the model sees (default: the model's own; 1280*28*28 for lychee)")
    parser.add_argument("--min-pixels", type=int, default=None,
                        help="smallest image area the model sees (default: the model's own; 4*28*28)")
    parser.add_argument("--quantization", choices=QUANTIZATIONS, default=None, help="CUDA only, needs bitsandbytes")
    parser.add_argument("--max-gpu-memory", type=float, default=None,
                        help="GiB per GPU; the rest is offloaded to the CPU")
    parser.add_argument("--no-vision-cache", action="store_true",
                        help="do not keep the vision tower's output for later queries (saves memory)")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for torch (default: all cores, one for a model as small as the demo; "
                             "fewer on a busy machine is much faster)")
    parser.add_argument("--family", default=None,
                        help="the model family whose recipe scores: lychee, qwen3-vl-reranker, monoqwen2-vl, instruct "
                             "(default: from the model's config and name; see `lychee-rerank models`)")
    parser.add_argument("--base-model", default=None, metavar="MODEL",
                        help="a LoRA adapter's base model (MonoQwen2-VL); default: the one the adapter names")


def _rank_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("rank", help="rank images (or texts) against a query text and/or image")
    add_model_options(parser)
    parser.add_argument("--query", default=None, help="what you are looking for (Chinese, English or mixed)")
    parser.add_argument("--query-image", default=None, metavar="IMAGE",
                        help="a reference image: rank by likeness to it (with --query too: to both)")
    parser.add_argument("--texts", default=None, metavar="FILE",
                        help="rank the texts in FILE (one per line, or JSONL with a 'text' field) instead of images")
    parser.add_argument("--instruction", default=None,
                        help="an instruction preset (default, product, design, generated) or free text")
    parser.add_argument("--query-from-metadata", action="store_true", help="score each generated image against "
                        "its own embedded prompt (A1111/Forge, ComfyUI, InvokeAI); --query scores those without")
    parser.add_argument("--append-query", action="store_true",
                        help="score against each image's 'prompt, and also: QUERY' (implies --query-from-metadata)")
    parser.add_argument("--top-k", type=int, default=None, help="print only the best K (default: all)")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--max-images", type=int, default=None,
                        help=f"refuse runs with more images (default {DEFAULT_MAX_IMAGES})")
    parser.add_argument("paths", nargs="*", metavar="PATH", help="image files, folders (recursive) or .zip files")
    add_takeout_options(parser)
    parser.set_defaults(handler=run_rank)


def reranker_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """from_pretrained keyword arguments from the shared model options."""
    kwargs: dict[str, Any] = {
        "dtype": args.dtype,
        "device": args.device,
        "mode": args.mode,
        "batch_size": args.batch_size,
        "quantization": args.quantization,
        "max_gpu_memory": args.max_gpu_memory,
    }
    if args.no_vision_cache:
        kwargs["vision_cache_mib"] = 0
    if getattr(args, "threads", None):
        kwargs["cpu_threads"] = args.threads
    if args.family:
        kwargs["family"] = args.family
    if args.base_model:
        kwargs["base_model"] = args.base_model
    if args.max_pixels is not None:
        kwargs["max_pixels"] = args.max_pixels
    if args.min_pixels is not None:
        kwargs["min_pixels"] = args.min_pixels
    if getattr(args, "max_images", None) is not None:
        kwargs["max_images"] = args.max_images
    return kwargs


def _documents(args: argparse.Namespace) -> list:
    """The texts of --texts, or the images found in the PATHs (every PATH must exist)."""
    if args.texts is not None:
        if args.paths:
            raise InvalidSettingError("give either --texts FILE or image PATHs, not both")
        return read_texts(args.texts)
    if not args.paths:
        raise NoImagesError("no PATH given: name image files, folders or .zip files (or --texts FILE)")
    for path in args.paths:
        if looks_like_url(path):
            raise NoImagesError(f"{path}: {URL_PROBLEM}")
        if not os.path.lexists(path):
            raise NoImagesError(f"{path}: no such file or folder")
    return collect_paths(args.paths, max_images=args.max_images or DEFAULT_MAX_IMAGES)


def _check_query(args: argparse.Namespace) -> None:
    """An empty query or an unreadable query image fails before any model work."""
    if args.query_from_metadata or args.append_query:
        check_own_prompt_request(args.query, args.append_query, args.query_image, args.texts)
        return
    if args.query_image is None:
        if not normalize_query(args.query or ""):
            given = "" if args.query is None else f" (--query {args.query!r} is blank)"
            raise InvalidQueryError(NO_QUERY + given)
        validate_query(args.query)
        return
    if args.query is not None and args.query.strip():
        validate_query(args.query)
    if looks_like_url(args.query_image):
        raise QueryImageError(f"query image {args.query_image}: {URL_PROBLEM}")
    if not Path(args.query_image).is_file():
        raise QueryImageError(f"query image {args.query_image}: no such file")
    prepared = prepare_image(as_input(args.query_image, 0), max_pixels=MIN_PIXELS)
    if prepared.failed:
        raise QueryImageError(f"query image {args.query_image} cannot be read: {prepared.warning}")


def _quiet_model_loading(args: argparse.Namespace) -> None:
    """-q also hides the weight-loading progress bars (transformers', huggingface_hub's), for every subcommand."""
    if not args.quiet:
        return
    # Read when transformers is imported: here later, or in a batch job's Ray workers, which inherit it.
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if "transformers" in sys.modules:
        # lazy: only when transformers is imported already (the CLI run in process): switch its bar off directly
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


def run_rank(args: argparse.Namespace) -> int:
    _check_query(args)
    check_takeout_options(args)
    documents = _documents(args)
    # lazy: the reranker imports torch and transformers (seconds); argument errors above come first
    from .reranker import Reranker

    reranker = Reranker.from_pretrained(args.model, **reranker_kwargs(args))
    logger.info("model %(model)s (family %(family)s) on %(device)s, %(dtype)s, mode %(mode)s, pixels %(min_pixels)d.."
                "%(max_pixels)d, %(cpu_threads)d CPU threads", reranker.describe())
    rank = reranker.rank_texts if args.texts is not None else reranker.rank
    on_progress, close = progress_callback(len(documents))
    try:
        if args.query_from_metadata or args.append_query:
            ranking = rank_by_own_prompts(reranker, documents, query=args.query, mix=args.append_query,
                                          instruction=args.instruction, on_progress=on_progress)
        else:
            ranking = rank(args.query, documents, query_image=args.query_image, instruction=args.instruction,
                           on_progress=on_progress)
    except ScoringFailedError as exc:
        _print_ranking(args, exc.ranking)  # what was scored before the failure is not lost
        raise
    finally:
        close()
    _print_ranking(args, ranking)
    run_takeout(args, ranking)
    return 0


def _print_ranking(args: argparse.Namespace, ranking: Any) -> None:
    for warning in ranking.warnings:
        logger.warning(warning)
    output = format_ranking(args, ranking)
    sys.stdout.write(output + ("\n" if args.format != "csv" else ""))


def _add_global_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """-v and -q: on the main parser (default False) and again on every subcommand, where an absent flag
    (default SUPPRESS) leaves the main parser's value alone, so ``-q rank`` and ``rank -q`` both work."""
    parser.add_argument("-v", "--verbose", action="store_true", default=default, help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", default=default,
                        help="only warnings and errors on stderr (no weight-loading bar)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lychee-rerank",
                                     description="Rank images against a text query with a vision-language reranker.")
    _add_global_options(parser, default=False)
    subparsers = parser.add_subparsers(dest="command", required=True)
    _rank_parser(subparsers)
    add_bench_parser(subparsers, add_model_options, reranker_kwargs)
    add_models_parser(subparsers)
    add_batch_parser(subparsers, add_model_options, reranker_kwargs)
    add_serve_parser(subparsers, add_model_options, reranker_kwargs)
    for subparser in subparsers.choices.values():
        _add_global_options(subparser, default=argparse.SUPPRESS)
    return parser


def _configure_threads(args: argparse.Namespace) -> None:
    # OpenMP threads that wait on a descheduled sibling slow CPU inference ~10x on a busy machine.
    if getattr(args, "threads", None):
        # lazy: torch only when a thread count is asked for
        import torch

        torch.set_num_threads(args.threads)


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TerminalFormatter("%(levelname)s %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for noisy in ("transformers", "httpx", "urllib3", "jieba"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lychee-rerank`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    _configure_logging(args)
    _quiet_model_loading(args)
    _configure_threads(args)
    try:
        return args.handler(args)
    except LycheeRerankError as exc:
        print(f"lychee-rerank: error: {terminal_text(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lychee-rerank: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
