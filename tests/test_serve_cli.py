"""``lychee-rerank serve``'s command line and start-up: safe binding, checked settings, /health while loading."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx
import pytest

from lychee_rerank import Reranker
from lychee_rerank.cli import build_parser, main
from lychee_rerank.errors import ModelNotFoundError
from lychee_rerank.serve.command import settings_from_args
from lychee_rerank.serve.config import ServeSettings, is_loopback
from lychee_rerank.serve.errors import UnsafeBindError

from helpers import wait_until
from serve_helpers import live_server


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.com"])
def test_refuses_to_listen_beyond_loopback_without_a_key(host: str, capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("LYCHEE_API_KEY", raising=False)
    assert main(["serve", "--model", "demo", "--host", host]) == 1
    error = capsys.readouterr().err
    assert "without an API key" in error and "--insecure" in error and error.count("\n") == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_key(host: str):
    assert is_loopback(host)
    ServeSettings(host=host).check_bind()


def test_a_key_or_insecure_allows_other_addresses(monkeypatch: pytest.MonkeyPatch):
    ServeSettings(host="0.0.0.0", api_key="k").check_bind()
    ServeSettings(host="0.0.0.0", insecure=True).check_bind()
    with pytest.raises(UnsafeBindError):
        ServeSettings(host="0.0.0.0").check_bind()
    monkeypatch.setenv("LYCHEE_API_KEY", "from-env")
    args = build_parser().parse_args(["serve", "--model", "demo", "--host", "0.0.0.0"])
    settings = settings_from_args(args)
    assert settings.api_key == "from-env"
    settings.check_bind()


def test_serve_options_and_defaults(tmp_path: Path):
    args = build_parser().parse_args(["serve", "--model", "demo", "--allow-path", str(tmp_path), "--allow-urls",
                                      "--max-documents", "10", "--max-body-mib", "1"])
    settings = settings_from_args(args)
    assert (settings.host, settings.port, settings.allow_urls) == ("127.0.0.1", 8000, True)
    assert settings.allow_path == tmp_path.resolve() and settings.max_body_bytes == 1024**2
    assert args.batch_size == "auto" and settings.served_model_name == "demo"
    assert build_parser().parse_args(["serve", "--model", "demo"]).allow_urls is False


def test_allow_path_must_be_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["serve", "--model", "demo", "--allow-path", str(tmp_path / "missing")]) == 1
    assert "not a folder" in capsys.readouterr().err


def test_health_is_503_until_the_model_is_loaded():
    release = threading.Event()

    def load() -> Reranker:
        release.wait(120)
        return Reranker.from_pretrained("demo", device="cpu")

    with live_server(load) as url:
        health = httpx.get(url + "/health")
        assert health.status_code == 503 and health.json()["status"] == "loading"
        early = httpx.post(url + "/v1/rerank", json={"query": "red", "documents": ["a"]})
        assert early.status_code == 503 and early.headers["retry-after"] == "1"
        release.set()
        assert wait_until(lambda: httpx.get(url + "/health").status_code == 200, timeout=120)
        assert httpx.post(url + "/v1/rerank", json={"query": "red", "documents": ["a"]}).status_code == 200


def test_a_model_that_fails_to_load_is_reported_on_health():
    def load() -> Reranker:
        raise ModelNotFoundError("no model at /nowhere; give a folder with config.json")

    with live_server(load) as url:
        assert wait_until(lambda: httpx.get(url + "/health").json()["status"] == "failed", timeout=60)
        assert "no model at /nowhere" in httpx.get(url + "/health").json()["error"]
