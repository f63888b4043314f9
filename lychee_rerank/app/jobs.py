"""One press of Run: a job that ranks in a background thread while the page polls it.

States and transitions (each a method below)::

    PREPARING ──(same query/images/settings scored before)──────────────► DONE (cached)
        │ _prepare: read the inputs
        ▼
    QUEUED  ◄── _wait_turn: another tab runs or pressed Run first; Stop here ──► STOPPED
        │
        ▼
    RUNNING ── _score: Reranker.rank with progress ──► DONE | STOPPED (Stop pressed)
    any error ─────────────────────────────────────────► ERROR (a message, never a traceback)

``on_progress`` writes the count and the latest result (one tuple) into the job; the page's live view reads it
(live_feed.py); Stop sets an event that ``should_stop`` reads between images. One process-wide queue (``Engine.runs``)
lets one run use the GPU at a time, in the order Run was pressed.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field, replace

from ..errors import LycheeRerankError
from ..export import top_k_zip, zippable
from ..intake import ImageInput, Spool, bytes_digest
from ..results import RankResult
from ..settings import PARSE_SKIPPED
from .engine import Callbacks, Engine, ModelHandle, RankRequest, RunSettings, input_digest
from .page import MIX, TYPED, inputs_from_sources, make_thumbnail
from .upload_prep import PreparedUploads

PREPARING, QUEUED, RUNNING, DONE, STOPPED, ERROR = "preparing", "queued", "running", "done", "stopped", "error"
QUEUE_POLL_S = 0.2
PREVIEW_SIDE, PREVIEWS_KEPT = 1600, 8  # the full-size view: large enough for a screen, small enough to send quickly


@dataclass
class Job:
    """One Run press: inputs, live progress, and the final ranking. Lives in session state."""

    handle: ModelHandle  # or a ProcessModelHandle: the same methods
    engine: Engine
    settings: RunSettings
    query: str
    instruction: str | None
    uploads: list[tuple[str, bytes]]
    folder: str | None = None
    query_image: tuple[str, bytes] | None = None  # a reference image ("more like this one")
    texts: list[str] | None = None  # rank these texts instead of images
    query_source: str = "typed"  # "typed"; "own": each image's own prompt; "mix": its prompt and the typed text
    reused: list[ImageInput] = field(default_factory=list, repr=False)  # a previous run's uploads, ranked again
    prepared: Future[PreparedUploads] | None = field(default=None, repr=False)  # the uploads, spooled by the page
    spools: list[Spool] = field(default_factory=list, repr=False)  # where ``uploaded`` reads from (a reused run's too)
    state: str = PREPARING
    results: list[RankResult] | None = None  # best first, when finished
    inputs: list[ImageInput] = field(default_factory=list)
    uploaded: list[ImageInput] = field(default_factory=list, repr=False)  # the inputs that came from uploads
    intake_notes: list[str] = field(default_factory=list)  # what a folder skipped on purpose (notes.txt, hidden)
    query_warnings: list[str] = field(default_factory=list)
    error: str | None = None
    cached: bool = False
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    queued_seconds: float = 0.0  # time spent waiting for another tab's run
    scoring_started: float | None = None  # when the model began on this run (for images/s and the ETA)
    _progress: tuple[int, int, RankResult | None] = (0, 0, None)  # (done, total, latest), written as one
    _so_far: list[RankResult] = field(default_factory=list, repr=False)  # scored while the run goes on
    marks: dict[int, str] = field(default_factory=dict)  # input index -> PICK or REJECT, set by the user
    _previews: OrderedDict[int, bytes] = field(default_factory=OrderedDict, repr=False)
    _key: str = field(default="", repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _finished: threading.Event = field(default_factory=threading.Event, repr=False)
    _thumbs: dict[int, bytes] = field(default_factory=dict, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    # -- control, from the page
    def start(self) -> Job:
        self.engine.runs.join(self)  # here, in the page's thread: the line is the order of the presses
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
        """From the Run press to the end (or now), queueing included."""
        return (self.finished or time.monotonic()) - self.started

    @property
    def run_seconds(self) -> float:
        """Time spent preparing and scoring, without the wait in the queue."""
        return self.seconds - self.queued_seconds

    def progress(self) -> tuple[int, int, RankResult | None]:
        """(done, total, latest result) from one moment: the page never pairs a count with another's result."""
        return self._progress

    @property
    def done(self) -> int:
        return self._progress[0]

    @property
    def total(self) -> int:
        return self._progress[1]

    def best_so_far(self, k: int) -> list[RankResult]:
        """The ``k`` best documents scored so far in this run (failed ones left out), best first."""
        scored = [r for r in list(self._so_far) if r.ok]
        return sorted(scored, key=lambda r: (-r.score, r.index))[:k]

    def rate(self) -> float | None:
        """Documents scored per second since the model began; None before the first one."""
        done = self._progress[0]
        if not done or self.scoring_started is None or self.state != RUNNING:
            return None
        return done / max(time.monotonic() - self.scoring_started, 1e-6)

    def eta_seconds(self) -> float | None:
        """Seconds left at the current rate; None until there is a rate."""
        rate = self.rate()
        done, total, _ = self._progress
        return None if rate is None else max(total - done, 0) / rate

    @property
    def scored(self) -> list[RankResult]:
        return [r for r in self.results or [] if r.parse_method != PARSE_SKIPPED]

    # -- the worker thread: one method per transition
    def _run(self) -> None:
        try:
            self._prepare()
            if self._from_cache() or not self._wait_turn():
                return
            try:
                if not self._from_cache():  # another tab may have just scored the same
                    self._score()
            finally:
                self.engine.runs.release()
        except LycheeRerankError as exc:
            self._fail(str(exc))
        except Exception as exc:  # noqa: BLE001 - shown in the page, never a traceback
            self._fail(f"{type(exc).__name__}: {exc}")
        finally:
            self.engine.runs.leave(self)  # a cached, stopped or failed run gives up its place
            self.finished = time.monotonic()
            self._finished.set()

    def _prepare(self) -> None:
        """PREPARING: read the inputs and compute the cache key."""
        if self.texts is None:
            digests = self._read_inputs()
        else:
            digests = ["text:" + bytes_digest(text.encode("utf-8")) for text in self.texts]
        self.uploads, self.reused, self.prepared = [], [], None  # the spool holds the bytes now
        self._progress = (0, len(self.texts if self.texts is not None else self.inputs), None)
        if self.query_image is not None:
            digests.append("query-image:" + bytes_digest(self.query_image[1]))
        query_key = self.query if self.query_source == TYPED else f"{self.query_source}\0{self.query}"
        self._key = self.engine.cache.key(self.settings, query_key, self.instruction, digests)

    def _read_inputs(self) -> list[str]:
        """The images (uploads on disk, not in memory: a kept run holds paths) and their content digests."""
        if self.prepared is not None:  # the page spooled the uploads as they came (upload_prep.py); its error is ours
            ready = self.prepared.result()
            self.spools.append(ready.spool)
            sources, known = inputs_from_sources([], self.folder, ready.inputs), ready.digests
        else:
            spool = Spool() if self.uploads else None
            self.spools += [spool] if spool is not None else []
            sources, known = inputs_from_sources(self.uploads, self.folder, self.reused, spool), []
        self.inputs, self.uploaded, self.intake_notes = sources.inputs, sources.uploaded, sources.notes
        return known + [input_digest(item) for item in self.inputs[len(known):]]

    def _from_cache(self) -> bool:
        """-> DONE at once when this exact run was scored before."""
        hit = self.engine.cache.get(self._key)
        if hit is None:
            return False
        if self.texts is None:  # same bytes may come under other names this time
            hit = [replace(r, name=self.inputs[r.index].name, path=self.inputs[r.index].path) for r in hit]
        self.results = list(hit)
        self._progress = (self.total, self.total, None)
        self.cached, self.state = True, DONE
        return True

    def _wait_turn(self) -> bool:
        """-> QUEUED while another tab runs or was first; False (-> STOPPED) when Stop is pressed while waiting."""
        if self.engine.runs.take(self, 0):
            return True
        self.state = QUEUED
        waiting_since = time.monotonic()
        try:
            while not self.engine.runs.take(self, QUEUE_POLL_S):
                if self._stop.is_set():
                    self.results, self.state = [], STOPPED
                    return False
            return True
        finally:
            self.queued_seconds = time.monotonic() - waiting_since

    def _score(self) -> None:
        """RUNNING -> DONE, or STOPPED when Stop was pressed (stopped runs are not cached)."""
        self.state, self.scoring_started = RUNNING, time.monotonic()
        images = self.texts is None
        request = RankRequest(self.query, self.inputs if images else list(self.texts), texts=not images,
                              query_image=self.query_image, instruction=self.instruction,
                              own_prompts=self.own_prompts, mix=self.query_source == MIX)
        calls = Callbacks(self._on_progress, self._stop.is_set, self._on_wait)
        ranking = self.handle.rank(self.settings, request, calls)
        self.query_warnings = list(ranking.warnings)
        self.results = list(ranking)
        if ranking.stopped:
            self.state = STOPPED
        else:
            self.engine.cache.put(self._key, self.results)
            self.state = DONE

    def _on_progress(self, done: int, total: int, result: RankResult) -> None:
        self._progress = (done, total, result)
        self._so_far.append(result)
        if not self._stop.is_set():
            self.state = RUNNING

    def _on_wait(self) -> None:
        self.state = QUEUED

    def _fail(self, message: str) -> None:
        self.error, self.state = message, ERROR

    # -- what the page shows and downloads
    def toggle_mark(self, index: int, mark: str) -> None:
        """Pick or reject a result; the same mark again clears it."""
        if self.marks.pop(index, None) != mark:
            self.marks[index] = mark

    def preview(self, index: int) -> bytes:
        """A large JPEG for the full-size view (the last few kept)."""
        if index not in self._previews:
            self._previews[index] = make_thumbnail(self.inputs[index], side=PREVIEW_SIDE)
            while len(self._previews) > PREVIEWS_KEPT:
                self._previews.popitem(last=False)
        self._previews.move_to_end(index)
        return self._previews[index]

    def thumbnail(self, index: int) -> bytes:
        if index not in self._thumbs:
            self._thumbs[index] = make_thumbnail(self.inputs[index])
        return self._thumbs[index]

    def nbytes(self) -> int:
        """About what this job holds: its uploads (on disk), the reference image, thumbnails and previews."""
        reference = len(self.query_image[1]) if self.query_image is not None else 0
        made = sum(len(b) for b in list(self._thumbs.values())) + sum(len(b) for b in list(self._previews.values()))
        return self.upload_bytes + reference + made

    @property
    def upload_bytes(self) -> int:
        """What the uploads this run ranks (zips whole) hold in their spools."""
        return sum(spool.bytes for spool in self.spools)

    def top_k_zip(self, shown: Sequence[RankResult]) -> bytes:
        return top_k_zip(list(shown), self.inputs, len(shown))

    def zip_count(self, shown: Sequence[RankResult]) -> int:
        """How many files the zip of ``shown`` holds (what its label says)."""
        return len(zippable(list(shown), self.inputs)) if self.texts is None else 0

    def query_thumbnail(self) -> bytes | None:
        """A thumbnail of the reference image, for the query shown above the results."""
        image = self.query_image
        return make_thumbnail(ImageInput(name=image[0], data=image[1])) if image is not None else None

    @property
    def own_prompts(self) -> bool:
        """Whether each image is scored against its own prompt (possibly mixed with the typed text)."""
        return self.query_source != TYPED and self.texts is None

    def export_fields(self) -> dict[str, str | None]:
        """What the exports record about the query, on every row (with own prompts, each row has its own)."""
        if self.own_prompts:
            return {"query_source": self.query_source}
        return {"query": self.query or None, "query_image": self.query_image[0] if self.query_image else None}
