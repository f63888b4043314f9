"""``lychee-rerank serve``: its arguments and its body; ``cli`` only registers it.

Importing this module stays light: FastAPI, uvicorn and the model are imported when the command runs.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import InvalidSettingError, LycheeRerankError
from ..settings import BATCH_AUTO
from . import config

logger = logging.getLogger("lychee_rerank.serve")

API_KEY_ENV = "LYCHEE_API_KEY"
EXTRA_MISSING = "the serve extra is not installed: pip install 'lychee-rerank[serve]' (FastAPI, uvicorn, httpx, ...)"


class ServeExtraMissingError(LycheeRerankError):
    """FastAPI, uvicorn or another package of the ``serve`` extra is missing."""


def add_serve_parser(
    subparsers: Any, add_model_options: Callable[[argparse.ArgumentParser], None],
    model_kwargs: Callable[[argparse.Namespace], dict[str, Any]],
) -> None:
    """Register ``serve`` on the CLI's ``subparsers`` with the CLI's shared model options (see ``add_batch_parser``)."""
    parser = subparsers.add_parser(
        "serve", help="serve the reranker over HTTP (Cohere/Jina/vLLM rerank API)",
        description="One loaded model behind POST /v1/rerank, GET /v1/models, /health, /metrics and /docs.",
    )
    add_model_options(parser)
    parser.set_defaults(batch_size=BATCH_AUTO)  # a server pools requests: fill the batches (1 on the CPU)
    parser.add_argument("--host", default=config.DEFAULT_HOST,
                        help="address to listen on (default 127.0.0.1; another needs --api-key or --insecure)")
    parser.add_argument("--port", type=int, default=config.DEFAULT_PORT)
    parser.add_argument("--api-key", default=os.environ.get(API_KEY_ENV) or None,
                        help=f"require 'Authorization: Bearer KEY' (default: ${API_KEY_ENV}; prefer the variable)")
    parser.add_argument("--insecure", action="store_true",
                        help="allow listening beyond this machine without an API key")
    parser.add_argument("--allow-urls", action="store_true",
                        help="fetch http(s) image URLs (public addresses only, capped in size and time)")
    parser.add_argument("--allow-private-urls", action="store_true",
                        help="with --allow-urls, also fetch from private and loopback addresses (an internal image "
                             "server); anyone who can call the service can then reach them")
    parser.add_argument("--allow-path", type=Path, default=None, metavar="ROOT",
                        help="read image paths on this machine, confined to the folder ROOT")
    parser.add_argument("--max-body-mib", type=float, default=config.MAX_BODY_BYTES / 1024**2,
                        help="largest request body in MiB (default %(default)g)")
    parser.add_argument("--max-documents", type=int, default=config.MAX_DOCUMENTS,
                        help="most documents per request (default %(default)d)")
    parser.add_argument("--max-image-pixels", type=int, default=config.MAX_IMAGE_PIXELS,
                        help="largest image in pixels, read from its header (default %(default)d)")
    parser.add_argument("--queue-documents", type=int, default=config.QUEUE_DOCUMENTS,
                        help="documents waiting at most before requests get 429 (default %(default)d)")
    parser.add_argument("--pool-documents", type=int, default=None,
                        help="documents per engine call, pooled across requests (default: the batch size, "
                             f"at least {config.MIN_POOL_DOCUMENTS}; {config.POOL_DOCUMENTS_AUTO} with auto)")
    parser.add_argument("--drain-timeout", type=float, default=config.DRAIN_TIMEOUT_S,
                        help="seconds SIGTERM lets requests in flight finish (default %(default)g)")
    parser.add_argument("--served-model-name", default=None, help="the model name in answers (default: --model)")
    parser.set_defaults(handler=partial(run_serve, model_kwargs=model_kwargs))


def settings_from_args(args: argparse.Namespace) -> config.ServeSettings:
    """The service's settings from the parsed arguments (checked: positive limits, ROOT a folder)."""
    for name in ("max_documents", "max_image_pixels", "queue_documents"):
        if getattr(args, name) < 1:
            raise InvalidSettingError(f"--{name.replace('_', '-')} must be at least 1")
    if args.pool_documents is not None and args.pool_documents < 1:
        raise InvalidSettingError("--pool-documents must be at least 1")
    if args.allow_private_urls and not args.allow_urls:
        raise InvalidSettingError("--allow-private-urls needs --allow-urls")
    if args.allow_path is not None and not args.allow_path.is_dir():
        raise InvalidSettingError(f"--allow-path {args.allow_path}: not a folder")
    return config.ServeSettings(
        host=args.host, port=args.port, api_key=args.api_key, insecure=args.insecure, allow_urls=args.allow_urls,
        allow_private_urls=args.allow_private_urls,
        allow_path=args.allow_path.resolve() if args.allow_path is not None else None,
        max_body_bytes=int(args.max_body_mib * 1024**2), max_documents=args.max_documents,
        max_image_pixels=args.max_image_pixels, queue_documents=args.queue_documents,
        pool_documents=args.pool_documents, drain_timeout_s=args.drain_timeout,
        served_model_name=args.served_model_name or args.model,
    )


def run_serve(args: argparse.Namespace, model_kwargs: Callable[[argparse.Namespace], dict[str, Any]]) -> int:
    settings = settings_from_args(args)
    settings.check_bind()  # before minutes of model loading
    try:
        # lazy: the serve extra is optional, and these are heavy
        from ..reranker import Reranker
        from .server import serve
    except ImportError as exc:
        raise ServeExtraMissingError(f"{EXTRA_MISSING} ({exc})") from exc
    factory = partial(Reranker.from_pretrained, args.model, **model_kwargs(args))
    logger.info("serving on http://%s:%d (model %s loads in the background; /health says when it is ready)",
                settings.host, settings.port, args.model)
    level = "debug" if args.verbose else "warning" if args.quiet else "info"
    return serve(factory, settings, log_level=level)
