"""The flat results grid as one element: the cards' HTML (cards.py, escaped there) laid out by grid.js.

Sixty cards drawn as sixty ``st.html`` elements in rows of ``st.columns`` cost the browser about
0.4 s of JavaScript (each one sanitised and rendered on its own) every time the results page was
drawn: after each run and after each pick, sort or filter (issue 27). One component that sets
each card's HTML, and only the cards that changed, costs a few milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import streamlit as st

KEY = "lr_grid"
_HERE = Path(__file__).parent


@cache
def _component() -> Callable[..., Any]:
    return st.components.v2.component("lychee_grid", js=(_HERE / "grid.js").read_text("utf-8"), isolate_styles=False)


def mount(cards: Sequence[tuple[int, str]], columns: int) -> None:
    """Draw ``cards`` ((input index, card HTML), in order) in ``columns`` columns."""
    _component()(key=KEY, data={"columns": columns, "cards": [{"key": str(i), "html": body} for i, body in cards]})
