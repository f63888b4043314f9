"""What survives a page reload: each browser session's choices and run, and the process's recent runs.

Sessions live in this server process's memory: a session is keyed by a
random id in the page's URL (``?s=...``), so a refresh or a reopened tab with that URL gets its
query, settings, language, results and marks back. Only ids this server process issued are
accepted (each carries an HMAC under a per-process secret): a link with a made-up id, sent to a
victim, would otherwise let its sender open the victim's query and images at the same URL. The store keeps the last
:data:`MAX_SESSIONS` sessions and the recent-runs list the last :data:`MAX_RECENT` runs; a
session or run dropped from them is gone, and with the last run that ranks them its uploads'
folder on disk (:mod:`lychee_rerank.intake.spool`). Both are also bounded in bytes
(``LYCHEE_SESSION_MEMORY_MIB``, default :data:`DEFAULT_MAX_MIB`): past it the oldest sessions and
runs go first, so tabs that come and go cannot grow the server without bound. Nothing survives a server restart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

MAX_SESSIONS = 64
MAX_RECENT = 8
DEFAULT_MAX_MIB = 512
MEMORY_ENV = "LYCHEE_SESSION_MEMORY_MIB"
# The page's choices worth keeping (widget keys); uploads cannot be put back into an uploader, but their run can.
KEPT_CHOICES = (
    "lang", "model", "family", "mode", "dtype", "pixels", "batch", "query", "preset", "instruction", "doc_kind",
    "texts", "folder", "threshold", "top_k", "columns", "sort", "mark_filter", "group_by", "stack",
)


@dataclass
class Snapshot:
    choices: dict[str, Any]
    job: Any  # the session's current Job, or None


_SECRET = secrets.token_bytes(32)  # per process: ids issued before a restart are refused, like their sessions
_ID_FORMAT = re.compile(r"[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{16}")


def _tag(token: str) -> str:
    digest = hmac.new(_SECRET, token.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode("ascii")


def new_session_id() -> str:
    """A fresh id: 96 random bits and this process's tag on them."""
    token = secrets.token_urlsafe(12)
    return f"{token}.{_tag(token)}"


def is_issued(session_id: object) -> bool:
    """Whether ``session_id`` is one :func:`new_session_id` of this process made (checked in constant time)."""
    if not isinstance(session_id, str) or not _ID_FORMAT.fullmatch(session_id):
        return False
    token, tag = session_id.split(".")
    return hmac.compare_digest(tag, _tag(token))


def default_max_bytes() -> int:
    return int(float(os.environ.get(MEMORY_ENV) or DEFAULT_MAX_MIB) * 1024**2)


def _job_bytes(job: Any) -> int:
    return job.nbytes() if hasattr(job, "nbytes") else 0


class SessionStore:
    """Process-wide: the last sessions' snapshots by id, and the recent runs of every session."""

    def __init__(self, max_sessions: int = MAX_SESSIONS, max_recent: int = MAX_RECENT, max_bytes: int | None = None):
        self.max_sessions, self.max_recent = max_sessions, max_recent
        self.max_bytes = default_max_bytes() if max_bytes is None else max_bytes
        self._sessions: OrderedDict[str, Snapshot] = OrderedDict()
        self._recent: OrderedDict[int, tuple[float, str, Any]] = OrderedDict()  # id(job) -> (when, session, job)
        self._lock = threading.Lock()

    def save(self, session_id: str, state: MutableMapping[str, Any], job_key: str) -> None:
        """Remember ``state``'s kept choices and its job under ``session_id``; the job joins the recent runs."""
        job = state.get(job_key)
        snapshot = Snapshot({key: state[key] for key in KEPT_CHOICES if key in state}, job)
        with self._lock:
            self._sessions[session_id] = snapshot
            self._sessions.move_to_end(session_id)
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
            if job is not None and id(job) not in self._recent:
                self._recent[id(job)] = (time.time(), session_id, job)
                while len(self._recent) > self.max_recent:
                    self._recent.popitem(last=False)
            self._drop_over_bytes(keep=session_id)

    def held_bytes(self) -> int:
        """What the kept sessions' and recent runs' jobs hold, each job counted once."""
        with self._lock:
            return sum(_job_bytes(job) for job in self._jobs().values())

    def _jobs(self) -> dict[int, Any]:
        jobs = {id(s.job): s.job for s in self._sessions.values() if s.job is not None}
        jobs.update((run_id, job) for run_id, (_, _, job) in self._recent.items())
        return jobs

    def _drop_over_bytes(self, keep: str) -> None:
        """Oldest first, drop recent runs and sessions (never ``keep``) until the jobs fit in ``max_bytes``."""
        sizes = {job_id: _job_bytes(job) for job_id, job in self._jobs().items()}
        while sum(sizes.values()) > self.max_bytes:
            others = [session_id for session_id in self._sessions if session_id != keep]
            if self._recent:
                self._recent.popitem(last=False)
            elif others:
                del self._sessions[others[0]]
            else:
                break  # only the page in use is left: its run stays
            kept = self._jobs()
            sizes = {job_id: size for job_id, size in sizes.items() if job_id in kept}
            logger.info("dropped an old session or run to keep sessions within %.0f MiB (%s)",
                        self.max_bytes / 1024**2, MEMORY_ENV)

    def take_over(self, old_id: str, new_id: str, state: MutableMapping[str, Any], job_key: str) -> bool:
        """Move the session saved as ``old_id`` to ``new_id`` and into ``state``; False if unknown.

        Call before any widget is drawn. An id restores once: a link whose id someone else obtained
        (their own, sent to a victim) stops leading to the session as soon as it has been opened, so
        what the victim does next is saved under an id only the victim's page holds.
        """
        with self._lock:
            snapshot = self._sessions.pop(old_id, None)
            if snapshot is None:
                return False
            self._sessions[new_id] = snapshot
            for run_id, (when, owner, job) in self._recent.items():
                if owner == old_id:
                    self._recent[run_id] = (when, new_id, job)
        state.update(snapshot.choices)
        if snapshot.job is not None:
            state[job_key] = snapshot.job
        return True

    def recent(self, session_id: str | None = None) -> list[tuple[float, Any]]:
        """(start time, job) of the recent runs, newest first; only ``session_id``'s when given.

        The app shows every session's runs only when it listens on localhost (one user); on a network,
        colleagues never see each other's queries and images.
        """
        with self._lock:
            runs = list(reversed(self._recent.values()))
        return [(when, job) for when, owner, job in runs if session_id is None or owner == session_id]
