"""Issue 22 item 4: names, queries and paths the user controls are shown as text in every Markdown place.

Streamlit renders captions, alerts, button labels and tooltips as Markdown: a file named
``![b](https:\\\\host\\beacon.png).png`` became an image the browser fetched. Each place is checked by
rendering what the page sends with markdown-it-py (a CommonMark renderer no one here wrote): no image,
no link, and the name readable as it is.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from helpers import jpeg_bytes, live_view, open_app, png_bytes, slow_down, wait_until

TIMEOUT = 60
BEACON = r"![b](https:\\127.0.0.1:9\beacon.png)"
RENDERER = MarkdownIt("commonmark")


@pytest.fixture
def hostile_folder(tmp_path: Path) -> Path:
    """A folder whose own name, every image's name and a skipped file's name carry the beacon."""
    folder = tmp_path / f"shoot {BEACON}"
    folder.mkdir()
    (folder / f"{BEACON}.png").write_bytes(png_bytes("red"))
    (folder / f"blue {BEACON}.jpg").write_bytes(jpeg_bytes("blue"))
    (folder / f"broken {BEACON}.jpg").write_bytes(jpeg_bytes("white")[:40])
    (folder / f"{BEACON}.txt").write_text("not an image")
    return folder


def markdown_shown(at: AppTest) -> dict[str, str]:
    """Every Markdown string on the page that carries the beacon (or its start) -> its rendering."""
    elements = [*at.caption, *at.error, *at.warning, *at.info, *at.success, *at.markdown]
    texts = [e.value for e in elements]
    for button in at.button:
        texts += [button.label, button.proto.help or ""]
    return {text: RENDERER.render(text) for text in texts if "[b" in text}


def assert_inert(at: AppTest, *readable: str) -> None:
    """No image or link made from a beacon, and each of ``readable`` shown as it is somewhere."""
    shown = markdown_shown(at)
    for text, rendered in shown.items():
        assert "<img" not in rendered and "<a " not in rendered, (text, rendered)
    plain = " | ".join(html.unescape(re.sub(r"<[^>]+>", "", r)) for r in shown.values())
    for text in readable:
        assert text in plain, (text, plain)


def test_a_typed_folder_that_does_not_exist_is_named_as_text(app_env, tmp_path):
    at = open_app()
    missing = str(tmp_path / f"gone {BEACON}")
    at.text_area(key="query").input("a red circle")
    at.text_input(key="folder").input(missing).run()
    assert at.error and at.button(key="run").proto.help  # the error under the field, the reason on the button
    assert_inert(at, missing)
    at.button(key="run").click().run()
    assert_inert(at, missing)


def test_a_model_path_in_the_error_panel_is_text(monkeypatch, tmp_path):
    monkeypatch.setenv("LYCHEE_MODEL", str(tmp_path / f"model {BEACON}"))
    at = open_app()
    assert len(at.error) == 1
    assert_inert(at, f"model {BEACON}")


def test_names_and_queries_are_text_during_and_after_a_run_and_in_recent_runs(app_env, hostile_folder):
    at = open_app()
    query = f"a red circle {BEACON}"
    at.text_area(key="query").input(query)
    at.text_input(key="folder").input(str(hostile_folder)).run()
    at.button(key="run").click().run()
    first = at.session_state["lr_job"]
    assert first.wait(TIMEOUT)
    at.run()
    assert not at.exception, at.exception
    assert any(n for n in first.intake_notes if "beacon" in n)  # the skipped .txt file, under the folder's name
    assert_inert(at, str(hostile_folder))

    # The live places: the latest image's name and warning, the previous run's query.
    variant = first.handle.for_settings(first.settings)
    slow_down(variant, 0.5)
    try:
        at.text_area(key="query").input(f"a blue sky {BEACON}").run()
        at.button(key="run").click().run()
        second = at.session_state["lr_job"]
        # The live view sets every text as textContent (live.js): its feed carries names and queries as they are.
        assert "a red circle ![b]" in live_view(second)["header"]  # the previous query, cut to a label's length
        assert wait_until(lambda: second.progress()[0] >= 1, TIMEOUT)
        at.run()
        live = live_view(second)
        if second.active:  # "Latest: NAME -> score" (every name here carries the beacon)
            assert any("beacon" in line for line in live["lines"]), live["lines"]
        assert all("beacon" in card["name"] for card in live["cards"])
        assert_inert(at)
        assert second.wait(TIMEOUT)
    finally:
        del variant.scorer.score_inputs
    at.run()

    other = open_app()  # a second tab: the first tab's runs under recent runs (localhost), labelled by query
    labels = [b.label for b in other.button if (b.key or "").startswith("recent_")]
    assert any("[b" in label for label in labels), labels
    assert_inert(other, "a blue sky ![b]")
