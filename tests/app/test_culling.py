"""Marks from the full-size view: each applied once, in key-press order, only to images the view showed."""

from __future__ import annotations

from lychee_rerank.app import viewer
from lychee_rerank.app.culling import PICK, REJECT, ViewSession, apply_report
from lychee_rerank.results import RankResult

SHOWN = frozenset(range(10))


def report(session: ViewSession, events: list, index: int = 0, closed: bool = False) -> dict:
    return {"view": session.view_id, "index": index, "events": events, "closed": closed}


def test_events_apply_in_key_press_order_whatever_order_they_arrive_in():
    session, marks = ViewSession(index=0), {}
    applied = apply_report(session, report(session, [[3, 1, REJECT], [1, 1, PICK], [2, 1, None]]), marks, SHOWN)
    assert applied == 3 and marks == {1: REJECT} and session.applied == 3


def test_a_report_resent_with_more_events_applies_only_the_new_ones():
    session, marks = ViewSession(index=0), {}
    first = [[1, 0, PICK], [2, 1, REJECT]]
    assert apply_report(session, report(session, first), marks, SHOWN) == 2
    marks[0] = REJECT  # the user changed it on the card meanwhile: an old event must not undo that
    assert apply_report(session, report(session, first + [[3, 2, PICK]]), marks, SHOWN) == 1
    assert marks == {0: REJECT, 1: REJECT, 2: PICK}
    assert apply_report(session, report(session, first + [[3, 2, PICK]]), marks, SHOWN) == 0


def test_reports_from_another_opening_or_malformed_events_change_nothing():
    session, marks = ViewSession(index=0), {}
    other = ViewSession(index=0)
    assert apply_report(session, report(other, [[1, 0, PICK]]), marks, SHOWN) == 0
    bad = [[True, 0, PICK], [1, "0", PICK], [2, 0, "delete"], [3, 0], "junk", [4.0, 0, PICK], [5, 99, PICK]]
    assert apply_report(session, report(session, bad, index=99), marks, SHOWN) == 0
    assert marks == {} and session.index == 0  # index 99 was never shown
    assert apply_report(session, None, marks, SHOWN) == 0 and apply_report(session, "x", marks, SHOWN) == 0
    assert session.applied == 5  # the unknown image's event is used up, not applied later


def test_the_position_and_the_close_are_taken_from_the_report():
    session, marks = ViewSession(index=0), {}
    apply_report(session, report(session, [], index=7), marks, SHOWN)
    assert session.index == 7 and not session.closed
    apply_report(session, report(session, [[1, 7, PICK]], index=7, closed=True), marks, SHOWN)
    assert session.closed and marks == {7: PICK}


def result(index: int, text: str | None = None) -> RankResult:
    return RankResult(rank=index + 1, index=index, name=f"<b>{index}</b>.png", score=9.0 - index, raw_output="",
                      parse_method="yesno", text=text)


def test_the_payload_has_every_item_and_details_around_the_image_on_screen():
    results = [result(i) for i in range(12)]
    session = ViewSession(index=5)
    data = viewer.payload(session, results, {5: PICK}, rank_line=lambda r: f"#{r.rank}",
                          describe=lambda r: {"output": r.raw_output}, thumbnail=lambda i: b"thumb%d" % i,
                          preview=lambda i: b"preview%d" % i, labels={"pick": "Pick"})
    assert [item["i"] for item in data["items"]] == list(range(12))
    assert data["items"][5]["mark"] == PICK and data["items"][0]["name"] == "<b>0</b>.png"  # escaped by the view
    assert sorted(map(int, data["details"])) == list(range(5 - viewer.BEHIND, 5 + viewer.AHEAD + 1))
    assert data["details"]["5"]["src"].startswith("data:image/jpeg;base64,")  # no server here: inline
    assert (data["view"], data["start"], data["acked"]) == (session.view_id, 5, 0)


def test_texts_carry_their_text_and_no_images():
    results = [result(0, "red silk dress"), result(1, "blue jacket")]
    data = viewer.payload(ViewSession(index=0), results, {}, rank_line=str, describe=lambda r: {},
                          thumbnail=None, preview=None, labels={})
    assert [item["text"] for item in data["items"]] == ["red silk dress", "blue jacket"]
    assert all("thumb" not in item for item in data["items"]) and "src" not in data["details"]["0"]
