"""Zip archives, from disk or uploaded, read member by member and never extracted.

* Only members with an image extension are taken; hidden members (``.name``,
  ``__MACOSX``, ``@eaDir``) and folders are skipped, with a count in the notes.
* A member is named ``archive.zip/sub/a.png``; its ``path`` is
  ``/abs/archive.zip!sub/a.png`` (None for uploads). Members are in the natural
  order of their paths. Legacy zips that stored UTF-8 names without the flag
  are repaired.
* Zip bombs are refused: the member count and declared sizes are checked up
  front (:class:`ZipLimits`), and every member's bytes are capped while reading.
* The central directory is read once per archive: the archive stays open (one
  file handle, closed when its last member input is dropped) and each member is
  read from it by its ``ZipInfo``, so reading N members costs N reads, not N
  parses of the directory. A zip on disk is opened only if it is a regular file.
* A corrupt or refused zip gives one problem input named after it; an unsafe
  member name (``../x``, ``/x``, ``C:x``) or an encrypted member gives a problem
  input of its own.
"""

from __future__ import annotations

import os
import re
import threading
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..settings import MAX_FILE_BYTES, MAX_ZIP_BYTES, MAX_ZIP_MEMBERS
from .inputs import (
    ImageInput,
    human_size,
    is_hidden,
    is_image_name,
    open_regular,
    path_key,
    problem_input,
    read_capped,
)

_UTF8_FLAG = 0x800  # general-purpose bit 11: the name is UTF-8
_ENCRYPTED_FLAG = 0x1


@dataclass(frozen=True)
class ZipLimits:
    """Caps that refuse zip bombs; raise them for trusted archives."""

    max_total_bytes: int = MAX_ZIP_BYTES
    max_members: int = MAX_ZIP_MEMBERS
    max_member_bytes: int = MAX_FILE_BYTES


def zip_from_path(path: Path, limits: ZipLimits, notes: list[str]) -> list[ImageInput]:
    """The image members of the zip file at ``path`` (see :func:`zip_inputs`)."""
    return zip_inputs(path.name, lambda: zipfile.ZipFile(open_regular(path)), limits, notes, disk_path=str(path))


def zip_inputs(
    label: str,
    open_zip: Callable[[], zipfile.ZipFile],
    limits: ZipLimits,
    notes: list[str],
    *,
    disk_path: str | None = None,
) -> list[ImageInput]:
    """The image members of one zip as lazy inputs named ``label/member``; never extracts.

    A corrupt or refused zip gives one problem input named ``label``.
    """
    try:
        archive = open_zip()
        infos = archive.infolist()
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError, OSError) as exc:
        return [problem_input(label, f"corrupt zip file ({exc})", disk_path)]
    candidates = [info for info in infos if not info.is_dir()]
    refusal = _zip_refusal(len(infos), [info for info in candidates if is_image_name(info.filename)], limits)
    if refusal:
        archive.close()
        return [problem_input(label, refusal, disk_path)]
    shared = _SharedArchive(archive, open_zip, disk_path)
    found: list[tuple[tuple[str, ...], ImageInput]] = []
    skipped = 0
    for info in candidates:
        item = _zip_member(label, shared, info, limits, disk_path)
        if item is None:
            skipped += 1
        else:
            found.append(item)
    found.sort(key=lambda pair: path_key(pair[0]))
    if skipped:
        notes.append(f"{label}: skipped {skipped} non-image or hidden member(s)")
    if not found:
        notes.append(f"{label}: no images inside")
    return [item for _, item in found]


def _zip_refusal(entries: int, images: list[zipfile.ZipInfo], limits: ZipLimits) -> str | None:
    """Why a zip is refused as a possible zip bomb (declared sizes), or None."""
    if entries > limits.max_members:
        return (
            f"refused zip: {entries} entries, over the limit of {limits.max_members} "
            "(raise ZipLimits.max_members if you trust it)"
        )
    total = sum(info.file_size for info in images)
    if total > limits.max_total_bytes:
        return (
            f"refused zip: its images would unpack to {human_size(total)}, over the "
            f"{human_size(limits.max_total_bytes)} limit (possible zip bomb; raise ZipLimits.max_total_bytes "
            "if you trust it)"
        )
    return None


def _member_name(info: zipfile.ZipInfo) -> str:
    """Member name with '/' separators; legacy zips storing UTF-8 without the flag are repaired."""
    name = info.filename
    if not info.flag_bits & _UTF8_FLAG:
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name.replace("\\", "/")


def _unsafe_name(name: str) -> bool:
    return name.startswith("/") or bool(re.match(r"^[A-Za-z]:", name)) or ".." in name.split("/")


def _zip_member(
    label: str,
    archive: _SharedArchive,
    info: zipfile.ZipInfo,
    limits: ZipLimits,
    disk_path: str | None,
) -> tuple[tuple[str, ...], ImageInput] | None:
    """One member as (sort parts, input), or None when it is skipped on purpose."""
    member = _member_name(info)
    parts = tuple(part for part in member.split("/") if part not in ("", "."))
    name = "/".join((label,) + parts)
    path = f"{disk_path}!{member}" if disk_path else None
    if _unsafe_name(member):
        return parts, problem_input(f"{label}/{member}", f"refused: unsafe path inside the zip ({member!r})", path)
    if any(is_hidden(part) for part in parts) or not is_image_name(member):
        return None
    if info.flag_bits & _ENCRYPTED_FLAG:
        return parts, problem_input(name, "encrypted zip member (password-protected): cannot be read", path)
    if info.file_size > limits.max_member_bytes:
        reason = f"refused: zip member would unpack to {human_size(info.file_size)}, over the per-file limit"
        return parts, problem_input(name, reason, path)
    opener = archive.opener(info, limits.max_member_bytes)
    return parts, ImageInput(name=name, path=path, opener=opener)


class _SharedArchive:
    """One open archive whose members are read by ``ZipInfo``: its central directory was parsed once, at listing.

    Reads take turns (one file position). A zip on disk that changed since (another size, time or file) is
    opened and parsed again, and one that is gone is reported as gone, as a fresh open would. The file
    closes when the last opener holding it is dropped.
    """

    def __init__(self, archive: zipfile.ZipFile, reopen: Callable[[], zipfile.ZipFile], disk_path: str | None):
        self._archive = archive
        self._reopen = reopen
        self._path = disk_path
        self._stamp = _stamp(disk_path)
        self._reopened = False
        self._lock = threading.Lock()

    def opener(self, info: zipfile.ZipInfo, cap: int) -> Callable[[], bytes]:
        """Read ``info``'s member on demand, at most ``cap`` bytes, with zip errors as OSError."""

        def read() -> bytes:
            try:
                with self._lock:
                    archive = self._current()
                    with archive.open(archive.getinfo(info.filename) if self._reopened else info) as stream:
                        return read_capped(stream, cap)
            except KeyError as exc:
                raise OSError(f"no longer in the zip: {exc}") from exc
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
                raise OSError(f"corrupt or unsupported zip member: {exc}") from exc

        return read

    def _current(self) -> zipfile.ZipFile:
        stamp = _stamp(self._path)
        if stamp != self._stamp:
            self._archive.close()
            self._archive, self._stamp, self._reopened = self._reopen(), stamp, True
        return self._archive

    def __del__(self) -> None:
        self._archive.close()


def _stamp(disk_path: str | None) -> tuple[int, int, int] | None:
    """What tells a changed file on disk: its inode, size and modification time (None for in-memory zips)."""
    if disk_path is None:
        return None
    info = os.stat(disk_path)
    return info.st_ino, info.st_size, info.st_mtime_ns
