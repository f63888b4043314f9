"""Paths the user gave (files, folders, zips) expanded into ImageInputs, in a stable order.

Rules (see DESIGN.md §4):

* Files named explicitly are always included, whatever their extension (a
  ``notes.txt`` becomes a placeholder saying it is not an image).
* Folders are walked recursively; only :data:`~lychee_rerank.settings.IMAGE_EXTENSIONS`
  (any case) are taken; hidden files/folders (``.name``), ``__MACOSX`` and
  ``@eaDir`` are skipped; symlinks are followed only when they stay inside the
  folder; order is a natural sort of the relative path (``img2`` before
  ``img10``); names are relative paths with ``/``. Zips inside a folder are not
  opened (only a zip given explicitly is, see :mod:`.zips`).
* Problems with one item (broken or escaping symlink, unlistable subfolder,
  missing file, a pipe, socket or device with an image name, or a link to one)
  become inputs with ``problem`` set, so every item the user gave shows up in
  the results. Neutral facts (how many non-image files were skipped) are in
  :attr:`CollectedInputs.notes` and the log.
* Only regular files are ever opened, checked again on the opened file
  (:func:`~.inputs.open_regular`), so nothing can block a run; a folder's file
  must still lie inside the folder when it is read.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import NoImagesError
from ..settings import DEFAULT_MAX_IMAGES, IMAGE_EXTENSIONS, MAX_FILE_BYTES, ZIP_EXTENSION
from .inputs import (
    ImageInput,
    check_image_count,
    file_opener,
    is_hidden,
    is_image_name,
    path_key,
    problem_input,
    special_file_problem,
)
from .zips import ZipLimits, zip_from_path

logger = logging.getLogger(__name__)

# Indirection so tests can simulate an unreadable folder even when running as root.
_scandir = os.scandir

_Stack = list[tuple[Path, tuple[str, ...]]]


@dataclass
class CollectedInputs:
    """The inputs found, in order, plus notes about what was skipped on purpose."""

    inputs: list[ImageInput] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[ImageInput]:
        """Inputs that will become placeholders (collection-stage problems)."""
        return [item for item in self.inputs if item.problem is not None]


def collect_paths(
    paths: Iterable[str | os.PathLike[str]],
    *,
    max_images: int = DEFAULT_MAX_IMAGES,
    zip_limits: ZipLimits | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> list[ImageInput]:
    """Expand files, folders (recursively) and .zip files into ImageInputs, in a stable order.

    Raises NoImagesError when nothing is found, TooManyImagesError above ``max_images``.
    Use :func:`collect_inputs` to also get the notes about skipped files.
    """
    return collect_inputs(paths, max_images=max_images, zip_limits=zip_limits, max_file_bytes=max_file_bytes).inputs


def collect_inputs(
    paths: Iterable[str | os.PathLike[str]],
    *,
    max_images: int = DEFAULT_MAX_IMAGES,
    zip_limits: ZipLimits | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> CollectedInputs:
    """Like :func:`collect_paths`, returning the inputs and the collection notes."""
    paths = list(paths)
    limits = zip_limits or ZipLimits(max_member_bytes=max_file_bytes)
    result = CollectedInputs()
    for raw in paths:
        _collect_one(Path(raw), result, limits, max_file_bytes)
    for note in result.notes:
        logger.info("%s", note)
    where = ", ".join(map(str, paths)) or "(no paths given)"
    if not result.inputs:
        raise NoImagesError(
            f"no images found in {where} (looked for {', '.join(sorted(IMAGE_EXTENSIONS))}, "
            "any case; hidden files are skipped)"
        )
    check_image_count(len(result.inputs), max_images, where)
    return result


def _collect_one(path: Path, result: CollectedInputs, limits: ZipLimits, max_file_bytes: int) -> None:
    """Add what one command-line path stands for."""
    name = path.name or str(path)
    try:
        if path.is_dir():
            _walk_folder(path, result, max_file_bytes)
        elif path.is_file() and path.suffix.lower() == ZIP_EXTENSION:
            result.inputs.extend(zip_from_path(path, limits, result.notes))
        elif path.is_file():
            result.inputs.append(ImageInput(name=name, path=str(path), opener=file_opener(path, max_file_bytes)))
        elif not os.path.lexists(path):
            result.inputs.append(problem_input(name, "file not found", str(path)))
        elif not path.exists():
            result.inputs.append(problem_input(name, "broken symlink: its target does not exist", str(path)))
        else:
            result.inputs.append(problem_input(name, special_file_problem(path.stat().st_mode), str(path)))
    except OSError as exc:
        result.inputs.append(problem_input(name, f"cannot access: {exc.strerror or exc}", str(path)))


def _walk_folder(root: Path, result: CollectedInputs, max_file_bytes: int) -> None:
    """Collect images under ``root`` (natural order of relative paths)."""
    real_root = os.path.realpath(root)
    found: list[tuple[tuple[str, ...], ImageInput]] = []
    counts = {"non-image": 0, "hidden": 0, "zip": 0}
    stack: _Stack = [(root, ())]
    while stack:
        folder, rel = stack.pop()
        try:
            with _scandir(folder) as listing:
                entries = list(listing)
        except OSError as exc:
            label = "/".join(rel) + "/" if rel else root.name + "/"
            reason = f"could not list this folder ({exc.strerror or exc}); images in it were not ranked"
            found.append((rel, problem_input(label, reason, str(folder))))
            continue
        for entry in entries:
            parts = rel + (entry.name,)
            if is_hidden(entry.name):
                counts["hidden"] += 1
                continue
            item = _folder_entry(entry, parts, real_root, stack, counts, result.notes, max_file_bytes)
            if item is not None:
                found.append((parts, item))
    found.sort(key=lambda pair: path_key(pair[0]))
    result.inputs.extend(item for _, item in found)
    _count_notes(root, counts, result.notes)


def _folder_entry(
    entry: os.DirEntry[str],
    parts: tuple[str, ...],
    real_root: str,
    stack: _Stack,
    counts: dict[str, int],
    notes: list[str],
    max_file_bytes: int,
) -> ImageInput | None:
    """What one directory entry contributes: an input, a subfolder to walk, or nothing."""
    name = "/".join(parts)
    try:
        if entry.is_symlink():
            return _symlink_entry(entry, name, real_root, counts, notes, max_file_bytes)
        if entry.is_dir(follow_symlinks=False):
            stack.append((Path(entry.path), parts))
            return None
        regular = entry.is_file(follow_symlinks=False)
        if not regular and is_image_name(entry.name):  # a pipe, socket or device named like an image
            return problem_input(name, special_file_problem(entry.stat(follow_symlinks=False).st_mode), entry.path)
    except OSError as exc:
        return problem_input(name, f"cannot access: {exc.strerror or exc}", entry.path)
    if regular and is_image_name(entry.name):
        return ImageInput(name=name, path=entry.path, opener=file_opener(Path(entry.path), max_file_bytes, real_root))
    counts["zip" if entry.name.lower().endswith(ZIP_EXTENSION) else "non-image"] += 1
    return None


def _symlink_entry(
    entry: os.DirEntry[str], name: str, real_root: str, counts: dict[str, int], notes: list[str], max_file_bytes: int
) -> ImageInput | None:
    """Follow a symlink only when its target stays inside the walked folder."""
    target = os.path.realpath(entry.path)
    inside = os.path.commonpath([target, real_root]) == real_root
    is_image = is_image_name(entry.name)
    if os.path.isdir(target):
        where = "points outside the folder" if not inside else "its files are reached through the real folder"
        notes.append(f"did not follow symlinked folder {name} ({where})")
        return None
    if not is_image:
        counts["non-image"] += 1
        return None
    if not inside:
        return problem_input(name, f"not read: symlink points outside the folder (to {target})", entry.path)
    if not os.path.exists(target):
        return problem_input(name, "broken symlink: its target does not exist", entry.path)
    mode = os.stat(target).st_mode
    if not stat.S_ISREG(mode):
        return problem_input(name, special_file_problem(mode), entry.path)
    return ImageInput(name=name, path=entry.path, opener=file_opener(Path(entry.path), max_file_bytes, real_root))


def _count_notes(root: Path, counts: dict[str, int], notes: list[str]) -> None:
    if counts["non-image"]:
        notes.append(f"{root}: skipped {counts['non-image']} non-image file(s)")
    if counts["hidden"]:
        notes.append(f"{root}: skipped {counts['hidden']} hidden file(s)/folder(s)")
    if counts["zip"]:
        notes.append(f"{root}: did not open {counts['zip']} zip file(s) inside the folder; pass them explicitly")
