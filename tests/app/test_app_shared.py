"""Issue 22 item 7: on a network (0.0.0.0) the operator chooses the models; visitors cannot type a path.

A free-text model field let any visitor probe the server's paths ("/root/.ssh is incomplete: missing
config.json") and unload the shared model for everyone by asking for another one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit import config
from streamlit.testing.v1 import AppTest

from lychee_rerank.app import page

from helpers import APP, make_image_folder, open_app

TIMEOUT = 60


@pytest.fixture
def on_a_network(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    yield
    config.set_option("server.address", before)


def everything_shown(at: AppTest) -> str:
    """The page's texts a visitor can read: alerts, captions, Markdown, labels, tooltips and choices."""
    parts = [e.value for e in (*at.error, *at.warning, *at.info, *at.caption, *at.markdown)]
    for widget in (*at.selectbox, *at.button, *at.text_input, *at.radio):
        parts += [str(widget.label), str(widget.proto.help or "")]
    for box in at.selectbox:
        parts += [str(option) for option in box.options]
    return "\n".join(parts)


def test_visitors_choose_among_the_operators_models_and_never_see_their_paths(
    on_a_network, monkeypatch, tiny_reranker_dir: Path, tiny_instruct_dir: Path, tmp_path: Path
):
    monkeypatch.setenv("LYCHEE_MODELS", f"{tiny_reranker_dir}, {tiny_instruct_dir}")
    at = open_app()
    assert not [w for w in at.text_input if w.key == "model"]  # no free-text model field
    chooser = at.selectbox(key="model")
    assert list(chooser.options) == [tiny_reranker_dir.name, tiny_instruct_dir.name]
    assert at.selectbox(key="dtype").disabled
    assert str(tiny_reranker_dir.parent) not in everything_shown(at)

    chooser.set_value(str(tiny_instruct_dir)).run()
    assert not at.exception and not at.error
    assert at.session_state["model"] == str(tiny_instruct_dir)

    folder = make_image_folder(tmp_path / "images")
    at.text_area(key="query").input("a red circle").run()
    # The folder field is hidden on a network, so a restored session's folder is never read either.
    assert not [w for w in at.text_input if w.key == "folder"]
    at.session_state["folder"] = str(folder)
    at.run()
    assert at.button(key="run").proto.help  # no images: the run is not offered


def test_a_model_the_operator_chose_that_fails_to_load_names_no_server_path(on_a_network, monkeypatch, tmp_path):
    secret = tmp_path / "private-place" / "ssh-keys"
    secret.mkdir(parents=True)  # a folder without config.json: "is incomplete" on a local page
    monkeypatch.setenv("LYCHEE_MODEL", str(secret))
    monkeypatch.delenv("LYCHEE_MODELS", raising=False)
    at = open_app()
    assert len(at.error) == 1
    shown = everything_shown(at)
    assert "ssh" in at.error[0].value and "private-place" not in shown and "config.json" not in shown


def test_a_visitor_cannot_ask_for_a_model_the_operator_did_not_offer(on_a_network, monkeypatch, tiny_reranker_dir):
    monkeypatch.setenv("LYCHEE_MODEL", str(tiny_reranker_dir))
    monkeypatch.delenv("LYCHEE_MODELS", raising=False)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["model"] = "/etc"  # e.g. a value carried over in a restored session
    at.run()
    assert not at.exception, at.exception
    assert at.session_state["model"] == str(tiny_reranker_dir) and not at.error


def test_the_operators_models_come_from_the_environment():
    assert page.operator_models({"LYCHEE_MODELS": " a , b,,", "LYCHEE_MODEL": "c"}) == ["a", "b"]
    assert page.operator_models({"LYCHEE_MODEL": "c"}) == ["c"] and page.operator_models({}) == ["demo"]
    assert page.model_display_name("/models/lychee-rerank-mm") == "lychee-rerank-mm"
    assert page.model_display_name("vec-ai/lychee-rerank-mm") == "vec-ai/lychee-rerank-mm"
