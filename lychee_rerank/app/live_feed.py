"""A running job's progress as JSON, served by the app server's own routes instead of page reruns.

Every Streamlit rerun costs the browser ~0.1 s of JavaScript on this page, and the model shares the
CPU with it: with reruns twice a second the app scored 39-51% slower than the library alone on 2
cores (benchmarks/RESULTS.md, issue 27). So while a job runs the page mounts one component (live.js) that fetches
``/api/lychee/live/<token>`` a few times a second and redraws only what changed, and the server
does no script run until the job ends. The token is random per job: a visitor on a shared server
cannot read another's progress or thumbnails. Texts come ready in the page's language. Feeds hold
their jobs weakly: the sessions (and their memory budget) decide how long a job lives, not its feed.
"""

from __future__ import annotations

import secrets
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import streamlit as st
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .cards import band_colour, format_score
from .jobs import PREPARING, QUEUED, RUNNING, Job
from .page import LIVE_CARDS, LIVE_COLUMNS, duration_text, short_query
from .text import DEFAULT_LANGUAGE, doc_words, t, translate_warning

KEY = "lr_live"  # one key for the idle and the running view: the same element, its script loaded once
LIVE_PATH = "/api/lychee/live/{token}"
THUMB_PATH = "/api/lychee/thumb/{token}/{which}/{index:int}"
STOP_PATH = "/api/lychee/stop/{token}"
FEEDS_KEPT = 64  # the registry's size: the oldest feeds are dropped first
POLL_MS = 250  # the progress line moves up to four times a second: one small JSON fetch each, no rerun
GRID_MS = 1000  # the best-so-far cards move at most once a second: a move took the page 85-121 ms (a trace, 2 cores)
_HERE = Path(__file__).parent


@dataclass(frozen=True)
class Feed:
    """What one page's live view shows: its job, the page's language and the run before it."""

    job: Job
    lang: str
    previous: Job | None


_feeds: OrderedDict[str, tuple[weakref.ref, str, weakref.ref | None]] = OrderedDict()  # token -> job, lang, previous
_lock = threading.Lock()


def register(job: Job, lang: str, previous: Job | None) -> str:
    """The token of ``job``'s feed (the same token while the job runs; language and previous run updated)."""
    with _lock:
        token = _token_locked(job) or secrets.token_urlsafe(18)
        _feeds[token] = (weakref.ref(job), lang, weakref.ref(previous) if previous is not None else None)
        _feeds.move_to_end(token)
        while len(_feeds) > FEEDS_KEPT:
            _feeds.popitem(last=False)
        return token


def feed(token: str) -> Feed | None:
    """The feed of ``token``, or None when the token is unknown or its job is gone."""
    with _lock:
        entry = _feeds.get(token)
    if entry is None:
        return None
    job_ref, lang, previous_ref = entry
    job = job_ref()
    return None if job is None else Feed(job, lang, previous_ref() if previous_ref is not None else None)


def snapshot(token: str) -> dict[str, Any] | None:
    """Everything the live view draws now, or None for an unknown token."""
    current = feed(token)
    if current is None:
        return None
    job, lang = current.job, current.lang
    texts = job.texts is not None
    words = doc_words(lang, texts)
    done, total, latest = job.progress()  # one moment's figures
    return {"finished": not job.active, "stopping": job.stopping, "fraction": min(done / max(total, 1), 1.0),
            "progress": t(lang, "progress", done=done, total=total, **words),
            "queued": t(lang, "state_queued") if job.state == QUEUED else None,
            "lines": _status_lines(job, lang, words, done, latest), "stop": t(lang, "stop"),
            **_grid(token, current, words)}


def _status_lines(job: Job, lang: str, words: dict[str, str], done: int, latest: Any) -> list[str]:
    lines = []
    if job.stopping:
        lines.append(t(lang, "state_stopping"))
    elif job.state == PREPARING:
        lines.append(t(lang, "state_preparing", **words))
    elif job.state == RUNNING and done == 0:
        lines.append(t(lang, "state_scoring", **words))
    if latest is not None and job.active:
        lines.append(t(lang, "status_latest", name=latest.name, score=format_score(latest.score)))
        if latest.warning:
            lines.append("⚠ " + t(lang, "status_warning", warning=translate_warning(lang, latest.warning)))
    if (rate := job.rate()) is not None and job.active:
        lines.append(t(lang, "status_speed", rate=rate, eta=duration_text(lang, job.eta_seconds() or 0.0), **words))
    return lines


def _grid(token: str, current: Feed, words: dict[str, str]) -> dict[str, Any]:
    """The best so far (images only); until there are any, the previous run's best."""
    job, previous, lang = current.job, current.previous, current.lang
    best = job.best_so_far(LIVE_CARDS) if job.texts is None else []
    if best:
        return {"header": t(lang, "live_header", n=len(best)), "cards": _cards(token, "c", best, lang),
                "columns": LIVE_COLUMNS}
    if previous is not None and previous.texts is None and previous.results:
        shown = [r for r in previous.results if r.ok][:LIVE_CARDS]
        query = short_query(previous.query) or t(lang, "recent_reference")
        return {"header": t(lang, "previous_header", query=query), "cards": _cards(token, "p", shown, lang),
                "columns": LIVE_COLUMNS}
    return {"header": None, "cards": [], "columns": LIVE_COLUMNS}


def _cards(token: str, which: str, results: list, lang: str) -> list[dict[str, Any]]:
    return [{"index": r.index, "name": r.name, "colour": band_colour(r.score),
             "rank": t(lang, "rank_line", rank=place, score=format_score(r.score)),
             "src": f"api/lychee/thumb/{token}/{which}/{r.index}"}
            for place, r in enumerate(results, start=1)]


async def _live(request: Request) -> Response:
    """The snapshot after at most POLL_MS, at once when the job ends: the browser asks again straight away, so the
    page moves about four times a second and learns of the end as it happens."""
    current = feed(request.path_params["token"])
    if current is None:
        return JSONResponse({"error": "unknown run"}, status_code=404)
    if current.job.active:  # a worker thread blocks on the job's end: no wake-ups that take the GIL from the model
        await run_in_threadpool(current.job.wait, POLL_MS / 1000)
    return JSONResponse(snapshot(request.path_params["token"]), headers={"Cache-Control": "no-store"})


def _thumbnail(request: Request) -> Response:
    """A thumbnail of the job's (``c``) or the previous run's (``p``) image; cached by the browser."""
    current = feed(request.path_params["token"])
    which = request.path_params["which"]
    job = None if current is None else {"c": current.job, "p": current.previous}.get(which)
    index = request.path_params["index"]
    if job is None or job.texts is not None or not 0 <= index < len(job.inputs):
        return Response(status_code=404)
    return Response(job.thumbnail(index), media_type="image/jpeg",
                    headers={"Cache-Control": "private, max-age=3600, immutable"})


async def _stop(request: Request) -> Response:
    """Stop the job at once (after its current image), without waiting for a page rerun."""
    current = feed(request.path_params["token"])
    if current is None:
        return JSONResponse({"error": "unknown run"}, status_code=404)
    current.job.stop()
    return JSONResponse({"stopping": True})


def routes() -> list[Route]:
    """The server routes of the live view (``st.App(..., routes=routes())`` in app.py)."""
    return [Route(LIVE_PATH, _live), Route(THUMB_PATH, _thumbnail), Route(STOP_PATH, _stop, methods=["POST"])]


@cache
def _component() -> Callable[..., Any]:
    return st.components.v2.component("lychee_live", js=(_HERE / "live.js").read_text("utf-8"), isolate_styles=False)


def mount(job: Job, lang: str, previous: Job | None, on_stop: Callable[[], None],
          on_finished: Callable[[], None]) -> None:
    """Draw the live view of ``job``; ``on_stop`` runs when its Stop is pressed, ``on_finished`` when it saw the
    job end (the page then draws the results). The first picture comes with the page; live.js polls for the rest."""
    token = register(job, lang, previous)
    data = {"token": token, "url": LIVE_PATH.format(token=token).removeprefix("/"),
            "stop_url": STOP_PATH.format(token=token).removeprefix("/"), "poll_ms": POLL_MS, "grid_ms": GRID_MS,
            "snapshot": snapshot(token)}
    _component()(key=KEY, data=data, on_stop_change=on_stop, on_finished_change=on_finished)


def mount_idle() -> None:
    """The live view with nothing to show, on a page with no run yet. A fresh tab's first Run otherwise fetched,
    parsed and ran the component runtime's scripts (four files) and live.js in the first half second of scoring,
    on the CPU the model needs (a Chromium trace, 2 cores); mounted now, they load while the user fills the form.
    It also loads the scripts of the widgets the results page brings (see :func:`results_scripts`)."""
    _component()(key=KEY, data={"token": None, "preload": results_scripts()})


def thumbnail_src(job: Job, index: int) -> str:
    """The URL of a thumbnail of ``job``'s image ``index``: made in the server's thread pool when the browser first
    asks (never while the page is drawn), then cached by the browser."""
    return f"api/lychee/thumb/{token_of(job) or register(job, DEFAULT_LANGUAGE, None)}/c/{index}"


def token_of(job: Job) -> str | None:
    """The token of ``job``'s feed, if a page has mounted its live view."""
    with _lock:
        return _token_locked(job)


def _token_locked(job: Job) -> str | None:
    return next((token for token, (job_ref, _, _) in _feeds.items() if job_ref() is job), None)


# Streamlit loads a widget's script the first time a page draws one. The form has no progress bar, slider, toggle or
# download button, so a tab's first run fetched and ran thirteen scripts (these and what they import) in the moment
# between the run's end and its results (issue 27).
RESULTS_WIDGETS = ("Progress", "Slider", "Checkbox", "DownloadButton")


@cache
def results_scripts() -> list[str]:
    """The installed Streamlit's scripts for RESULTS_WIDGETS, as paths under the page (static/js/...). A widget
    whose script is not found is left out: the page then loads it when it first draws one, as Streamlit does."""
    folder = Path(st.__file__).parent / "static" / "static" / "js"
    found = [sorted(folder.glob(f"{name}.*.js")) for name in RESULTS_WIDGETS]
    return [f"static/js/{paths[0].name}" for paths in found if len(paths) == 1]
