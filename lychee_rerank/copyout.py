"""The chosen results' original files copied (or hard-linked) into a folder the user names, with a manifest.

* File names are kept (the last part of the result's name); a name already taken, on disk or
  earlier in this run, gets a numbered suffix (``a_2.jpg``): nothing is ever overwritten, each copy
  is created exclusively (``O_EXCL``) so even a file that appears meanwhile is safe.
* ``how="copy"`` (default) copies bytes and the modification time; ``"link"`` makes hard links,
  which need the same filesystem: checked for every file before the first one is written.
* Originals are only read. Results that are not local files (uploads, zip members), not scored,
  or the same bytes as another result are skipped, with why. A partly written copy (disk full) is removed.
* ``lychee-copied.csv`` (numbered like the copies when it exists) lists what was copied from where.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .errors import InvalidSettingError, OutputFolderError
from .outfiles import check_writable, numbered
from .results import RankResult
from .safe_text import csv_cell, file_name

logger = logging.getLogger(__name__)

HOWS = ("copy", "link")
MANIFEST_NAME = "lychee-copied.csv"
MANIFEST_COLUMNS = ("copied_to", "source", "name", "rank", "score", "how")


@dataclass
class CopyReport:
    """What was copied (or, in a dry run, would be) and what was skipped."""

    copied: list[tuple[Path, Path]] = field(default_factory=list)  # (source, destination)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    manifest: Path | None = None
    dry_run: bool = False

    def lines(self) -> list[str]:
        """One line per file and per skip, then a summary (for a terminal)."""
        verb = "would copy" if self.dry_run else "copied"
        out = [f"{verb} {source} -> {dest}" for source, dest in self.copied]
        out += [f"skipped {name}: {why}" for name, why in self.skipped]
        where = f"; manifest {self.manifest}" if self.manifest else ""
        out.append(f"{verb} {len(self.copied)} file(s), {len(self.skipped)} skipped{where}")
        return out


def copy_out(
    results: Iterable[RankResult], folder: str | os.PathLike[str], *, how: str = "copy",
    names: Mapping[int, str] | None = None, groups: Mapping[int, str] | None = None, dry_run: bool = False,
) -> CopyReport:
    """Copy (or hard-link) each result's original file into ``folder``, never overwriting; write the manifest.

    ``names`` gives a result (by input index) another file name, e.g. its group's name for a main
    image; ``groups`` adds a ``group`` column to the manifest. Raises OutputFolderError, with
    nothing written, when the folder cannot be written or a hard link would cross filesystems.
    """
    if how not in HOWS:
        raise InvalidSettingError(f"copy mode {how!r}: use one of {', '.join(HOWS)}")
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputFolderError(f"{folder} is a file, not a folder: name a folder to copy into")
    report = CopyReport(dry_run=dry_run)
    chosen = _choose(results, report)
    if dry_run:
        taken: set[str] = set(os.listdir(folder)) if folder.is_dir() else set()
        report.copied = [(Path(r.path), folder / _free(_wanted(r, names), taken)) for r in chosen]
        return report
    folder.mkdir(parents=True, exist_ok=True)
    check_writable([folder], "copy the results", "Name a folder you can write to")
    if how == "link":
        _check_same_filesystem(chosen, folder)
    rows = [_copy_one(r, folder, _wanted(r, names), how, report, groups) for r in chosen]
    report.manifest = _write_manifest(folder, rows, groups is not None)
    return report


def _choose(results: Iterable[RankResult], report: CopyReport) -> list[RankResult]:
    chosen = []
    for result in results:
        if not result.path or not os.path.isfile(result.path):
            report.skipped.append((result.name, "not a local file (an upload or a zip member)"))
        elif not result.ok:
            report.skipped.append((result.name, f"not scored ({result.parse_method})"))
        elif result.duplicate_of is not None:
            report.skipped.append((result.name, "the same bytes as another result, copied once"))
        else:
            chosen.append(result)
    return chosen


def _wanted(result: RankResult, names: Mapping[int, str] | None) -> str:
    name = (names or {}).get(result.index) or PurePosixPath(result.name.replace("\\", "/")).name
    return file_name(name).replace("/", "_") or "image"


def _free(name: str, taken: set[str]) -> str:
    number = 1
    while numbered(name, number) in taken:
        number += 1
    taken.add(numbered(name, number))
    return numbered(name, number)


def _check_same_filesystem(chosen: list[RankResult], folder: Path) -> None:
    device = folder.stat().st_dev
    elsewhere = [r.path for r in chosen if os.stat(r.path).st_dev != device]
    if elsewhere:
        raise OutputFolderError(f"hard links need the same filesystem: {elsewhere[0]} (and {len(elsewhere) - 1} more)"
                                f" is on another one than {folder}; nothing was written. Copy instead, or choose a"
                                " folder on the same disk")


def _copy_one(result: RankResult, folder: Path, name: str, how: str, report: CopyReport,
              groups: Mapping[int, str] | None) -> dict:
    source = Path(result.path)
    number = 1
    while True:  # the first free name, taken exclusively: never a file that exists, even one made meanwhile
        dest = folder / numbered(name, number)
        try:
            _link(source, dest) if how == "link" else _copy(source, dest)
            break
        except FileExistsError:
            number += 1
    report.copied.append((source, dest))
    logger.info("%s %s -> %s", how, source, dest)
    row = {"copied_to": dest.name, "source": str(source), "name": result.name, "rank": result.rank,
           "score": round(result.score, 4), "how": how}
    return {**row, "group": groups.get(result.index, "")} if groups is not None else row


def _link(source: Path, dest: Path) -> None:
    os.link(source, dest)


def _copy(source: Path, dest: Path) -> None:
    with open(source, "rb") as reader, open(dest, "xb") as writer:
        try:
            shutil.copyfileobj(reader, writer, 1024 * 1024)
        except BaseException:
            dest.unlink(missing_ok=True)  # never leave a partial copy under a real name
            raise
    shutil.copystat(source, dest)


def _write_manifest(folder: Path, rows: list[dict], with_group: bool) -> Path:
    columns = (*MANIFEST_COLUMNS, "group") if with_group else MANIFEST_COLUMNS
    number = 1
    while True:
        path = folder / numbered(MANIFEST_NAME, number)
        try:
            with open(path, "x", encoding="utf-8-sig", newline="") as stream:
                writer = csv.DictWriter(stream, fieldnames=columns)
                writer.writeheader()
                writer.writerows({key: csv_cell(value) for key, value in row.items()} for row in rows)
            return path
        except FileExistsError:
            number += 1
