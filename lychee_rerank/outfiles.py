"""Checks and names shared by everything that writes beside or out of the user's images (sidecars, copies).

Nothing here ever replaces a file: names are found free and then created exclusively, so a file
that appears meanwhile is never overwritten.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import OutputFolderError


def check_writable(folders: Iterable[Path], doing: str, fix: str) -> None:
    """Create and remove a probe file in each folder (the real test: permissions, read-only mounts, ACLs);
    raise OutputFolderError naming every folder that refused, before anything is written."""
    refused = []
    for folder in sorted(set(folders)):
        try:
            fd, probe = tempfile.mkstemp(prefix=".lychee-probe-", dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            refused.append(f"{folder} ({exc.strerror or exc})")
    if refused:
        raise OutputFolderError(f"cannot {doing} in {', '.join(refused)}; nothing was written. {fix}")


def numbered(name: str, number: int) -> str:
    """``name`` with a clash number before its extension: ``("a.jpg", 2)`` -> ``a_2.jpg``; 1 is the name itself."""
    if number == 1:
        return name
    stem, dot, ext = name.rpartition(".")
    return f"{stem}_{number}.{ext}" if dot and stem else f"{name}_{number}"
