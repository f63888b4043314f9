"""The cards' buttons: what a press reported by the browser does, and the HTML they are drawn as."""

from __future__ import annotations

import re

import pytest

from lychee_rerank.app import card_actions
from lychee_rerank.app.card_actions import COMPARE, VIEW, apply, buttons_html
from lychee_rerank.app.culling import PICK, REJECT
from lychee_rerank.app.jobs import Job


def finished_job(total: int = 6) -> Job:
    job = Job(handle=None, engine=None, settings=None, query="q", instruction=None, uploads=[])
    job._progress = (total, total, None)
    return job


def test_view_opens_the_full_size_view_on_that_image():
    job, state = finished_job(), {}
    assert apply({"act": "view", "i": 3}, job, state)
    assert state[VIEW].index == 3 and not state[VIEW].closed


def test_pick_and_reject_toggle_the_mark():
    job, state = finished_job(), {}
    apply({"act": "pick", "i": 2}, job, state)
    apply({"act": "reject", "i": 4}, job, state)
    assert job.marks == {2: PICK, 4: REJECT}
    apply({"act": "reject", "i": 2}, job, state)  # the other mark replaces it
    apply({"act": "reject", "i": 4}, job, state)  # the same mark again clears it
    assert job.marks == {2: REJECT}


def test_compare_adds_removes_and_keeps_the_latest_four():
    job, state = finished_job(), {}
    for index in (0, 1, 2, 3):
        apply({"act": "cmp", "i": index}, job, state)
    apply({"act": "cmp", "i": 1}, job, state)
    assert state[COMPARE] == [0, 2, 3]
    apply({"act": "cmp", "i": 4}, job, state)
    apply({"act": "cmp", "i": 5}, job, state)
    assert state[COMPARE] == [2, 3, 4, 5]  # a fifth choice replaced the oldest


@pytest.mark.parametrize("report", [None, "pick", {"act": "delete", "i": 1}, {"act": "pick"}, {"act": "pick", "i": 6},
                                    {"act": "pick", "i": -1}, {"act": "pick", "i": "1"}, {"act": "pick", "i": True},
                                    {"act": "view", "i": 1.0}])
def test_a_report_that_names_no_button_or_no_input_does_nothing(report):
    job, state = finished_job(), {}
    assert not apply(report, job, state)
    assert job.marks == {} and state == {}


def test_the_buttons_are_labelled_escaped_and_show_what_is_on():
    labels = {"view": "大图", "pick": "✓ 选中", "reject": "✗ 排除", "view_help": 'open "it" <large>',
              "pick_help": "pick", "reject_help": "reject", "compare_toggle": "compare"}
    drawn = buttons_html(7, {"pick": True, "cmp": True}, labels.get, icons_only=False)
    assert drawn.count("<button") == 4 and drawn.count('data-i="7"') == 4
    assert 'title="open &quot;it&quot; &lt;large&gt;"' in drawn and "<large>" not in drawn
    assert 'class="lr-act lr-act-pick lr-on" data-act="pick"' in drawn and ">✓ 选中</button>" in drawn
    assert 'class="lr-act lr-act-cmp lr-on"' in drawn and 'class="lr-act lr-act-reject"' in drawn
    narrow = buttons_html(7, {}, labels.get, icons_only=True)
    assert re.findall(r">([^<]*)</button>", narrow) == [icon for icon, _, _ in card_actions.BUTTONS.values()]
