"""Every query shape (text, image, image + text) against every document shape (image, text, image + text)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from lychee_rerank import Document, QueryImageError, Reranker
from lychee_rerank.cli import main
from lychee_rerank.scoring.prompts import TASK_INSTRUCTIONS, Content, yesno_messages

from helpers import ForwardCounter, jpeg_bytes, png_bytes

QUERY_SHAPES = {
    "text": {"query": "a red dress 红色连衣裙"},
    "image": {"query": None, "query_image": ("reference.png", png_bytes("red", (120, 90)))},
    "image+text": {"query": "but in a light theme", "query_image": ("reference.png", png_bytes("red", (120, 90)))},
}
TEXTS = ["a red dress on a beach", "a blue sky", "一件红色连衣裙", "a green wide field"]


def image_documents() -> list:
    return [("red.png", png_bytes("red")), ("blue.jpg", jpeg_bytes("blue", (200, 80))),
            ("green.png", png_bytes("green", (64, 300))), ("purple.png", png_bytes("purple", (90, 90)))]


def pair_documents() -> list[Document]:
    return [Document(image=data, text=text, name=name) for (name, data), text in zip(image_documents(), TEXTS)]


def rank(reranker: Reranker, query_shape: str, document_shape: str):
    kwargs = dict(QUERY_SHAPES[query_shape])
    query = kwargs.pop("query")
    if document_shape == "text":
        return reranker.rank_texts(query, TEXTS, **kwargs)
    documents = image_documents() if document_shape == "image" else pair_documents()
    return reranker.rank(query, documents, **kwargs)


@pytest.mark.parametrize("document_shape", ["image", "text", "image+text"])
@pytest.mark.parametrize("query_shape", list(QUERY_SHAPES))
def test_every_query_shape_against_every_document_shape(tiny_reranker, query_shape, document_shape):
    ranking = rank(tiny_reranker, query_shape, document_shape)
    assert [r.rank for r in ranking] == [1, 2, 3, 4] and sorted(r.index for r in ranking) == [0, 1, 2, 3]
    assert all(r.parse_method == "yesno" and 0 <= r.score <= 10 and r.warning is None for r in ranking)
    scores = [r.score for r in ranking]
    assert scores == sorted(scores, reverse=True)
    expected = TASK_INSTRUCTIONS[(query_shape, "text" if document_shape == "text" else "image")]
    assert {r.instruction for r in ranking} == {expected}
    by_index = sorted(ranking, key=lambda r: r.index)
    if document_shape == "image":
        assert all(r.text is None and r.scored_size for r in by_index)
    else:
        assert [r.text for r in by_index] == TEXTS
    if document_shape == "text":
        assert all(r.path is None and r.scored_size is None for r in by_index)
        assert [r.name for r in by_index] == TEXTS


def render(reranker: Reranker, query: Content, document: Content) -> str:
    messages = yesno_messages(query, document, "INSTR")
    return reranker.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def test_the_chat_template_follows_the_published_layout_for_every_shape(tiny_reranker):
    image = Image.new("RGB", (56, 56), "red")
    slot = "<|vision_start|><|image_pad|><|vision_end|>"
    head = "<|im_start|>user\n<Instruct>: INSTR<Query>:"
    cases = [
        (Content(text="q"), Content(image=image), f"{head}q\n<Document>:{slot}<|im_end|>"),
        (Content(image=image), Content(image=image), f"{head}{slot}\n<Document>:{slot}<|im_end|>"),
        (Content(text="q", image=image), Content(image=image), f"{head}{slot}q\n<Document>:{slot}<|im_end|>"),
        (Content(image=image), Content(text="d"), f"{head}{slot}\n<Document>:d<|im_end|>"),
        (Content(text="q"), Content(text="d"), f"{head}q\n<Document>:d<|im_end|>"),
        (Content(text="q"), Content(text="d", image=image), f"{head}q\n<Document>:{slot}d<|im_end|>"),
    ]
    for query, document, expected in cases:
        rendered = render(tiny_reranker, query, document)
        assert expected in rendered, rendered
        assert rendered.startswith("<|im_start|>system\nJudge whether the Document meets the requirements")
        assert rendered.endswith("<|im_start|>assistant\n")


@pytest.mark.parametrize("query_shape", ["image", "image+text"])
def test_two_images_per_sample_batch_like_one(tiny_reranker_dir: Path, query_shape):
    """Images of different sizes in one batch: each document gets its own grid, not the query's."""
    scores, sizes = {}, {}
    for batch_size in (1, 4):
        reranker = Reranker.from_pretrained(str(tiny_reranker_dir), device="cpu", batch_size=batch_size)
        with ForwardCounter(reranker.model) as counter:
            ranking = rank(reranker, query_shape, "image")
        assert counter.calls == (4 if batch_size == 1 else 1)
        scores[batch_size] = {r.index: r.score for r in ranking}
        sizes[batch_size] = {r.index: r.scored_size for r in ranking}
    assert scores[1] == pytest.approx(scores[4], abs=1e-4)
    assert sizes[1] == sizes[4] == {0: (56, 56), 1: (196, 84), 2: (56, 308), 3: (84, 84)}


def test_an_unreadable_query_image_is_an_error_not_a_placeholder(tiny_reranker):
    with ForwardCounter(tiny_reranker.model) as counter, pytest.raises(QueryImageError, match="broken.jpg"):
        tiny_reranker.rank(None, image_documents(), query_image=("broken.jpg", jpeg_bytes("red")[:40]))
    assert counter.calls == 0


def test_the_query_image_among_the_candidates_is_ranked_and_marked(tiny_reranker):
    reference = ("reference.png", png_bytes("red", (120, 90)))
    ranking = tiny_reranker.rank(None, [*image_documents(), reference], query_image=reference)
    marked = [r for r in ranking if "this is the query image" in r.notes]
    assert [r.name for r in marked] == ["reference.png"] and marked[0].ok


def test_generate_mode_with_a_reference_image(tiny_instruct_dir: Path):
    reranker = Reranker.from_pretrained(str(tiny_instruct_dir), device="cpu", mode="generate")
    ranking = reranker.rank("light theme", image_documents()[:2], query_image=png_bytes("red"))
    assert len(ranking) == 2 and {r.parse_method for r in ranking} <= {"primary", "fallback", "none"}


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture
def run_cli(capsys):
    def run(*args: str) -> tuple[int, str, str]:
        code = main(["-q", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_cli_query_image_ranks_paths(run_cli, tiny_reranker_dir: Path, five_image_folder: Path):
    reference = five_image_folder / "red_dress.png"
    code, out, err = run_cli("rank", "--model", str(tiny_reranker_dir), "--query-image", str(reference),
                             "--format", "json", str(five_image_folder))
    assert code == 0, err
    records = json.loads(out)
    assert sorted(r["name"] for r in records) == sorted(p.name for p in five_image_folder.iterdir())
    assert next(r for r in records if r["name"] == "red_dress.png")["notes"] == ["this is the query image"]
    assert {r["instruction"] for r in records} == {TASK_INSTRUCTIONS[("image", "image")]}


@pytest.mark.parametrize("jsonl", [False, True])
def test_cli_texts(run_cli, tiny_reranker_dir: Path, tmp_path: Path, jsonl: bool):
    file = tmp_path / ("texts.jsonl" if jsonl else "texts.txt")
    lines = [json.dumps({"text": t, "id": i}, ensure_ascii=False) for i, t in enumerate(TEXTS)] if jsonl else TEXTS
    file.write_text("\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]) + "\n", encoding="utf-8")
    code, out, err = run_cli("rank", "--model", str(tiny_reranker_dir), "--query", "red dress", "--texts", str(file),
                             "--format", "json")
    assert code == 0, err
    records = json.loads(out)
    assert sorted(r["text"] for r in records) == sorted(TEXTS)
    assert all(r["path"] is None and r["name"] == r["text"] for r in records)
    assert {"rank", "name", "text", "path", "score", "raw_output", "parse_method", "warning"} <= set(records[0])


def test_cli_bad_query_image_and_missing_paths_are_one_line_errors(
    run_cli, tiny_reranker_dir, five_image_folder, tmp_path
):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(jpeg_bytes("red")[:40])
    for args, needle in [
        (["--query-image", str(broken), str(five_image_folder)], "broken.jpg"),
        (["--query-image", str(tmp_path / "nope.png"), str(five_image_folder)], "nope.png"),
        (["--query", "red", str(tmp_path / "no-such-folder")], "no-such-folder"),
        (["--query", "red"], "no PATH"),
        (["--query", "red", "--texts", str(tmp_path / "none.txt")], "none.txt"),
    ]:
        code, _, err = run_cli("rank", "--model", str(tiny_reranker_dir), *args)
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 1 and len(lines) == 1 and needle in lines[0] and "Traceback" not in err, err


@pytest.mark.parametrize("documents", ["images", "texts"])
@pytest.mark.parametrize("query_shape", list(QUERY_SHAPES))
def test_cli_every_query_shape(run_cli, tiny_reranker_dir: Path, five_image_folder: Path, tmp_path: Path,
                               query_shape: str, documents: str):
    reference = tmp_path / "reference.png"
    reference.write_bytes(png_bytes("red", (120, 90)))
    args = ["--query", "red dress"] if "text" in query_shape else []
    args += ["--query-image", str(reference)] if "image" in query_shape else []
    if documents == "texts":
        texts = tmp_path / "texts.txt"
        texts.write_text("\n".join(TEXTS), encoding="utf-8")
        args += ["--texts", str(texts)]
    else:
        args.append(str(five_image_folder))
    code, out, err = run_cli("rank", "--model", str(tiny_reranker_dir), "--format", "json", *args)
    assert code == 0, err
    records = json.loads(out)
    assert len(records) == (4 if documents == "texts" else 5) and [r["rank"] for r in records] == list(
        range(1, len(records) + 1))
    task = (query_shape, "text" if documents == "texts" else "image")
    assert {r["instruction"] for r in records} == {TASK_INSTRUCTIONS[task]}
