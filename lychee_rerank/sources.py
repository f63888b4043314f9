"""Where images come from: API items, files, folders, zips and uploads, as ImageInput.

Rules (see DESIGN.md §4):

* Files named explicitly are always included, whatever their extension (a
  ``notes.txt`` becomes a placeholder saying it is not an image).
* Folders are walked recursively; only :data:`IMAGE_EXTENSIONS` (any case) are
  taken; hidden files/folders (``.name``), ``__MACOSX`` and ``@eaDir`` are
  skipped; symlinks are followed only when they stay inside the folder;
  order is a natural sort of the relative path (``img2`` before ``img10``);
  names are relative paths with ``/``.
* A path or upload ending ``.zip`` is read member by member, never extracted.
  A member is named ``archive.zip/sub/a.png``; its ``path`` is
  ``/abs/archive.zip!sub/a.png`` (None for uploads). Zip bombs are refused
  (declared sizes and member count checked up front, bytes capped while reading).
* Problems with one item found while collecting (unsafe zip member name,
  broken or escaping symlink, unlistable subfolder, corrupt or refused zip,
  missing file) become inputs with ``problem`` set: the loader turns them into
  placeholders, so every item the user gave shows up in the results.
  Neutral facts (how many non-image files were skipped) are in
  :attr:`CollectedInputs.notes` and the log.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, Iterable

from PIL import Image

from .errors import NoImagesError, TooManyImagesError

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {
        ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".apng", ".webp", ".bmp", ".gif",
        ".tif", ".tiff", ".heic", ".heif", ".avif",
    }
)
ZIP_EXTENSION = ".zip"
SKIPPED_FOLDERS = frozenset({"__MACOSX", "@eaDir"})

DEFAULT_MAX_IMAGES = 1_000
MAX_FILE_BYTES = 512 * 1024**2  # one file or zip member
DEFAULT_MAX_ZIP_BYTES = 2 * 1024**3  # total uncompressed image bytes in one zip
DEFAULT_MAX_ZIP_MEMBERS = 10_000
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ImageInput:
    """One image the user gave, not yet decoded.

    Exactly one of ``data``, ``image`` or ``opener`` holds the content;
    ``opener`` reads the bytes lazily (disk files, zip members) so 500 inputs
    are not all held in memory at once. ``problem`` (set instead of content)
    says why this item could not be taken; the loader makes it a placeholder.
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


@dataclass(frozen=True)
class ZipLimits:
    """Caps that refuse zip bombs; raise them for trusted archives."""

    max_total_bytes: int = DEFAULT_MAX_ZIP_BYTES
    max_members: int = DEFAULT_MAX_ZIP_MEMBERS
    max_member_bytes: int = MAX_FILE_BYTES


@dataclass
class CollectedInputs:
    """The inputs found, in order, plus notes about what was skipped on purpose."""

    inputs: list[ImageInput] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[ImageInput]:
        """Inputs that will become placeholders (collection-stage problems)."""
        return [item for item in self.inputs if item.problem is not None]


# ---------------------------------------------------------------- small helpers


def natural_key(text: str) -> tuple[tuple[int, Any], ...]:
    """Sort key where digit runs compare as numbers: img2 < img10 (case-insensitive)."""
    parts = re.split(r"(\d+)", text)
    return tuple((1, int(part)) if i % 2 else (0, part.casefold()) for i, part in enumerate(parts))


def _path_key(parts: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(natural_key(part) for part in parts), "/".join(parts)


def _human(size: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024  # type: ignore[assignment]
    return str(size)


def _is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name in SKIPPED_FOLDERS


def read_capped(stream: IO[bytes], cap: int) -> bytes:
    """Read ``stream`` in chunks; raise OSError(EFBIG) as soon as more than ``cap`` bytes arrive."""
    chunks: list[bytes] = []
    total = 0
    while chunk := stream.read(_CHUNK):
        total += len(chunk)
        if total > cap:
            raise OSError(errno.EFBIG, f"larger than the {_human(cap)} limit per file")
        chunks.append(chunk)
    return b"".join(chunks)


def _file_opener(path: Path, cap: int = MAX_FILE_BYTES) -> Callable[[], bytes]:
    def read() -> bytes:
        with open(path, "rb") as stream:
            return read_capped(stream, cap)

    return read


def _problem(name: str, reason: str, path: str | None = None) -> ImageInput:
    logger.info("%s: %s", name, reason)
    return ImageInput(name=name, path=path, problem=reason)


# ---------------------------------------------------------------- API items


def as_input(item: Any, index: int) -> ImageInput:
    """Turn one API item (path, bytes, (name, bytes), PIL image, ImageInput) into an ImageInput."""
    if isinstance(item, ImageInput):
        return item
    if isinstance(item, (str, os.PathLike)):
        path = Path(item)
        return ImageInput(name=path.name, path=str(path), opener=_file_opener(path))
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


def as_inputs(items: Iterable[Any]) -> list[ImageInput]:
    """Convert the API's mixed image items, keeping their order."""
    return [as_input(item, i) for i, item in enumerate(items)]


# ---------------------------------------------------------------- paths


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


def check_image_count(found: int, max_images: int, where: str) -> None:
    """Raise TooManyImagesError when ``found`` exceeds ``max_images``."""
    if found > max_images:
        raise TooManyImagesError(
            f"found {found} images in {where}, more than the limit of {max_images} per run; "
            f"raise the limit (max_images={found}, or --max-images {found} on the command line) "
            "or pass a smaller folder"
        )


def _collect_one(path: Path, result: CollectedInputs, limits: ZipLimits, max_file_bytes: int) -> None:
    """Add what one command-line path stands for."""
    name = path.name or str(path)
    try:
        if path.is_dir():
            _walk_folder(path, result, max_file_bytes)
        elif path.is_file() and path.suffix.lower() == ZIP_EXTENSION:
            result.inputs.extend(_zip_from_path(path, limits, result.notes))
        elif path.is_file():
            result.inputs.append(ImageInput(name=name, path=str(path), opener=_file_opener(path, max_file_bytes)))
        elif path.is_symlink():
            result.inputs.append(_problem(name, "broken symlink: its target does not exist", str(path)))
        elif not path.exists():
            result.inputs.append(_problem(name, "file not found", str(path)))
        else:
            result.inputs.append(_problem(name, "not a regular file (device, pipe or socket)", str(path)))
    except OSError as exc:
        result.inputs.append(_problem(name, f"cannot access: {exc.strerror or exc}", str(path)))


# Indirection so tests can simulate an unreadable folder even when running as root.
_scandir = os.scandir


def _walk_folder(root: Path, result: CollectedInputs, max_file_bytes: int) -> None:
    """Collect images under ``root`` (natural order of relative paths)."""
    real_root = os.path.realpath(root)
    found: list[tuple[tuple[str, ...], ImageInput]] = []
    counts = {"non-image": 0, "hidden": 0, "zip": 0}
    stack: list[tuple[Path, tuple[str, ...]]] = [(root, ())]
    while stack:
        folder, rel = stack.pop()
        try:
            with _scandir(folder) as listing:
                entries = list(listing)
        except OSError as exc:
            label = "/".join(rel) + "/" if rel else root.name + "/"
            reason = f"could not list this folder ({exc.strerror or exc}); images in it were not ranked"
            found.append((rel, _problem(label, reason, str(folder))))
            continue
        for entry in entries:
            parts = rel + (entry.name,)
            if _is_hidden(entry.name):
                counts["hidden"] += 1
                continue
            item = _folder_entry(entry, parts, real_root, stack, counts, result.notes, max_file_bytes)
            if item is not None:
                found.append((parts, item))
    found.sort(key=lambda pair: _path_key(pair[0]))
    result.inputs.extend(item for _, item in found)
    _count_notes(root, counts, result.notes)


def _folder_entry(
    entry: os.DirEntry[str],
    parts: tuple[str, ...],
    real_root: str,
    stack: list[tuple[Path, tuple[str, ...]]],
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
        if not entry.is_file(follow_symlinks=False):
            return None
    except OSError as exc:
        return _problem(name, f"cannot access: {exc.strerror or exc}", entry.path)
    if _is_image_name(entry.name):
        return ImageInput(name=name, path=entry.path, opener=_file_opener(Path(entry.path), max_file_bytes))
    counts["zip" if entry.name.lower().endswith(ZIP_EXTENSION) else "non-image"] += 1
    return None


def _symlink_entry(
    entry: os.DirEntry[str], name: str, real_root: str, counts: dict[str, int], notes: list[str], max_file_bytes: int
) -> ImageInput | None:
    """Follow a symlink only when its target stays inside the walked folder."""
    target = os.path.realpath(entry.path)
    inside = os.path.commonpath([target, real_root]) == real_root
    is_image = _is_image_name(entry.name)
    if os.path.isdir(target):
        where = "points outside the folder" if not inside else "its files are reached through the real folder"
        notes.append(f"did not follow symlinked folder {name} ({where})")
        return None
    if not is_image:
        counts["non-image"] += 1
        return None
    if not inside:
        return _problem(name, f"not read: symlink points outside the folder (to {target})", entry.path)
    if not os.path.exists(target):
        return _problem(name, "broken symlink: its target does not exist", entry.path)
    return ImageInput(name=name, path=entry.path, opener=_file_opener(Path(entry.path), max_file_bytes))


def _count_notes(root: Path, counts: dict[str, int], notes: list[str]) -> None:
    if counts["non-image"]:
        notes.append(f"{root}: skipped {counts['non-image']} non-image file(s)")
    if counts["hidden"]:
        notes.append(f"{root}: skipped {counts['hidden']} hidden file(s)/folder(s)")
    if counts["zip"]:
        notes.append(f"{root}: did not open {counts['zip']} zip file(s) inside the folder; pass them explicitly")


# ---------------------------------------------------------------- zips


def _zip_from_path(path: Path, limits: ZipLimits, notes: list[str]) -> list[ImageInput]:
    return zip_inputs(path.name, lambda: zipfile.ZipFile(path), limits, notes, disk_path=str(path))


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
        with open_zip() as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, NotImplementedError) as exc:
        return [_problem(label, f"corrupt zip file ({exc})", disk_path)]
    candidates = [(i, info) for i, info in enumerate(infos) if not info.is_dir()]
    refusal = _zip_refusal(len(infos), [info for _, info in candidates if _is_image_name(info.filename)], limits)
    if refusal:
        return [_problem(label, refusal, disk_path)]
    found: list[tuple[tuple[str, ...], ImageInput]] = []
    skipped = 0
    for index, info in candidates:
        item = _zip_member(label, open_zip, index, info, limits, disk_path)
        if item is None:
            skipped += 1
        else:
            found.append(item)
    found.sort(key=lambda pair: _path_key(pair[0]))
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
            f"refused zip: its images would unpack to {_human(total)}, over the {_human(limits.max_total_bytes)} "
            "limit (possible zip bomb; raise ZipLimits.max_total_bytes if you trust it)"
        )
    return None


def _member_name(info: zipfile.ZipInfo) -> str:
    """Member name with '/' separators; legacy zips storing UTF-8 without the flag are repaired."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name.replace("\\", "/")


def _unsafe_name(name: str) -> bool:
    return name.startswith("/") or bool(re.match(r"^[A-Za-z]:", name)) or ".." in name.split("/")


def _zip_member(
    label: str,
    open_zip: Callable[[], zipfile.ZipFile],
    index: int,
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
        return parts, _problem(f"{label}/{member}", f"refused: unsafe path inside the zip ({member!r})", path)
    if any(_is_hidden(part) for part in parts) or not _is_image_name(member):
        return None
    if info.flag_bits & 0x1:
        return parts, _problem(name, "encrypted zip member (password-protected): cannot be read", path)
    if info.file_size > limits.max_member_bytes:
        reason = f"refused: zip member would unpack to {_human(info.file_size)}, over the per-file limit"
        return parts, _problem(name, reason, path)
    opener = _member_opener(open_zip, index, limits.max_member_bytes)
    return parts, ImageInput(name=name, path=path, opener=opener)


def _member_opener(open_zip: Callable[[], zipfile.ZipFile], index: int, cap: int) -> Callable[[], bytes]:
    """Read member ``index`` on demand, at most ``cap`` bytes, with zip errors as OSError."""

    def read() -> bytes:
        try:
            with open_zip() as archive, archive.open(archive.infolist()[index]) as stream:
                return read_capped(stream, cap)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
            raise OSError(f"corrupt or unsupported zip member: {exc}") from exc

    return read


# ---------------------------------------------------------------- uploads


def inputs_from_uploads(
    files: list[tuple[str, bytes]],
    *,
    max_images: int = DEFAULT_MAX_IMAGES,
    zip_limits: ZipLimits | None = None,
    max_file_bytes: int = MAX_FILE_BYTES,
) -> list[ImageInput]:
    """Inputs for (filename, bytes) uploads: ``.zip`` uploads expand into their image members.

    Other files are kept whatever their type (the loader says what is wrong with them).
    Raises NoImagesError for no files, TooManyImagesError above ``max_images``.
    """
    limits = zip_limits or ZipLimits(max_member_bytes=max_file_bytes)
    notes: list[str] = []
    inputs: list[ImageInput] = []
    for raw_name, data in files:
        name = _upload_name(raw_name)
        if name.lower().endswith(ZIP_EXTENSION):
            inputs.extend(zip_inputs(name, _bytes_zip(bytes(data)), limits, notes))
        elif len(data) > max_file_bytes:
            inputs.append(_problem(name, f"file too large: over the {_human(max_file_bytes)} limit per file"))
        else:
            inputs.append(ImageInput(name=name, data=bytes(data)))
    for note in notes:
        logger.info("%s", note)
    if not inputs:
        raise NoImagesError("no images were uploaded" if not files else "the uploaded zip files hold no images")
    check_image_count(len(inputs), max_images, "the uploads")
    return inputs


def _bytes_zip(data: bytes) -> Callable[[], zipfile.ZipFile]:
    return lambda: zipfile.ZipFile(io.BytesIO(data))


def _upload_name(raw: str) -> str:
    """A display name for an upload: '/' separators, no drive, no '..' or leading '/'."""
    parts = [part for part in raw.replace("\\", "/").split("/") if part not in ("", ".", "..")]
    if parts and re.match(r"^[A-Za-z]:$", parts[0]):
        parts = parts[1:]
    return "/".join(parts) or "upload"
