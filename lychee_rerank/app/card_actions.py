"""The buttons on result cards (view, pick, reject, compare): plain HTML inside each card, one listener for all.

A card used to carry four Streamlit buttons in a row container, five elements the server sent and
the browser drew for each of 60 cards whenever the results page was drawn: the larger part of the
time between the model's last image and the results on screen. Now each card's buttons are part
of its HTML (``buttons_html``); one component (card_actions.js) listens for their clicks and
reports ``{"act", "i"}``; ``apply`` does what the button says.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, MutableMapping
from functools import cache
from pathlib import Path
from typing import Any

import streamlit as st

from .cards import esc
from .culling import PICK, REJECT, ViewSession
from .jobs import Job

KEY = "lr_card_actions"
VIEW = "lr_view"  # the full-size view's ViewSession while it is open, else None
COMPARE = "lr_compare"  # the input indices chosen for the comparison, in the order chosen
COMPARED_MAX = 4
# (icon, label key or None for the icon alone, tooltip key), in the order drawn. The icons alone where columns are
# too narrow for the labels; characters every system font has, no icon font needed.
BUTTONS = {
    "view": ("⤢", "view", "view_help"),
    "pick": ("✓", "pick", "pick_help"),
    "reject": ("✗", "reject", "reject_help"),
    "cmp": ("⇄", None, "compare_toggle"),
}
_HERE = Path(__file__).parent


def buttons_html(index: int, active: Mapping[str, bool], tr: Callable[[str], str], icons_only: bool) -> str:
    """A card's row of buttons; an active one (picked, rejected, in the comparison) is coloured."""
    drawn = []
    for name, (icon, label, help_key) in BUTTONS.items():
        text = icon if icons_only or label is None else tr(label)
        on = bool(active.get(name))
        classes = f"lr-act lr-act-{name} lr-on" if on else f"lr-act lr-act-{name}"
        drawn.append(f'<button type="button" class="{classes}" data-act="{name}" data-i="{index}" '
                     f'title="{esc(tr(help_key))}" aria-pressed="{str(on).lower()}">{esc(text)}</button>')
    return f'<div class="lr-acts">{"".join(drawn)}</div>'


def active_buttons(job: Job, index: int, compared: Collection[int]) -> dict[str, bool]:
    """Which of a card's buttons are on: its mark, and whether it is among the ``compared`` indices."""
    mark = job.marks.get(index)
    return {"pick": mark == PICK, "reject": mark == REJECT, "cmp": index in compared}


@cache
def _component() -> Callable[..., Any]:
    return st.components.v2.component("lychee_card_actions", js=(_HERE / "card_actions.js").read_text("utf-8"),
                                      isolate_styles=False)


def mount(on_action: Callable[[], None]) -> None:
    """Listen for the cards' buttons on this page; ``on_action`` runs when one is pressed (read it with
    ``last_action``)."""
    _component()(key=KEY, data={}, on_action_change=on_action)


def last_action() -> Any:
    """What the browser last reported (``{"act", "i"}``), or None."""
    state = st.session_state.get(KEY)
    return state.get("action") if state is not None else None


def apply(action: Any, job: Job, state: MutableMapping[str, Any]) -> bool:
    """Do what a card's button says on ``job`` and the page's ``state``; False (nothing done) for a report that
    names no known button or no input of this run."""
    if not isinstance(action, Mapping) or action.get("act") not in BUTTONS:
        return False
    index = action.get("i")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < job.total:
        return False
    name = action["act"]
    if name == "view":
        state[VIEW] = ViewSession(index=index)
    elif name == "cmp":
        toggle_compare(state, index)
    else:
        job.toggle_mark(index, PICK if name == "pick" else REJECT)
    return True


def toggle_compare(state: MutableMapping[str, Any], index: int) -> None:
    """In the comparison or out of it; a fifth choice replaces the oldest."""
    chosen = list(state.get(COMPARE, []))
    if index in chosen:
        chosen.remove(index)
    else:
        chosen = (chosen + [index])[-COMPARED_MAX:]
    state[COMPARE] = chosen
