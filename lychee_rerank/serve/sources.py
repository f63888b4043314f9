"""An image reference from a request turned into bytes, safely: inline data, a URL, or a server path.

* ``data:`` URIs and bare base64 are decoded (bytes that are not an image become a warned result later).
* ``http(s)`` URLs are refused unless the service allows them; then each fetch is capped in size and time,
  never goes through a proxy, and refuses private, loopback, link-local and other non-global addresses -
  checked on the resolved name *and* on the address actually connected to (a name re-pointed between
  the two checks cannot slip through), for every redirect hop.
* Server paths (``file://...`` or a plain path) are refused unless the service has a root; then they are
  resolved (symlinks followed) and must lie inside that root, checked again on the opened file.

A source the service refuses raises :class:`ForbiddenSourceError` (403); a source that merely fails
(not found, HTTP 404, too slow, not base64) becomes an :class:`ImageInput` with ``problem`` set, so the
document is a warned result. An image larger than the pixel limit raises :class:`LimitExceededError`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import ipaddress
import socket
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import httpx
from PIL import Image
from starlette.concurrency import run_in_threadpool

from ..intake import ImageInput, header_size
from ..intake.inputs import file_opener
from ..intake.sniff import pillow_warnings
from ..settings import MAX_DECODE_PIXELS
from .config import MAX_REDIRECTS
from .errors import ForbiddenSourceError, LimitExceededError

IMAGE_SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"BM", b"II*\x00", b"MM\x00*", b"\x00\x00\x00")
LONG_BASE64 = 256  # a longer valid base64 string is inline data even without an image signature
URLS_REFUSED = "image URLs are refused by this server (it was started without --allow-urls)"
PATHS_REFUSED = "server paths are refused by this server (it was started without --allow-path ROOT)"


@dataclass(frozen=True)
class SourcePolicy:
    """What the service lets an image reference be, and the caps on fetching it."""

    allow_urls: bool
    allow_path: Path | None
    max_fetch_bytes: int
    fetch_timeout_s: float
    max_image_pixels: int
    allow_private_urls: bool = False


async def load_image(reference: str, name: str, policy: SourcePolicy, client: httpx.AsyncClient | None) -> ImageInput:
    """The image ``reference`` points at as an ImageInput holding its bytes (or a ``problem``), named ``name``."""
    text = reference.strip()
    lowered = text[:16].lower()
    if lowered.startswith("data:"):
        source = _data_uri(text, name)
    elif lowered.startswith(("http://", "https://")):
        if not policy.allow_urls or client is None:
            raise ForbiddenSourceError(f"{name}: {URLS_REFUSED}")
        source = await _fetch(text, name, policy, client)
    elif lowered.startswith("file://") or (_looks_like_path(text) and not _inline_base64(text)):
        if policy.allow_path is None:
            raise ForbiddenSourceError(f"{name}: {PATHS_REFUSED}")
        source = await run_in_threadpool(_read_path, text, name, policy)
    elif "://" in lowered:
        raise ForbiddenSourceError(f"{name}: only data:, base64, http(s) and file references are understood")
    else:
        source = _base64(text, name)
    check_pixels(source, policy.max_image_pixels)
    return source


def check_pixels(source: ImageInput, limit: int) -> None:
    """Refuse an image whose header declares more than ``limit`` pixels (before anything decodes it)."""
    if source.data is None:
        return
    size = header_size(source)
    if size is not None and size[0] * size[1] > limit:
        described = f"{size[0]}x{size[1]} = {size[0] * size[1]} pixels"
    elif size is None and _declares_a_bomb(source.data):
        described = "larger than Pillow will open"
    else:
        return
    raise LimitExceededError(f"{source.name}: the image is {described}, over this server's limit of {limit} pixels "
                             "per image", limit="max_image_pixels", value=limit)


def _declares_a_bomb(data: bytes) -> bool:
    """Whether Pillow refuses to even open ``data`` for its declared size (the header reader then gives no size)."""
    try:
        with pillow_warnings(MAX_DECODE_PIXELS), Image.open(io.BytesIO(data)):
            return False
    except Image.DecompressionBombError:
        return True
    except Exception:  # noqa: BLE001 - any other unreadable image is the decoder's to warn about
        return False


# ---------------------------------------------------------------- inline data


def _data_uri(text: str, name: str) -> ImageInput:
    header, comma, payload = text.partition(",")
    if not comma:
        return ImageInput(name=name, problem="not a valid data: URI (no comma before the data)")
    if header.lower().endswith(";base64"):
        return _base64(payload, name)
    return ImageInput(name=name, data=urllib.parse.unquote_to_bytes(payload))


def _base64(text: str, name: str) -> ImageInput:
    try:
        return ImageInput(name=name, data=_decode_base64(text))
    except (binascii.Error, ValueError) as exc:
        return ImageInput(name=name, problem=f"not valid base64 image data ({exc})")


def _decode_base64(text: str) -> bytes:
    compact = "".join(text.split())
    if "-" in compact or "_" in compact:
        return base64.urlsafe_b64decode(compact + "=" * (-len(compact) % 4))
    return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)


def _inline_base64(text: str) -> bool:
    """Base64 of an image (JPEG's starts with ``/9j/``, so a leading slash alone does not make a path)."""
    try:
        data = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    return len(text) > LONG_BASE64 or data.startswith(IMAGE_SIGNATURES)


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "./", "../", "~")) or "/" in text or "\\" in text or "." in text[-6:]


# ---------------------------------------------------------------- server paths


def _read_path(text: str, name: str, policy: SourcePolicy) -> ImageInput:
    root = policy.allow_path.resolve()  # type: ignore[union-attr] - checked by the caller
    given = urllib.parse.unquote(urllib.parse.urlsplit(text).path) if text.lower().startswith("file://") else text
    candidate = Path(given)
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        resolved = candidate.resolve()  # symlinks followed: a link inside the root to a file outside is outside
    except (OSError, ValueError) as exc:  # a NUL byte, a name too long, a loop of links
        return ImageInput(name=name, problem=f"not a usable path ({exc})")
    if not resolved.is_relative_to(root):
        raise ForbiddenSourceError(f"{name}: {text!r} is outside the folder this server may read (--allow-path)")
    try:
        data = file_opener(resolved, policy.max_fetch_bytes, inside=str(root))()
    except FileNotFoundError:
        return ImageInput(name=name, problem="no such file under the server's folder")
    except OSError as exc:
        return ImageInput(name=name, problem=f"cannot be read ({exc.strerror or exc})")
    return ImageInput(name=name, data=data)


# ---------------------------------------------------------------- URLs


async def _fetch(url: str, name: str, policy: SourcePolicy, client: httpx.AsyncClient) -> ImageInput:
    try:
        data = await asyncio.wait_for(_fetch_bytes(url, name, policy, client), timeout=policy.fetch_timeout_s)
    except asyncio.TimeoutError:
        return ImageInput(name=name, problem=f"fetching the URL took longer than {policy.fetch_timeout_s:g} s")
    except httpx.HTTPError as exc:
        return ImageInput(name=name, problem=f"fetching the URL failed ({type(exc).__name__}: {exc})")
    if isinstance(data, str):
        return ImageInput(name=name, problem=data)
    return ImageInput(name=name, data=data)


async def _fetch_bytes(url: str, name: str, policy: SourcePolicy, client: httpx.AsyncClient) -> bytes | str:
    """The body at ``url`` (following up to MAX_REDIRECTS redirects), or why not as a string."""
    for _ in range(MAX_REDIRECTS + 1):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ForbiddenSourceError(f"{name}: only http and https URLs with a host are fetched")
        if not policy.allow_private_urls:
            problem = await _check_host(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), name)
            if problem:
                return problem
        async with client.stream("GET", url) as response:
            if not policy.allow_private_urls:
                _check_peer(response, name)
            if response.is_redirect:
                url = urllib.parse.urljoin(url, response.headers.get("location", ""))
                continue
            if response.status_code != 200:
                return f"fetching the URL answered HTTP {response.status_code}"
            declared = int(response.headers.get("content-length") or 0)
            if declared > policy.max_fetch_bytes:
                return f"the image at the URL is {declared} bytes, over the {policy.max_fetch_bytes}-byte limit"
            chunks, total = [], 0
            async for chunk in response.aiter_bytes():
                total += len(chunk)
                if total > policy.max_fetch_bytes:
                    return f"the image at the URL is over the {policy.max_fetch_bytes}-byte limit"
                chunks.append(chunk)
            return b"".join(chunks)
    return f"more than {MAX_REDIRECTS} redirects"


async def _check_host(host: str, port: int, name: str) -> str | None:
    """Refuse a host that is, or resolves to, a non-global address; None when it may be fetched."""
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        _refuse_private(literal, name)
        return None
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        return f"the URL's host cannot be resolved ({exc})"
    for info in infos:
        _refuse_private(ipaddress.ip_address(info[4][0].split("%")[0]), name)
    return None


def _check_peer(response: httpx.Response, name: str) -> None:
    stream = response.extensions.get("network_stream")
    address = stream.get_extra_info("server_addr") if stream is not None else None
    if not address:
        raise ForbiddenSourceError(f"{name}: the address the URL connected to cannot be checked; refused")
    _refuse_private(ipaddress.ip_address(str(address[0]).split("%")[0]), name)


def _refuse_private(address: ipaddress.IPv4Address | ipaddress.IPv6Address, name: str) -> None:
    mapped = getattr(address, "ipv4_mapped", None)
    effective = mapped or address
    if not effective.is_global or effective.is_multicast:
        raise ForbiddenSourceError(
            f"{name}: the URL leads to {effective}, a private, loopback, link-local or reserved address; "
            "this server fetches only from public addresses"
        )
