"""Page helpers: the app's choices, where a run's images come from, which cards show, thumbnails."""

from __future__ import annotations

import io
import ipaddress
from collections.abc import Sequence
from pathlib import Path

from ..errors import NoImagesError
from ..intake import ImageInput, collect_paths, inputs_from_uploads, prepare_image
from ..results import RankResult
from ..scoring.query import normalize_query
from ..settings import PARSE_SKIPPED
from .cards import format_score

INSTRUCTION_PRESET_NAMES = ("default", "product", "design", "generated")
TOP_K_CHOICES = ("all", 3, 5, 10, 20, 50, 100)
CARDS_PER_PAGE = 60
THUMBNAIL_SIDE = 384


def chosen_instruction(preset: str | None, custom: str | None) -> str:
    """The custom instruction when one is typed, else the preset's name (resolved by the scorer)."""
    return (custom or "").strip() or preset or "default"


def is_localhost(address: str | None) -> bool:
    """True when the server listens on a loopback address only (unset means all interfaces)."""
    if not address:
        return False
    if address.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def query_is_empty(text: str | None) -> bool:
    return not normalize_query(text or "")


def texts_from_lines(text: str | None) -> list[str]:
    """The candidate texts pasted one per line (blank lines skipped)."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def visible_results(results: Sequence[RankResult], threshold: float, top_k: int | str) -> list[RankResult]:
    """The cards to show: scored or failed images (not skipped) at or above the threshold, then the top K.

    The threshold compares the score as the card shows it (one decimal): 9.99 shows as 10.0 and passes 10.0.
    """
    shown = [r for r in results if r.parse_method != PARSE_SKIPPED and float(format_score(r.score)) >= threshold - 1e-9]
    if top_k != "all":
        shown = shown[: int(top_k)]
    return shown


def clean_folder(text: str | None) -> str:
    """A folder path as typed or pasted: surrounding spaces and quotes (as file managers copy them) removed."""
    path = (text or "").strip()
    while len(path) >= 2 and path[0] == path[-1] and path[0] in "\"'":
        path = path[1:-1].strip()
    return path


def folder_problem(folder: str) -> tuple[str, str] | None:
    """(UI text key, path) saying what is wrong with a typed folder, or None when it is a folder."""
    path = Path(folder).expanduser()
    if path.is_dir():
        return None
    return ("folder_is_file", folder) if path.exists() else ("folder_missing", folder)


def inputs_from_sources(uploads: Sequence[tuple[str, bytes]], folder: str | None) -> list[ImageInput]:
    """Uploaded files (zips expanded) and a local folder, in that order."""
    inputs: list[ImageInput] = []
    if uploads:
        inputs.extend(inputs_from_uploads(list(uploads)))
    if folder:
        problem = folder_problem(folder)
        if problem is not None:
            what = "is a file, not a folder" if problem[0] == "folder_is_file" else "no such folder"
            raise NoImagesError(f"{folder}: {what}")
        inputs.extend(collect_paths([Path(folder).expanduser()]))
    if not inputs:
        raise NoImagesError("no images given: upload images or give a local folder")
    return inputs


def make_thumbnail(item: ImageInput | None, side: int = THUMBNAIL_SIDE) -> bytes:
    """A small JPEG of an input, read by the same safe loader as scoring (a grey placeholder if unreadable)."""
    item = item or ImageInput(name="missing", data=b"")
    # Decode at twice the thumbnail's area at most: JPEG drafts keep this fast for big photos.
    image = prepare_image(item, max_pixels=4 * side * side).image.copy()
    image.thumbnail((side, side))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=82)
    return out.getvalue()
