"""Uploaded bytes kept on disk instead of in memory: a run's uploads, written to a private temporary folder.

The app's kept runs ("recent runs", a reloaded page's results, "use the images uploaded for the last
run") would otherwise hold every upload's bytes in the server's memory for as long as the run is
kept; with the files here, a kept run holds paths. Readers are plain :class:`~.inputs.FileOpener`
objects, so the inputs also cross to the app's model process as paths.

* The folder is made by :mod:`tempfile` (mode 0700, under ``TMPDIR``) and named with the server's
  process id. It is deleted when its :class:`Spool` is dropped (the run that owns it is forgotten)
  or when the process exits normally.
* A server that stops deletes its folders as it shuts down (:func:`delete_own_folders`, from the app's
  lifespan: uvicorn ends on SIGTERM by raising the signal again, so no exit handler would run).
* A server that was killed cannot delete its folders: the first spool of the next server deletes
  the folders whose process is gone (:func:`sweep_orphans`).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from ..errors import UploadSpoolError
from ..settings import MAX_FILE_BYTES
from .inputs import FileOpener

logger = logging.getLogger(__name__)

PREFIX = "lychee-rerank-uploads-"
_OWNED = re.compile(re.escape(PREFIX) + r"(\d+)-")
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}$")


class Spool:
    """One run's uploads on disk; the folder goes when the last reference to this object does."""

    def __init__(self) -> None:
        sweep_orphans_once()
        try:
            self._folder = tempfile.TemporaryDirectory(prefix=f"{PREFIX}{os.getpid()}-")
        except OSError as exc:
            raise _spool_error(exc, tempfile.gettempdir()) from exc
        self.path = Path(self._folder.name)
        self.bytes = 0
        self._count = 0

    def write(self, name: str, data: bytes) -> Path:
        """Write one upload under a numbered file name (the display name stays with its input)."""
        self._count += 1
        suffix = _SUFFIX.search(name)
        path = self.path / f"{self._count:05d}{suffix.group(0).lower() if suffix else ''}"
        try:
            path.write_bytes(data)
        except OSError as exc:
            raise _spool_error(exc, str(self.path.parent)) from exc
        self.bytes += len(data)
        return path

    def opener(self, name: str, data: bytes, cap: int = MAX_FILE_BYTES) -> FileOpener:
        """A reader of ``data`` once written here."""
        return FileOpener(self.write(name, data), cap)

    def zip_opener(self, name: str, data: bytes) -> functools.partial[zipfile.ZipFile]:
        """Opens the uploaded zip ``data`` from its file here."""
        return functools.partial(zipfile.ZipFile, self.write(name, data))

    def close(self) -> None:
        """Delete the folder now (it is also deleted when this object is dropped)."""
        self._folder.cleanup()


def _spool_error(exc: OSError, folder: str) -> UploadSpoolError:
    return UploadSpoolError(f"could not keep the uploads on disk in {folder} ({exc.strerror or exc}); "
                            "free some space there, or start the app with TMPDIR set to a folder with room")


def sweep_orphans(folder: str | None = None) -> int:
    """Delete the upload folders that servers which have ended left in ``folder`` (default: the temp folder); how
    many were deleted. Only this user's folders, and only those whose process is gone."""
    if os.name != "posix":
        return 0  # os.kill(pid, 0) would end the process on Windows, not test it
    root = Path(folder or tempfile.gettempdir())
    deleted = 0
    for entry in root.glob(f"{PREFIX}*"):
        owner = _OWNED.match(entry.name)
        if owner is None or not entry.is_dir() or entry.is_symlink() or entry.stat().st_uid != os.getuid():
            continue
        if _alive(int(owner.group(1))):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        deleted += 1
    if deleted:
        logger.info("deleted %d upload folder(s) left in %s by servers that ended", deleted, root)
    return deleted


def delete_own_folders(folder: str | None = None) -> int:
    """Delete every upload folder of this process (the server is stopping); how many."""
    own = list(Path(folder or tempfile.gettempdir()).glob(f"{PREFIX}{os.getpid()}-*"))
    for entry in own:
        shutil.rmtree(entry, ignore_errors=True)
    return len(own)


@functools.cache
def sweep_orphans_once() -> int:
    return sweep_orphans()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours to judge
    return True
