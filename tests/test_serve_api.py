"""``lychee-rerank serve`` over real HTTP (uvicorn on a free 127.0.0.1 port): the rerank API in every request
shape, the cohere SDK as a client no one here wrote, limits, refusals, the API key, 429 and cancellation.

Scores are compared with ``Reranker.rank`` / ``rank_texts`` on the same inputs: a request sent alone, with no
more documents than a pool holds, is scored in the same batches, so the numbers are equal exactly.
"""

from __future__ import annotations

import http.server
import json
import socket
import struct
import threading
import zlib
from pathlib import Path

import cohere
import httpx
import pytest

from lychee_rerank import Reranker
from lychee_rerank.intake import Document
from lychee_rerank.settings import DEMO_EXAMPLES_DIR

from helpers import jpeg_bytes, png_bytes, wait_until
from serve_helpers import b64, data_uri, live_server, metric

KEY = "s3cret-key"
EXAMPLES = sorted(DEMO_EXAMPLES_DIR.glob("*.png"))


@pytest.fixture(scope="module")
def demo() -> Reranker:
    return Reranker.from_pretrained("demo", device="cpu", batch_size=8)


@pytest.fixture(scope="module")
def demo_url(demo: Reranker):
    with live_server(demo, api_key=KEY) as url:
        yield url


@pytest.fixture(scope="module")
def tiny(tiny_reranker_dir: Path) -> Reranker:
    return Reranker.from_pretrained(str(tiny_reranker_dir), device="cpu", batch_size=4)


def auth(key: str = KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def post(url: str, payload: dict, key: str | None = KEY, path: str = "/v1/rerank") -> httpx.Response:
    headers = auth(key) if key else {}
    return httpx.post(url + path, json=payload, headers=headers, timeout=120)


def scores_by_index(response: httpx.Response) -> dict[int, tuple[float, float, str | None]]:
    assert response.status_code == 200, response.text
    return {r["index"]: (r["relevance_score"], r["score"], r["warning"]) for r in response.json()["results"]}


def expected(ranking) -> dict[int, tuple[float, float, str | None]]:
    return {r.index: (r.p_yes if r.ok else 0.0, r.score, r.warning) for r in ranking}


# ---------------------------------------------------------------- a client no one here wrote


def test_cohere_sdk_texts_equal_rank_texts(demo: Reranker, demo_url: str):
    texts = ["a red circle", "a blue square on yellow", "一个绿色的星星", "a purple circle on mint"]
    client = cohere.ClientV2(base_url=demo_url, api_key=KEY)
    response = client.rerank(model="demo", query="红色圆形", documents=texts, top_n=3)
    reference = demo.rank_texts("红色圆形", texts)
    assert [r.index for r in response.results] == [r.index for r in reference[:3]]
    assert [r.relevance_score for r in response.results] == [r.p_yes for r in reference[:3]]
    assert response.id


def test_cohere_sdk_wrong_key_is_refused(demo_url: str):
    client = cohere.ClientV2(base_url=demo_url, api_key="wrong")
    with pytest.raises(cohere.core.api_error.ApiError) as raised:
        client.rerank(model="demo", query="red", documents=["a red circle"])
    assert raised.value.status_code == 401


# ---------------------------------------------------------------- every request shape, with images


@pytest.mark.parametrize("path", ["/v1/rerank", "/rerank", "/v2/rerank"])
def test_image_documents_in_every_shape_equal_rank(demo: Reranker, demo_url: str, path: str):
    images = [p.read_bytes() for p in EXAMPLES[:4]]
    documents = [
        data_uri(images[0]),  # a string is a text for Cohere/Jina: images come as objects
        {"image": data_uri(images[1])},
        {"image": b64(images[2])},
        {"content": [{"type": "image_url", "image_url": {"url": data_uri(images[3])}}]},
    ]
    response = post(demo_url, {"model": "demo", "query": "a red circle", "documents": documents[1:]}, path=path)
    reference = demo.rank("a red circle", images[1:])
    assert scores_by_index(response) == expected(reference)
    body = response.json()
    assert [r["index"] for r in body["results"]] == [r.index for r in reference], "best first"
    assert all(0.0 <= r["relevance_score"] <= 1.0 for r in body["results"])
    assert body["results"][0]["scored_size"] and body["usage"] == {"documents": 3, "images": 3}
    assert "document" not in body["results"][0]


def test_image_with_text_documents_and_vllm_content(demo: Reranker, demo_url: str):
    red, blue = EXAMPLES[6].read_bytes(), EXAMPLES[0].read_bytes()
    documents = [
        {"text": "a red circle", "image": data_uri(red)},
        {"content": [{"type": "text", "text": "a blue circle"}, {"type": "image_url", "image_url": data_uri(blue)}]},
        "a green star",
    ]
    response = post(demo_url, {"query": "red circle", "documents": documents, "return_documents": True})
    reference = demo.rank("red circle", [Document(image=red, text="a red circle"),
                                         Document(image=blue, text="a blue circle"), Document(text="a green star")])
    assert scores_by_index(response) == expected(reference)
    echoed = {r["index"]: r["document"] for r in response.json()["results"]}
    assert echoed[2] == {"text": "a green star"} and echoed[0]["image"] == data_uri(red)


def test_vllm_documents_object_is_one_document_per_part_and_top_n_0_is_all(demo: Reranker, demo_url: str):
    images = [p.read_bytes() for p in EXAMPLES[:3]]
    documents = {"content": [{"type": "image_url", "image_url": {"url": data_uri(i)}} for i in images]
                 + [{"type": "text", "text": "a red circle"}]}
    response = post(demo_url, {"model": "demo", "query": "a red circle", "documents": documents, "top_n": 0})
    reference = demo.rank("a red circle", [*images, Document(text="a red circle")])
    assert scores_by_index(response) == expected(reference)


def test_cohere_v1_client_with_documents_returned(demo: Reranker, demo_url: str):
    texts = ["a red circle", "a blue square"]
    response = cohere.Client(base_url=demo_url, api_key=KEY).rerank(
        model="demo", query="red", documents=texts, return_documents=True)
    reference = demo.rank_texts("red", texts)
    assert [(r.index, r.relevance_score, r.document.text) for r in response.results] == [
        (r.index, r.p_yes, r.text) for r in reference]


def test_image_query_and_image_with_text_query(demo: Reranker, demo_url: str):
    reference_image = EXAMPLES[6].read_bytes()
    images = [p.read_bytes() for p in EXAMPLES[:5]]
    documents = [{"image": data_uri(i)} for i in images]
    by_image = post(demo_url, {"query": {"image": data_uri(reference_image)}, "documents": documents})
    assert scores_by_index(by_image) == expected(demo.rank(None, images, query_image=reference_image))
    both = post(demo_url, {"query": {"content": [{"type": "image_url", "image_url": {"url": data_uri(reference_image)}},
                                                  {"type": "text", "text": "but blue"}]}, "documents": documents})
    assert scores_by_index(both) == expected(demo.rank("but blue", images, query_image=reference_image))


def test_instruction_and_top_n(demo: Reranker, demo_url: str):
    images = [p.read_bytes() for p in EXAMPLES[:6]]
    response = post(demo_url, {"query": "a square", "documents": [{"image": b64(i)} for i in images],
                               "instruction": "product", "top_n": 2})
    reference = demo.rank("a square", images, instruction="product")
    assert [(r["index"], r["relevance_score"]) for r in response.json()["results"]] == [
        (r.index, r.p_yes) for r in reference[:2]]


def test_corrupt_image_is_a_warned_result(demo: Reranker, demo_url: str):
    images = [png_bytes("red"), jpeg_bytes("white")[:40], b"not an image at all"]
    response = post(demo_url, {"query": "red", "documents": [{"image": data_uri(i)} for i in images]
                               + [{"image": "!!!not base64!!!"}]})
    results = response.json()["results"]
    assert response.status_code == 200 and len(results) == 4
    assert results[0]["index"] == 0 and results[0]["warning"] is None
    assert all(r["warning"] and r["relevance_score"] == 0.0 and r["parse_method"] == "failed" for r in results[1:])


def test_duplicates_within_a_request_are_noted_as_rank_notes_them(demo: Reranker, demo_url: str):
    images = [png_bytes("red"), png_bytes("blue"), png_bytes("red")]
    response = post(demo_url, {"query": "red", "documents": [{"image": data_uri(i)} for i in images]})
    reference = demo.rank("red", images)
    ours, theirs = scores_by_index(response), expected(reference)
    assert ours[0] == theirs[0] and ours[1] == theirs[1]
    assert ours[2][:2] == theirs[2][:2] and "duplicate of" in ours[2][2]


def test_empty_documents_give_empty_results(demo_url: str):
    response = post(demo_url, {"query": "red", "documents": []})
    assert response.status_code == 200 and response.json()["results"] == []


@pytest.mark.parametrize("query", ["", "   ", {"text": ""}, {}])
def test_empty_query_is_422(demo_url: str, query):
    response = post(demo_url, {"query": query, "documents": ["a"]})
    assert response.status_code == 422 and "query is empty" in response.json()["message"]


def test_bad_shapes_are_422(demo_url: str):
    assert post(demo_url, {"query": "red"}).status_code == 422  # no documents
    assert post(demo_url, {"query": "red", "documents": [{}]}).status_code == 422
    two_images = {"content": [{"type": "image_url", "image_url": "data:,x"}, {"type": "image", "image": "data:,y"}]}
    assert post(demo_url, {"query": "red", "documents": [two_images]}).status_code == 422
    unreadable_query = post(demo_url, {"query": {"image": data_uri(b"garbage")}, "documents": ["a"]})
    assert unreadable_query.status_code == 422 and "query image" in unreadable_query.json()["message"]


# ---------------------------------------------------------------- health, models, metrics, docs


def test_health_models_metrics_docs(demo_url: str):
    assert httpx.get(demo_url + "/health").json()["status"] == "ready"  # open without the key
    models = httpx.get(demo_url + "/v1/models", headers=auth()).json()
    assert models["data"][0]["id"] == "demo" and models["data"][0]["mode"] == "yesno"
    assert models["data"][0]["family"] == "lychee"  # the demo is a Qwen2.5-VL judge: lychee's recipe
    post(demo_url, {"query": "red", "documents": ["a red circle"]})
    text = httpx.get(demo_url + "/metrics", headers=auth()).text
    for name in ("lychee_requests_total", "lychee_request_seconds_bucket", "lychee_documents_scored_total",
                 "lychee_queue_documents", "lychee_batch_documents_bucket", "lychee_requests_in_flight"):
        assert name in text
    assert 'lychee_requests_total{route="/v1/rerank",status="200"}' in text
    assert httpx.get(demo_url + "/docs").status_code == 200
    assert "/v1/rerank" in httpx.get(demo_url + "/openapi.json").json()["paths"]


def test_api_key_missing_or_wrong_is_401(demo_url: str):
    payload = {"query": "red", "documents": ["a red circle"]}
    for headers in ({}, auth("wrong"), {"Authorization": KEY}, auth(KEY + "x")):
        response = httpx.post(demo_url + "/v1/rerank", json=payload, headers=headers)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["type"] == "unauthorized"
    assert httpx.get(demo_url + "/metrics").status_code == 401
    assert httpx.get(demo_url + "/v1/models").status_code == 401


# ---------------------------------------------------------------- limits


def test_limits_answer_413_naming_the_limit(demo: Reranker):
    with live_server(demo, max_body_bytes=20_000, max_documents=3, max_image_pixels=100 * 100) as url:
        big = post(url, {"query": "red", "documents": ["x" * 30_000]}, key=None)
        assert big.status_code == 413 and big.json()["error"] == {"type": "limit_exceeded", "limit": "max_body_bytes",
                                                                  "value": 20_000}

        def chunked():  # no Content-Length: the limit is enforced on the streamed body
            for _ in range(30):
                yield b"x" * 1_000

        streamed = httpx.post(url + "/v1/rerank", content=chunked(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413 and streamed.json()["error"]["limit"] == "max_body_bytes"
        many = post(url, {"query": "red", "documents": ["a", "b", "c", "d"]}, key=None)
        assert many.status_code == 413 and many.json()["error"] == {"type": "limit_exceeded", "limit": "max_documents",
                                                                    "value": 3}
        pixels = post(url, {"query": "red", "documents": [{"image": data_uri(png_bytes("red", (101, 100)))}]}, key=None)
        assert pixels.status_code == 413 and pixels.json()["error"]["limit"] == "max_image_pixels"
        assert "10000" in pixels.json()["message"]
        assert post(url, {"query": "red", "documents": [{"image": data_uri(png_bytes("red", (100, 100)))}]},
                    key=None).status_code == 200
        for side in (7_000, 20_000):  # headers alone: 49 M pixels, and one Pillow refuses to open (400 M)
            declared = post(url, {"query": "red", "documents": [{"image": data_uri(png_header(side, side))}]}, key=None)
            assert declared.status_code == 413 and declared.json()["error"]["limit"] == "max_image_pixels"


def png_header(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` and holds no pixels (all a size check may read)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


# ---------------------------------------------------------------- URLs and server paths


class _ImageHandler(http.server.BaseHTTPRequestHandler):
    """A little image site: /red.png, /missing (404), /big (over the cap), /stream (over it, no length),
    /slow (answers only when the test ends), /hop/N (redirects N times, then the image)."""

    hits = 0
    release = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        type(self).hits += 1
        path = self.path
        if path.startswith("/hop/") and int(path.rsplit("/", 1)[1]) > 0:
            self.send_response(302)
            self.send_header("Location", f"/hop/{int(path.rsplit('/', 1)[1]) - 1}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == "/missing":
            self.send_error(404)
            return
        if path == "/slow":
            self.release.wait(120)
        body = png_bytes("red") if path in ("/red.png", "/slow") or path.startswith("/hop/") else b"x" * 50_000
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        if path != "/stream":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass

class _QuietSite(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up (the slow and oversized answers) is expected here


@pytest.fixture
def local_image_site():
    site = _QuietSite(("127.0.0.1", 0), _ImageHandler)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    _ImageHandler.hits = 0
    _ImageHandler.release.clear()
    yield f"http://127.0.0.1:{site.server_address[1]}/red.png", f"http://localhost:{site.server_address[1]}/red.png"
    _ImageHandler.release.set()
    site.shutdown()


def test_urls_refused_without_allow_urls(demo_url: str, local_image_site):
    response = post(demo_url, {"query": "red", "documents": [{"image": local_image_site[0]}]})
    assert response.status_code == 403 and "--allow-urls" in response.json()["message"]
    assert _ImageHandler.hits == 0


def test_private_addresses_refused_with_allow_urls(demo: Reranker, local_image_site):
    with live_server(demo, allow_urls=True) as url:
        for target in (*local_image_site, "http://169.254.169.254/latest/meta-data/", "http://[::1]:9/x.png",
                       "http://10.0.0.1/x.png", "http://[::ffff:127.0.0.1]/x.png"):
            response = post(url, {"query": "red", "documents": [{"image": target}]}, key=None)
            assert response.status_code == 403, (target, response.text)
            assert "public addresses" in response.json()["message"]
        query_url = post(url, {"query": {"image": local_image_site[0]}, "documents": ["a"]}, key=None)
        assert query_url.status_code == 403
    assert _ImageHandler.hits == 0, "nothing was fetched from inside the network"


def test_fetching_with_private_addresses_allowed_is_capped(demo: Reranker, local_image_site):
    """--allow-private-urls (an internal image server) lets the fetch itself be tested here, caps and all."""
    base = local_image_site[0].rsplit("/", 1)[0]
    # The time cap is generous: the other fetches must finish within it on a loaded machine too.
    with live_server(demo, allow_urls=True, allow_private_urls=True, max_fetch_bytes=10_000,
                     fetch_timeout_s=10.0) as url:
        names = ["red.png", "hop/3", "missing", "big", "stream", "slow", "hop/4"]
        response = post(url, {"query": "red", "documents": [{"image": f"{base}/{n}"} for n in names]}, key=None)
        results = scores_by_index(response)
        reference = expected(demo.rank("red", [png_bytes("red")]))[0]
        assert results[0] == reference
        assert results[1][:2] == reference[:2] and "duplicate of" in results[1][2], "3 redirects are followed"
        assert "HTTP 404" in results[2][2]
        assert "10000-byte limit" in results[3][2] and "10000-byte limit" in results[4][2]
        assert "longer than 10 s" in results[5][2]
        assert "more than 3 redirects" in results[6][2]


def test_paths_refused_without_allow_path(demo_url: str):
    for reference in (str(EXAMPLES[0]), f"file://{EXAMPLES[0]}"):
        response = post(demo_url, {"query": "red", "documents": [{"image": reference}]})
        assert response.status_code == 403 and "--allow-path" in response.json()["message"]


def test_paths_confined_to_root(demo: Reranker, tmp_path: Path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "red.png").write_bytes(png_bytes("red"))
    (outside / "secret.png").write_bytes(png_bytes("blue"))
    (root / "link.png").symlink_to(outside / "secret.png")
    (root / "dirlink").symlink_to(outside)
    with live_server(demo, allow_path=root) as url:
        inside = post(url, {"query": "red", "documents": [{"image": str(root / "red.png")}, {"image": "red.png"},
                                                          {"image": f"file://{root}/red.png"},
                                                          {"image": "missing.png"}]}, key=None)
        results = scores_by_index(inside)
        assert results[0][:2] == expected(demo.rank("red", [png_bytes("red")]))[0][:2]
        assert "no such file" in results[3][2]
        odd = post(url, {"query": "red", "documents": [{"image": "bad\u0000name.png"}, {"image": "x" * 5000 + ".png"}]},
                   key=None)
        assert odd.status_code == 200 and all(r["warning"] for r in odd.json()["results"])
        for escape in ("../outside/secret.png", str(root / ".." / "outside" / "secret.png"), "link.png",
                       "dirlink/secret.png", "/etc/passwd", f"file://{outside}/secret.png"):
            response = post(url, {"query": "red", "documents": [{"image": escape}]}, key=None)
            assert response.status_code == 403, (escape, response.text)
            assert "outside the folder" in response.json()["message"]


# ---------------------------------------------------------------- the queue: 429, and a client that leaves


def test_full_queue_answers_429_with_retry_after(tiny: Reranker):
    with live_server(tiny, queue_documents=4) as url:
        payload = {"query": "red", "documents": [{"image": data_uri(png_bytes(c))} for c in ("red", "blue", "green")]}
        answers: list[httpx.Response] = []
        with tiny._lock:  # the model is busy with another caller: the first request waits in the queue
            first = threading.Thread(target=lambda: answers.append(post(url, payload, key=None)))
            first.start()
            assert wait_until(lambda: httpx.get(url + "/health").json()["queue_documents"] == 3, timeout=60)
            refused = post(url, payload, key=None)
            assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
            assert refused.json()["error"] == {"type": "queue_full", "limit": "queue_documents", "value": 4}
        first.join(120)
        assert answers[0].status_code == 200 and len(answers[0].json()["results"]) == 3


def test_a_client_that_disconnects_has_its_remaining_work_cancelled(tiny: Reranker):
    with live_server(tiny, pool_documents=2) as url:
        colours = ("red", "blue", "green", "yellow", "white", "black")
        body = json.dumps({"query": "red", "documents": [{"image": data_uri(png_bytes(c))} for c in colours]}).encode()
        port = int(url.rsplit(":", 1)[1])
        with tiny._lock:  # the model is busy with another caller: the worker's first pool (2 documents) waits
            client = socket.create_connection(("127.0.0.1", port), timeout=60)
            client.sendall(f"POST /v1/rerank HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            assert wait_until(lambda: metric(url, "lychee_queue_documents") == 4, timeout=60), "first pool taken"
            client.close()  # the client goes away while 4 of its documents still wait
            assert wait_until(lambda: metric(url, "lychee_documents_cancelled_total") == 4, timeout=60)
        assert wait_until(lambda: httpx.get(url + "/health").json()["queue_documents"] == 0, timeout=60)
        after = post(url, {"query": "red", "documents": ["a red circle"]}, key=None)
        assert after.status_code == 200, "the worker goes on serving"
        # The pool already handed to the engine was stopped too (its only client had gone): none of the 6 ran.
        assert metric(url, "lychee_documents_scored_total") == 1


def test_tiny_model_every_shape(tiny: Reranker):
    with live_server(tiny) as url:
        red = png_bytes("red")
        documents = [{"image": data_uri(red)}, {"text": "t", "image": b64(jpeg_bytes("blue"))}, "a text",
                     {"content": [{"type": "image_url", "image_url": {"url": data_uri(png_bytes("green"))}}]}]
        response = post(url, {"query": {"text": "red", "image": data_uri(red)}, "documents": documents}, key=None)
        assert response.status_code == 200
        results = response.json()["results"]
        assert sorted(r["index"] for r in results) == [0, 1, 2, 3]
        assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
