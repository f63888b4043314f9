"""One image the user gave, before decoding, and the small helpers every source shares.

An :class:`ImageInput` holds exactly one of: bytes, a PIL image, a lazy opener
(a disk file or zip member, read only when the image is prepared), or a
``problem`` saying why the item could not be taken (the decoder turns it into
a placeholder, so every item the user gave shows up in the results).

* API items (paths, bytes, ``(name, bytes)`` pairs, PIL images) become inputs
  with :func:`as_input`; a path is read lazily and capped at
  :data:`~lychee_rerank.settings.MAX_FILE_BYTES`.
* Reads are capped while reading (:func:`read_capped`), so a file that grows
  after it was listed still cannot exhaust memory.
* Only regular files are read, checked on the opened file itself (:func:`open_regular`): a pipe,
  socket or device (or a link swapped for one after the folder was listed) is refused at once,
  never waited on; a folder's file must still be inside that folder when it is opened.
* Digests identify identical images: :func:`bytes_digest` for encoded bytes,
  :func:`image_digest` for a PIL image the caller passed in.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from PIL import Image

from ..errors import TooManyImagesError
from ..settings import IMAGE_EXTENSIONS, MAX_FILE_BYTES

logger = logging.getLogger(__name__)

SKIPPED_FOLDERS = frozenset({"__MACOSX", "@eaDir"})  # macOS resource forks, Synology thumbnails
_CHUNK = 1024 * 1024
URL_PROBLEM = "URLs are not fetched: download the images and give local paths"
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+://")  # a scheme of two letters or more: never a drive letter


@dataclass(frozen=True)
class ImageInput:
    """One image the user gave, not yet decoded.

    Exactly one of ``data``, ``image`` or ``opener`` holds the content;
    ``opener`` reads the bytes lazily (disk files, zip members) so 500 inputs
    are not all held in memory at once. ``problem`` (set instead of content)
    says why this item could not be taken; the decoder makes it a placeholder.
    """

    name: str
    path: str | None = None
    data: bytes | None = None
    image: Image.Image | None = None
    opener: Callable[[], bytes] | None = None
    problem: str | None = None

    def read_bytes(self) -> bytes:
        """The raw bytes (reads the file or zip member now for lazy inputs)."""
        if self.data is not None:
            return self.data
        if self.opener is not None:
            return self.opener()
        if self.problem is not None:
            raise ValueError(f"{self.name}: {self.problem}")
        raise ValueError(f"{self.name} holds a decoded image, not bytes")


# ---------------------------------------------------------------- API items


def as_input(item: Any, index: int) -> ImageInput:
    """Turn one API item (path, bytes, (name, bytes), PIL image, ImageInput) into an ImageInput."""
    if isinstance(item, ImageInput):
        return item
    if isinstance(item, str) and looks_like_url(item):
        return ImageInput(name=item.rstrip("/").rsplit("/", 1)[-1] or item, path=item, problem=URL_PROBLEM)
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        return ImageInput(name=path.name, path=str(path), opener=file_opener(path))
    if isinstance(item, (bytes, bytearray, memoryview)):
        return ImageInput(name=f"image_{index + 1}", data=bytes(item))
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], (bytes, bytearray)):
        return ImageInput(name=str(item[0]), data=bytes(item[1]))
    if isinstance(item, Image.Image):
        name = Path(getattr(item, "filename", "") or f"image_{index + 1}").name
        return ImageInput(name=name, image=item)
    raise TypeError(
        f"image #{index + 1} is a {type(item).__name__}; pass a file path, bytes, "
        "a (name, bytes) pair or a PIL image"
    )


def looks_like_url(text: str) -> bool:
    """Whether ``text`` is a URL (``https://...``, ``s3://...``) rather than a local path."""
    return bool(_URL.match(text.strip()))


def as_inputs(items: Iterable[Any]) -> list[ImageInput]:
    """Convert the API's mixed image items, keeping their order."""
    return [as_input(item, i) for i, item in enumerate(items)]


def problem_input(name: str, reason: str, path: str | None = None) -> ImageInput:
    """An input that will become a placeholder saying ``reason`` (logged now)."""
    logger.info("%s: %s", name, reason)
    return ImageInput(name=name, path=path, problem=reason)


def check_image_count(found: int, max_images: int, where: str) -> None:
    """Raise TooManyImagesError when ``found`` exceeds ``max_images``."""
    if found > max_images:
        raise TooManyImagesError(
            f"found {found} images in {where}, more than the limit of {max_images} per run; "
            f"raise the limit (max_images={found}, or --max-images {found} on the command line) "
            "or pass a smaller folder"
        )


# ---------------------------------------------------------------- reading


def read_capped(stream: IO[bytes], cap: int) -> bytes:
    """Read ``stream`` in chunks; raise OSError(EFBIG) as soon as more than ``cap`` bytes arrive."""
    chunks: list[bytes] = []
    total = 0
    while chunk := stream.read(_CHUNK):
        total += len(chunk)
        if total > cap:
            raise OSError(errno.EFBIG, f"larger than the {human_size(cap)} limit per file")
        chunks.append(chunk)
    return b"".join(chunks)


class RefusedFileError(OSError):
    """A file we will not read (a pipe, socket or device; a link that now leads outside its folder).

    ``strerror`` is the whole sentence to show the user.
    """


def file_kind(mode: int) -> str:
    """What a non-regular file is, for the user: 'a pipe (FIFO)', 'a socket', 'a device'."""
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def special_file_problem(mode: int) -> str:
    """Why a pipe, socket or device is not read: waiting on it could stall the run for ever."""
    return f"not read: {file_kind(mode)}, not a regular file (only regular image files are read)"


def open_regular(path: str | os.PathLike[str], inside: str | None = None) -> BinaryIO:
    """Open ``path`` for reading only if it is a regular file (and, given ``inside``, a file inside that folder).

    The check is made on the opened file itself, so a link swapped after it was listed cannot get past it.
    The open never blocks: a FIFO opened non-blocking returns at once and is refused. Raises
    RefusedFileError, IsADirectoryError or the OSError of the open.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder", str(path))
        if not stat.S_ISREG(mode):
            raise RefusedFileError(errno.EINVAL, special_file_problem(mode), str(path))
        if inside is not None:
            _check_inside(fd, path, inside)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _check_inside(fd: int, path: str | os.PathLike[str], root: str) -> None:
    """Refuse an opened file that is not inside ``root`` (a link changed after the folder was listed)."""
    proc_link = f"/proc/self/fd/{fd}"
    real = os.readlink(proc_link) if os.path.islink(proc_link) else os.path.realpath(path)
    if os.path.commonpath([real, root]) != root:
        raise RefusedFileError(errno.EACCES, f"not read: it now leads outside the folder (to {real})", str(path))


@dataclass(frozen=True)
class FileOpener:
    """Reads a file when called (regular files only, see :func:`open_regular`), at most ``cap`` bytes. A class, not a
    closure: it pickles, so a folder's inputs reach the app's model process as paths, not as their bytes."""

    path: Path
    cap: int = MAX_FILE_BYTES
    inside: str | None = None

    def __call__(self) -> bytes:
        with open_regular(self.path, self.inside) as stream:
            return read_capped(stream, self.cap)


def file_opener(path: Path, cap: int = MAX_FILE_BYTES, inside: str | None = None) -> Callable[[], bytes]:
    """A lazy reader of ``path``: opens the file only when called, at most ``cap`` bytes."""
    return FileOpener(path, cap, inside)


# ---------------------------------------------------------------- digests


def bytes_digest(data: bytes) -> str:
    """SHA-256 hex of encoded image bytes: equal files share it."""
    return hashlib.sha256(data).hexdigest()


def image_digest(image: Image.Image) -> str:
    """SHA-256 hex of a decoded image's mode, size and pixels: equal PIL images share it."""
    return hashlib.sha256(f"{image.mode}{image.size}".encode() + image.tobytes()).hexdigest()


# ---------------------------------------------------------------- names and order


def natural_key(text: str) -> tuple[tuple[int, Any], ...]:
    """Sort key where digit runs compare as numbers: img2 < img10 (case-insensitive)."""
    parts = re.split(r"(\d+)", text)
    return tuple((1, int(part)) if i % 2 else (0, part.casefold()) for i, part in enumerate(parts))


def path_key(parts: tuple[str, ...]) -> tuple[Any, ...]:
    """Sort key of a relative path: natural order folder by folder, the plain path breaking ties."""
    return tuple(natural_key(part) for part in parts), "/".join(parts)


def human_size(size: int) -> str:
    """A byte count for people: '512 bytes', '1.5 MiB'."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def is_image_name(name: str) -> bool:
    """Whether ``name`` ends in one of the image extensions (any case)."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def is_hidden(name: str) -> bool:
    """Hidden files/folders (``.name``) and the junk folders macOS and NAS boxes add."""
    return name.startswith(".") or name in SKIPPED_FOLDERS
