"""The full-size view as a Streamlit component: viewer.js draws and drives it, culling.py applies its marks.

Python sends the view everything it needs to step without a round trip: every shown result's
rank line, name, mark and thumbnail URL, and for the images around the one on screen the large
preview and the details (warnings, notes, the model's output). Images travel as media URLs
(see :mod:`.media`), so the browser fetches each once and caches it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import streamlit as st

from ..results import RankResult
from .cards import band_colour
from .culling import ViewSession
from .media import image_url

KEY = "lr_viewer"
BEHIND, AHEAD = 1, 3  # previews made around the image on screen: culling goes forward
_HERE = Path(__file__).parent


@cache
def _component() -> Callable[..., Any]:
    return st.components.v2.component(
        "lychee_viewer", js=(_HERE / "viewer.js").read_text("utf-8"), css=(_HERE / "viewer.css").read_text("utf-8")
    )


def payload(
    session: ViewSession,
    results: Sequence[RankResult],
    marks: Mapping[int, str],
    *,
    rank_line: Callable[[RankResult], str],
    describe: Callable[[RankResult], dict[str, Any]],
    thumbnail: Callable[[int], bytes] | None,
    preview: Callable[[int], bytes] | None,
    labels: Mapping[str, str],
) -> dict[str, Any]:
    """What the view needs for ``results`` (in grid order); ``thumbnail``/``preview`` are None for texts."""
    items = []
    for result in results:
        item = {"i": result.index, "rank": rank_line(result), "colour": band_colour(result.score),
                "name": result.name, "mark": marks.get(result.index)}
        if thumbnail is None:
            item["text"] = result.text or ""
        else:
            item["thumb"] = image_url(thumbnail(result.index), f"lr-view.thumb.{result.index}")
        items.append(item)
    details = {}
    for result in _around(results, session.index):
        detail = describe(result)
        if preview is not None:
            detail["src"] = image_url(preview(result.index), f"lr-view.preview.{result.index}")
        details[str(result.index)] = detail
    return {"view": session.view_id, "start": session.index, "acked": session.applied, "items": items,
            "details": details, "labels": dict(labels)}


def _around(results: Sequence[RankResult], index: int) -> list[RankResult]:
    at = next((n for n, result in enumerate(results) if result.index == index), 0)
    return list(results[max(at - BEHIND, 0) : at + AHEAD + 1])


def mount(data: dict[str, Any], on_report: Callable[[], None]) -> None:
    """Draw the view (a fixed overlay over the page); ``on_report`` runs when the browser reports."""
    _component()(key=KEY, data=data, on_report_change=on_report)


def last_report() -> Any:
    """What the browser last reported (``{"view", "index", "events", "closed"}``), or None."""
    state = st.session_state.get(KEY)
    return state.get("report") if state is not None else None
