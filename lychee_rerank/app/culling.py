"""Marks made in the full-size view, applied exactly once each and in the order they were made.

The view runs in the browser: arrow keys move it and P / X mark the image on screen at once,
with no round trip, so a culler at five images a second never waits. Every mark is an event
``[seq, index, mark]`` (``mark`` is ``"pick"``, ``"reject"`` or None for cleared), numbered in
the order the keys were pressed, naming the image that was on screen. The browser sends all
events the server has not yet acknowledged, again with every report, so a report that is
interrupted or merged with the next loses nothing; :func:`apply_report` applies only the events
after the last one applied, in ``seq`` order, and ignores anything malformed or from another
opening of the view.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

PICK, REJECT = "pick", "reject"
MARKS = (PICK, REJECT, None)


@dataclass
class ViewSession:
    """One opening of the full-size view: its id, the image shown and the last event applied."""

    index: int  # the input index on screen, as last reported
    view_id: str = ""
    applied: int = 0  # the highest event number applied to the marks
    closed: bool = False

    def __post_init__(self) -> None:
        self.view_id = self.view_id or secrets.token_hex(6)


def apply_report(session: ViewSession, report: Any, marks: MutableMapping[int, str],
                 shown: Collection[int]) -> int:
    """Apply a browser report ``{"view", "index", "events", "closed"}``; returns how many events it applied.

    ``shown`` holds the input indices the view steps through: a report naming any other index is
    ignored for that event (a stale or forged report cannot mark what the user never saw).
    """
    if not isinstance(report, Mapping) or report.get("view") != session.view_id:
        return 0
    applied = 0
    for seq, index, mark in _new_events(report.get("events"), session.applied):
        if seq <= session.applied:  # the same number twice in one report
            continue
        session.applied = seq
        if index not in shown:
            continue
        if mark is None:
            marks.pop(index, None)
        else:
            marks[index] = mark
        applied += 1
    if report.get("index") in shown:
        session.index = report["index"]
    session.closed = session.closed or report.get("closed") is True
    return applied


def _new_events(events: Any, after: int) -> list[tuple[int, int, str | None]]:
    """The well-formed events numbered after ``after``, in number order."""
    found = []
    for event in events if isinstance(events, list) else []:
        if not (isinstance(event, list) and len(event) == 3):
            continue
        seq, index, mark = event
        if _is_int(seq) and _is_int(index) and mark in MARKS and seq > after:
            found.append((seq, index, mark))
    return sorted(found, key=lambda event: event[0])


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
