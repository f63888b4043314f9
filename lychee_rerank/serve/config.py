"""The service's settings: limits and security switches, with their defaults defined once."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from .errors import UnsafeBindError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_BODY_BYTES = 32 * 1024**2  # a request body; images inline as base64 are ~4/3 of their size
MAX_DOCUMENTS = 1_000  # per request (Cohere's own recommendation)
MAX_IMAGE_PIXELS = 40_000_000  # per image, read from its header before decoding
MAX_FETCH_BYTES = 20 * 1024**2  # one image fetched from a URL or read from a server path
FETCH_TIMEOUT_S = 10.0  # one URL fetch, redirects included
MAX_REDIRECTS = 3
QUEUE_DOCUMENTS = 2_048  # documents admitted and not yet answered; more gets 429
RETRY_AFTER_S = 1
DRAIN_TIMEOUT_S = 30.0  # SIGTERM: how long requests in flight may take to finish
POOL_DOCUMENTS_AUTO = 32  # documents pooled per engine call when batch_size is "auto" (split by its token budget)
MIN_POOL_DOCUMENTS = 8  # a pool of one document per engine call would cost a run set-up per document
LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


@dataclass(frozen=True)
class ServeSettings:
    """What one service process allows; the CLI's flags map onto these one to one."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    api_key: str | None = None
    insecure: bool = False
    allow_urls: bool = False
    allow_private_urls: bool = False  # also fetch from private/loopback addresses (an internal image server)
    allow_path: Path | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    max_documents: int = MAX_DOCUMENTS
    max_image_pixels: int = MAX_IMAGE_PIXELS
    max_fetch_bytes: int = MAX_FETCH_BYTES
    fetch_timeout_s: float = FETCH_TIMEOUT_S
    queue_documents: int = QUEUE_DOCUMENTS
    drain_timeout_s: float = DRAIN_TIMEOUT_S
    pool_documents: int | None = None  # None: from the reranker's batch size
    served_model_name: str | None = None  # None: the model as loaded

    def check_bind(self) -> None:
        """Refuse to listen beyond loopback without an API key, unless ``insecure``."""
        if is_loopback(self.host) or self.api_key or self.insecure:
            return
        raise UnsafeBindError(
            f"refusing to listen on {self.host} without an API key: anyone who can reach it could use the model; "
            "pass --api-key KEY (or set LYCHEE_API_KEY), or --insecure on a network you trust"
        )


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
