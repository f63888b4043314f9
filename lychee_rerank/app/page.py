"""Page helpers: the app's choices, where a run's images come from, which cards show, thumbnails."""

from __future__ import annotations

import io
import ipaddress
import math
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LycheeRerankError, NoImagesError
from ..intake import ImageInput, Spool, collect_inputs, generation_of, inputs_from_uploads, natural_key, prepare_image
from ..results import RankResult
from ..scoring.query import normalize_query
from ..settings import DEMO_ALIAS, DEMO_EXAMPLES_DIR, DEMO_MODEL_DIR, PARSE_SKIPPED
from .cards import format_score

INSTRUCTION_PRESET_NAMES = ("default", "product", "design", "generated")
TOP_K_CHOICES = ("all", 3, 5, 10, 20, 50, 100)
CARDS_PER_PAGE = 60
GRID_COLUMNS = (3, 4, 5, 6)
DEMO_QUERY = "a red circle"
LIVE_CARDS, LIVE_COLUMNS = 12, 6  # the grid that fills in during a run: two rows of small cards
END_CHECK_S = 5.0  # the page's own check that a run ended (the live view's feed normally says so first)
SORT_ORDERS = ("score", "name")
MARK_FILTERS = ("all", "picks", "no_rejects", "warnings")
THUMBNAIL_SIDE = 384


# The results' controls are the user's settings: Streamlit forgets a widget's value during a run that
# does not draw it (the controls are hidden while a run goes on), so they are kept apart and put back.
RESULT_CONTROLS = ("threshold", "top_k", "columns", "sort", "mark_filter", "group_by", "stack")
_KEPT_CONTROLS = "lr_kept_controls"


def keep_result_controls(state: MutableMapping[str, Any]) -> None:
    """Call first thing on every run: remember the results' controls, or put them back when forgotten."""
    kept = state.setdefault(_KEPT_CONTROLS, {})
    for key in RESULT_CONTROLS:
        if key in state:
            kept[key] = state[key]
        elif key in kept:
            state[key] = kept[key]


# Choices whose labels are translated: the browser sends back the label it shows, which after a
# language switch matches no option of the other language, and Streamlit falls back to the default.
TRANSLATED_CHOICES = ("mode", "dtype", "pixels", "batch", "preset", "doc_kind", "top_k", "sort", "mark_filter",
                      "group_by")
_KEPT = "lr_kept_choices"


def keep_choices_across_languages(state: MutableMapping[str, Any], lang: str) -> None:
    """Call first thing on every run: on a language switch, put back the choices made before it.

    Remembers the current choices (and the language) for the next run; only a run whose language
    differs from the last one restores them, so a choice changed in the same language always stands.
    """
    kept = state.get(_KEPT)
    if kept is not None and kept["lang"] != lang:
        for key, value in kept["values"].items():
            state[key] = value
    values = {key: state[key] for key in TRANSLATED_CHOICES if key in state}
    state[_KEPT] = {"lang": lang, "values": values}


def short_query(text: str | None, limit: int = 28) -> str:
    """A query cut for a one-line label."""
    clean = " ".join((text or "").split())
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def duration_text(lang: str, seconds: float) -> str:
    """'12 秒' / '1 分 5 秒' in Chinese, '12 s' / '1 min 5 s' in English (rounded up to whole seconds)."""
    whole = max(1, math.ceil(seconds))
    minutes, rest = divmod(whole, 60)
    if lang == "zh":
        return f"{minutes} 分 {rest} 秒" if minutes else f"{rest} 秒"
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


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


MODELS_ENV = "LYCHEE_MODELS"


def operator_models(environ: Mapping[str, str]) -> list[str]:
    """The models a server shared on a network offers: ``LYCHEE_MODELS`` (comma-separated), else
    ``LYCHEE_MODEL``, else the demo. Visitors choose among these; they never type a path."""
    listed = [model.strip() for model in environ.get(MODELS_ENV, "").split(",") if model.strip()]
    return listed or [environ.get("LYCHEE_MODEL", "").strip() or DEMO_ALIAS]


def model_display_name(model: str) -> str:
    """A model as a visitor sees it: a local folder by its name only (its place on the server stays private)."""
    path = Path(model).expanduser()
    return path.name if path.is_absolute() or path.exists() else model


def query_is_empty(text: str | None) -> bool:
    return not normalize_query(text or "")


def texts_from_lines(text: str | None) -> list[str]:
    """The candidate texts pasted one per line (blank lines skipped)."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def visible_results(
    results: Sequence[RankResult], threshold: float, top_k: int | str, decimals: int = 1
) -> list[RankResult]:
    """The cards to show: scored or failed images (not skipped) at or above the threshold, then the top K.

    The threshold compares the score as the card shows it (``decimals``): 9.99 shows as 10.0 and passes 10.0.
    """
    shown = [
        r for r in results
        if r.parse_method != PARSE_SKIPPED and float(format_score(r.score, decimals)) >= threshold - 1e-9
    ]
    if top_k != "all":
        shown = shown[: int(top_k)]
    return shown


def filter_by_mark(results: Sequence[RankResult], marks: Mapping[int, str], how: str) -> list[RankResult]:
    """``all``, ``picks`` (marked pick), ``no_rejects`` (hide those marked reject) or ``warnings`` (only warned)."""
    keep = {
        "picks": lambda r: marks.get(r.index) == "pick",
        "no_rejects": lambda r: marks.get(r.index) != "reject",
        "warnings": lambda r: bool(r.warning),
    }.get(how, lambda r: True)
    return [r for r in results if keep(r)]


def score_decimals(results: Sequence[RankResult]) -> int:
    """1, or 2 where one decimal would show different scores alike (and so hide the order)."""
    by_text: dict[str, float] = {}
    for result in results:
        if result.parse_method == PARSE_SKIPPED:
            continue
        seen = by_text.setdefault(format_score(result.score), result.score)
        if seen != result.score:
            return 2
    return 1


def sorted_for_grid(results: Sequence[RankResult], order: str) -> list[RankResult]:
    """The cards in the order the user picked: by score (the ranking) or by name (natural order)."""
    if order == "name":
        return sorted(results, key=lambda r: (natural_key(r.name), r.index))
    return list(results)


def load_demo_examples(state: MutableMapping[str, Any]) -> None:
    """The demo banner's button: the bundled examples as the folder, and a query the demo understands."""
    state["query"] = DEMO_QUERY
    state["doc_kind"] = "images"
    state["folder"] = str(DEMO_EXAMPLES_DIR)


def is_demo(model: str, path: str | None) -> bool:
    """Whether the loaded model is the bundled demo (by its alias or its folder)."""
    return model.strip() == DEMO_ALIAS or (path is not None and Path(path).resolve() == DEMO_MODEL_DIR.resolve())


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


@dataclass
class Sources:
    """A run's images: all of them, the part that came from uploads, and notes on what a folder skipped."""

    inputs: list[ImageInput]
    uploaded: list[ImageInput] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


TYPED, OWN, MIX = "typed", "own", "mix"  # where each image's query comes from
QUERY_SOURCES = (TYPED, OWN, MIX)
PROMPT_PROBE = 64  # inputs read to decide whether to offer "each image's own prompt"


def any_prompt(uploads: Sequence[tuple[str, bytes]], folder: str | None, limit: int = PROMPT_PROBE) -> bool:
    """Whether some of the first ``limit`` images carry a generation prompt (the own-prompt choice is offered then)."""
    try:
        sources = inputs_from_sources(uploads, folder)
    except LycheeRerankError:
        return False
    return any(info is not None and info.prompt for info in map(generation_of, sources.inputs[:limit]))


def query_needed(query_source: str) -> bool:
    """Only the typed query needs text: own prompts score without one (a typed one then scores the rest)."""
    return query_source == TYPED


def inputs_from_sources(
    uploads: Sequence[tuple[str, bytes]], folder: str | None, reused: Sequence[ImageInput] = (),
    spool: Spool | None = None,
) -> Sources:
    """Uploaded files (zips expanded; or a previous run's uploads, ``reused``) and a local folder, in that order.
    Given a ``spool``, the uploads' bytes are written there (the inputs read them back)."""
    uploaded = list(reused) + (inputs_from_uploads(list(uploads), spool=spool) if uploads else [])
    sources = Sources(inputs=list(uploaded), uploaded=uploaded)
    if folder:
        problem = folder_problem(folder)
        if problem is not None:
            what = "is a file, not a folder" if problem[0] == "folder_is_file" else "no such folder"
            raise NoImagesError(f"{folder}: {what}")
        collected = collect_inputs([Path(folder).expanduser()])
        sources.inputs.extend(collected.inputs)
        sources.notes.extend(collected.notes)
    if not sources.inputs:
        raise NoImagesError("no images given: upload images or give a local folder")
    return sources


def make_thumbnail(item: ImageInput | None, side: int = THUMBNAIL_SIDE) -> bytes:
    """A small JPEG of an input, read by the same safe loader as scoring (a grey placeholder if unreadable)."""
    item = item or ImageInput(name="missing", data=b"")
    # Decode at twice the thumbnail's area at most: JPEG drafts keep this fast for big photos.
    image = prepare_image(item, max_pixels=4 * side * side).image.copy()
    image.thumbnail((side, side))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=82)
    return out.getvalue()
