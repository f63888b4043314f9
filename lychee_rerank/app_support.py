"""What the Streamlit app needs besides rendering: model handles, the score cache, runs in a
background thread, thumbnails and small display helpers.

Nothing here draws on the page, so all of it can be tested without Streamlit running.

How a run works: ``Job.start`` runs ``Reranker.rank`` in a daemon thread. Its
``on_progress`` callback writes the count, the latest result and a thumbnail into
the job; the page polls the job from an ``st.fragment(run_every=...)``; the Stop
button sets an event that ``should_stop`` reads between images. One process-wide
lock (``Engine.run_lock``) lets one run use the GPU at a time: a job that finds
it taken shows "queued" and waits, still stoppable.
"""

from __future__ import annotations

import hashlib
import html
import io
import ipaddress
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence


from . import sources
from .errors import LycheeRerankError, NoImagesError
from .images import load_image
from .query import normalize_query
from .results import PARSE_SKIPPED, RankResult
from .score_parser import parse_score

# --- settings ----------------------------------------------------------------------

MODES = ("auto", "yesno", "generate")
DTYPES = ("auto", "bfloat16", "float16", "float32")
# Qwen2.5-VL counts pixels in 28x28 patches: 256 / 640 / 1280 patches per image.
PIXEL_PRESETS = {"fast": 256 * 28 * 28, "balanced": 640 * 28 * 28, "detailed": 1280 * 28 * 28}
DEFAULT_PIXEL_PRESET = "balanced"
PRESET_NAMES = ("default", "product", "design", "generated")
UPLOAD_TYPES = ("jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff", "heic", "heif", "avif", "zip")
TOP_K_CHOICES = ("all", 3, 5, 10, 20, 50, 100)
CARDS_PER_PAGE = 60
THUMBNAIL_SIDE = 384


@dataclass(frozen=True)
class Settings:
    """The settings that change scores: part of the score cache key."""

    model: str
    dtype: str = "auto"
    mode: str = "auto"
    max_pixels: int = PIXEL_PRESETS[DEFAULT_PIXEL_PRESET]
    batch_size: int = 1


# --- display helpers ------------------------------------------------------------------

BAND_COLOURS = {"low": "#808080", "mid": "#1E88E5", "high": "#2E7D32"}


def score_band(score: float) -> str:
    """'low' below 6, 'mid' from 6 to below 8, 'high' from 8."""
    if score >= 8:
        return "high"
    if score >= 6:
        return "mid"
    return "low"


def band_colour(score: float) -> str:
    return BAND_COLOURS[score_band(score)]


def esc(text: Any) -> str:
    """HTML-escape anything for use in element text or a quoted attribute; newlines become spaces."""
    return html.escape(str(text), quote=True).replace("\n", " ").replace("\r", " ")


def highlight_score_html(raw_output: str, parse_method: str) -> str:
    """The raw model output escaped; in generate mode the text the score was read from is in <mark>."""
    if not raw_output:
        return ""
    if parse_method not in ("primary", "fallback"):
        return html.escape(raw_output)
    matched = parse_score(raw_output).matched
    at = raw_output.find(matched) if matched else -1
    if at < 0:
        return html.escape(raw_output)
    end = at + len(matched)
    return f"{html.escape(raw_output[:at])}<mark>{html.escape(matched)}</mark>{html.escape(raw_output[end:])}"


def format_score(score: float) -> str:
    return f"{score:.1f}"


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


def visible_results(results: Sequence[RankResult], threshold: float, top_k: int | str) -> list[RankResult]:
    """The cards to show: scored or failed images (not skipped) at or above the threshold, then the top K."""
    shown = [r for r in results if r.parse_method != PARSE_SKIPPED and r.score >= threshold - 1e-9]
    if top_k != "all":
        shown = shown[: int(top_k)]
    return shown


# --- thumbnails ------------------------------------------------------------------------

def make_thumbnail(item: sources.ImageInput | None, side: int = THUMBNAIL_SIDE) -> bytes:
    """A small JPEG of an input, read by the same safe loader as scoring (a grey placeholder if unreadable)."""
    item = item or sources.ImageInput(name="missing", data=b"")
    # Decode at twice the thumbnail's area at most: JPEG drafts keep this fast for big photos.
    image = load_image(item, max_pixels=4 * side * side).image.copy()
    image.thumbnail((side, side))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=82)
    return out.getvalue()


# --- model handles ---------------------------------------------------------------------

class ModelHandle:
    """One loaded model and the Reranker variants (mode, pixels, batch size) that share it."""

    def __init__(self, base: Any, dtype: str):
        self.base = base
        self.dtype = dtype
        self._variants: dict[tuple, Any] = {("auto", base.max_pixels, base.batch_size): base}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, model: str, dtype: str = "auto") -> "ModelHandle":
        from .reranker import Reranker

        return cls(Reranker.from_pretrained(model, dtype=dtype), dtype)

    def variant(self, mode: str, max_pixels: int, batch_size: int) -> Any:
        """A Reranker over the same loaded weights with these settings (no reload)."""
        from .reranker import Reranker

        key = (mode, max_pixels, batch_size)
        with self._lock:
            if key not in self._variants:
                self._variants[key] = Reranker(self.base.loaded, mode=mode, max_pixels=max_pixels, batch_size=batch_size)
            return self._variants[key]

    @property
    def forward_calls(self) -> int:
        """Model calls made by every variant: the tests use it to prove nothing was rescored."""
        with self._lock:
            return sum(r.forward_calls for r in self._variants.values())


# --- the process-wide engine: run lock and score cache -----------------------------------

class ScoreCache:
    """Finished rankings keyed by model, settings, query and image hashes (LRU)."""

    def __init__(self, max_runs: int = 32):
        self.max_runs = max_runs
        self._data: OrderedDict[str, list[RankResult]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(settings: Settings, query: str, instruction: str | None, digests: Sequence[str]) -> str:
        payload = json.dumps(
            {"settings": settings.__dict__, "query": normalize_query(query), "instruction": instruction, "images": list(digests)},
            ensure_ascii=False, sort_keys=True,
        )
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def get(self, key: str) -> list[RankResult] | None:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
            return None

    def put(self, key: str, results: list[RankResult]) -> None:
        with self._lock:
            self._data[key] = list(results)
            self._data.move_to_end(key)
            while len(self._data) > self.max_runs:
                self._data.popitem(last=False)


class Engine:
    """Shared by every browser tab of the process (held by st.cache_resource)."""

    def __init__(self) -> None:
        self.run_lock = threading.Lock()  # one run on the model/GPU at a time
        self.cache = ScoreCache()


# --- inputs ------------------------------------------------------------------------------

def inputs_from_sources(uploads: Sequence[tuple[str, bytes]], folder: str | None) -> list[sources.ImageInput]:
    """Uploaded files (zips expanded) and a local folder, in that order."""
    inputs: list[sources.ImageInput] = []
    if uploads:
        inputs.extend(sources.inputs_from_uploads(list(uploads)))
    if folder:
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise NoImagesError(f"no such folder: {folder}")
        inputs.extend(sources.collect_paths([path]))
    if not inputs:
        raise NoImagesError("no images given: upload images or give a local folder")
    return inputs


def _digest(item: sources.ImageInput) -> str:
    if item.problem:  # a placeholder for an unreadable entry
        return "problem:" + hashlib.sha256(f"{item.name}\0{item.problem}".encode()).hexdigest()
    try:
        if item.image is not None:
            return "pil:" + hashlib.sha256(item.image.tobytes()).hexdigest()
        return hashlib.sha256(item.read_bytes()).hexdigest()
    except Exception:
        return f"unreadable:{item.name}:{time.time_ns()}"  # never a cache hit


# --- a run ---------------------------------------------------------------------------------

PREPARING, QUEUED, RUNNING, DONE, STOPPED, ERROR = "preparing", "queued", "running", "done", "stopped", "error"


@dataclass
class Job:
    """One Run press: inputs, live progress, and the final ranking. Lives in session state."""

    handle: ModelHandle
    engine: Engine
    settings: Settings
    query: str
    instruction: str | None
    uploads: list[tuple[str, bytes]]
    folder: str | None = None
    state: str = PREPARING
    done: int = 0
    total: int = 0
    latest: RankResult | None = None
    results: list[RankResult] | None = None  # best first, when finished
    inputs: list[sources.ImageInput] = field(default_factory=list)
    query_warnings: list[str] = field(default_factory=list)
    error: str | None = None
    cached: bool = False
    forward_calls_at_start: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _finished: threading.Event = field(default_factory=threading.Event, repr=False)
    _thumbs: dict[int, bytes] = field(default_factory=dict, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    # -- control
    def start(self) -> "Job":
        self._thread = threading.Thread(target=self._run, name="lychee-rerank-job", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    @property
    def active(self) -> bool:
        return not self._finished.is_set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set() and self.active

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def scored(self) -> list[RankResult]:
        return [r for r in self.results or [] if r.parse_method != PARSE_SKIPPED]

    # -- the worker thread
    def _run(self) -> None:
        try:
            self.inputs = inputs_from_sources(self.uploads, self.folder)
            self.uploads = []  # the inputs hold the bytes now; do not keep two copies
            self.total = len(self.inputs)
            key = self.engine.cache.key(self.settings, self.query, self.instruction, [_digest(i) for i in self.inputs])
            if self._from_cache(key):
                return
            if not self.engine.run_lock.acquire(blocking=False):
                self.state = QUEUED
                while not self.engine.run_lock.acquire(timeout=0.2):
                    if self._stop.is_set():
                        self.results, self.state = [], STOPPED
                        return
            try:
                if self._from_cache(key):  # another tab may have just scored the same
                    return
                self._score(key)
            finally:
                self.engine.run_lock.release()
        except LycheeRerankError as exc:
            self.error, self.state = str(exc), ERROR
        except Exception as exc:  # shown in the page, never a traceback
            self.error, self.state = f"{type(exc).__name__}: {exc}", ERROR
        finally:
            self.finished = time.monotonic()
            self._finished.set()

    def _from_cache(self, key: str) -> bool:
        hit = self.engine.cache.get(key)
        if hit is None:
            return False
        self.results = [replace(r, name=self.inputs[r.index].name, path=self.inputs[r.index].path) for r in hit]
        self.done, self.cached, self.state = self.total, True, DONE
        return True

    def _score(self, key: str) -> None:
        reranker = self.handle.variant(self.settings.mode, self.settings.max_pixels, self.settings.batch_size)
        self.forward_calls_at_start = self.handle.forward_calls
        self.state = RUNNING

        def on_progress(done: int, total: int, result: RankResult) -> None:
            self.thumbnail(result.index)  # made while the run goes on, so the grid appears at once
            self.latest, self.done, self.total = result, done, total
            if not self._stop.is_set():
                self.state = RUNNING

        def on_wait() -> None:
            self.state = QUEUED

        ranking = reranker.rank(
            self.query, self.inputs, instruction=self.instruction,
            on_progress=on_progress, should_stop=self._stop.is_set, on_wait=on_wait,
        )
        self.query_warnings = list(ranking.warnings)
        self.results = list(ranking)
        if ranking.stopped:
            self.state = STOPPED
        else:
            self.engine.cache.put(key, self.results)
            self.state = DONE

    # -- thumbnails
    def thumbnail(self, index: int) -> bytes:
        if index not in self._thumbs:
            self._thumbs[index] = make_thumbnail(self.inputs[index])
        return self._thumbs[index]

    # -- downloads
    def top_k_zip(self, shown: Sequence[RankResult]) -> bytes:
        from .export import top_k_zip

        return top_k_zip(list(shown), self.inputs, len(shown))


# --- result cards (HTML strings; every user-controlled text goes through esc) ---------------

CARD_CSS = """
<style>
.lr-card { margin-bottom: 0.25rem; }
.lr-thumb { display: flex; align-items: center; justify-content: center; height: 220px;
            overflow: hidden; border-radius: 6px; background: #f4f4f4; }
.lr-thumb img { max-width: 100%; max-height: 100%; object-fit: contain; box-sizing: border-box;
                transition: transform 0.25s ease; }
.lr-card:hover .lr-thumb img { transform: scale(1.06); }
.lr-top .lr-thumb { height: 250px; }
.lr-top .lr-thumb img { border: 3px solid #4CAF50; border-radius: 4px; }
.lr-rank { font-weight: 700; margin-top: 0.35rem; }
.lr-name { font-size: 0.85rem; color: #555; overflow-wrap: anywhere; }
.lr-warn { display: inline-block; margin-top: 0.2rem; padding: 0.05rem 0.4rem; font-size: 0.8rem;
           color: #8a5300; background: #fff4e0; border: 1px solid #f0c36d; border-radius: 4px; }
</style>
"""


def card_html(result: RankResult, thumbnail: bytes, *, rank_line: str, badge: str | None, warning: str | None) -> str:
    """One grid card: thumbnail, bold 'Rank X | Score: Y' in its band colour, file name, warning badge."""
    import base64

    classes = "lr-card lr-top" if result.rank == 1 else "lr-card"
    src = "data:image/jpeg;base64," + base64.b64encode(thumbnail).decode("ascii")
    parts = [
        f'<div class="{classes}" data-rank="{result.rank}">',
        f'<div class="lr-thumb"><img src="{src}" alt="{esc(result.name)}"></div>',
        f'<div class="lr-rank" style="color:{band_colour(result.score)}">{esc(rank_line)}</div>',
        f'<div class="lr-name" title="{esc(result.name)}">{esc(result.name)}</div>',
    ]
    if badge:
        parts.append(f'<div class="lr-warn" title="{esc(warning or "")}">{esc(badge)}: {esc(warning or "")}</div>')
    parts.append("</div>")
    return "".join(parts)
