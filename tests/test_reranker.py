"""End to end on a tiny random Qwen2.5-VL on the CPU: both modes, batching, stop, failures."""

from __future__ import annotations

import dataclasses
import io
import threading
from pathlib import Path

import pytest
import torch
from PIL import Image

from lychee_rerank import InvalidQueryError, InvalidSettingError, Reranker, TooManyImagesError
from lychee_rerank.settings import PARSE_FAILED, PARSE_SKIPPED

from helpers import TINY, ForwardCounter, assert_contract, build_tiny_model, jpeg_bytes, png_bytes

QUERY = "red dress 红色连衣裙"


def mixed_images() -> list:
    return [
        ("red.png", png_bytes("red")),
        ("blue.jpg", jpeg_bytes("blue")),
        ("corrupt.jpg", b"\xff\xd8\xff\xe0 this is not a jpeg"),
        Image.new("RGB", (90, 60), "green"),
        ("wide.png", png_bytes((200, 120, 40), (300, 40))),
        ("purple.png", png_bytes("purple")),
    ]


def test_yesno_end_to_end(tiny_reranker):
    results = tiny_reranker.rank(QUERY, mixed_images())
    assert_contract(results, 6)
    assert results.mode == "yesno"
    corrupt = next(r for r in results if r.name == "corrupt.jpg")
    assert corrupt.parse_method == PARSE_FAILED and corrupt.warning and corrupt.score == 0.0
    assert corrupt.rank == 6, "an unreadable image ranks below every scored one"
    good = [r for r in results if r.ok]
    assert all(r.parse_method == "yesno" and r.warning is None for r in good)
    assert all(abs(r.p_yes + r.p_no - 1) < 1e-5 and abs(r.score - 10 * r.p_yes) < 1e-3 for r in good)
    assert all("p(yes)=" in r.raw_output for r in good)


def test_generate_end_to_end(tiny_instruct_dir: Path):
    reranker = Reranker.from_pretrained(str(tiny_instruct_dir), device="cpu", mode="generate")
    results = reranker.rank(QUERY, mixed_images()[:3])
    assert_contract(results, 3)
    assert {r.parse_method for r in results if r.ok} <= {"primary", "fallback", "none"}
    # A random model writes no number: the parser says so rather than inventing a score.
    assert all(r.warning for r in results)


def test_empty_input_returns_empty(tiny_reranker):
    results = tiny_reranker.rank(QUERY, [])
    assert list(results) == [] and results.stopped is False


@pytest.mark.parametrize("query", ["", "   ", "\n\t\u3000"])
def test_empty_query_is_refused_before_model_work(tiny_reranker, query: str):
    with ForwardCounter(tiny_reranker.model) as counter, pytest.raises(InvalidQueryError):
        tiny_reranker.rank(query, [png_bytes("red")])
    assert counter.calls == 0


def test_batch_sizes_give_the_same_scores(tiny_reranker_dir: Path):
    images = [img for img in mixed_images() if not (isinstance(img, tuple) and img[0] == "corrupt.jpg")]
    by_size = {}
    for batch_size in (1, 2, 4):
        reranker = Reranker.from_pretrained(str(tiny_reranker_dir), device="cpu", batch_size=batch_size)
        by_size[batch_size] = {r.index: r.score for r in reranker.rank(QUERY, images)}
    for batch_size in (2, 4):
        for index, score in by_size[1].items():
            assert by_size[batch_size][index] == pytest.approx(score, abs=1e-3)


def test_progress_reports_every_image_in_order(tiny_reranker):
    seen = []
    tiny_reranker.rank(QUERY, mixed_images(), on_progress=lambda done, total, r: seen.append((done, total, r.name)))
    assert [(d, t) for d, t, _ in seen] == [(i, 6) for i in range(1, 7)]
    assert seen[2][2] == "corrupt.jpg", "a corrupt image in the middle does not end the run"


def test_stop_mid_run_keeps_scored_and_marks_the_rest(tiny_reranker):
    done = []
    results = tiny_reranker.rank(
        QUERY, mixed_images(), on_progress=lambda d, t, r: done.append(d), should_stop=lambda: len(done) >= 2
    )
    assert results.stopped and len(results) == 6
    skipped = [r for r in results if r.parse_method == PARSE_SKIPPED]
    assert len(skipped) == 4 and all("stopped" in r.warning for r in skipped)
    assert [r.rank for r in results[:2]] == [1, 2] and all(r.ok for r in results[:2])


def test_duplicates_scored_once_and_both_reported(tiny_reranker):
    data = png_bytes("orange")
    with ForwardCounter(tiny_reranker.model) as counter:
        results = tiny_reranker.rank(QUERY, [("a.png", data), ("b.png", data)])
    assert counter.calls == 1
    by_name = {r.name: r for r in results}
    assert by_name["b.png"].duplicate_of == 0 and "duplicate of a.png" in by_name["b.png"].warning
    assert by_name["a.png"].score == by_name["b.png"].score


def test_too_many_images(tiny_reranker_dir: Path):
    reranker = Reranker.from_pretrained(str(tiny_reranker_dir), device="cpu", max_images=2)
    with pytest.raises(TooManyImagesError, match="3 images"):
        reranker.rank(QUERY, [png_bytes("red")] * 3)


def test_paths_and_pil_images(tiny_reranker, tmp_path: Path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_bytes("red"))
    results = tiny_reranker.rank(QUERY, [str(path), Image.new("RGB", (64, 64), "blue")])
    by_index = {r.index: r for r in results}
    assert by_index[0].name == "photo.jpg" and by_index[0].path == str(path)
    assert by_index[1].name == "image_2"


def test_nan_logits_give_a_warning_and_lowest_score(tiny_reranker_dir: Path):
    reranker = Reranker.from_pretrained(str(tiny_reranker_dir), device="cpu")
    # A model whose final norm overflows behaves like Qwen2.5-VL in float16: inf/NaN logits.
    with torch.no_grad():
        reranker.model.model.language_model.norm.weight.fill_(float("inf"))
    results = reranker.rank(QUERY, [png_bytes("red"), png_bytes("blue")])
    assert all(r.parse_method == PARSE_FAILED and r.score == 0.0 and "NaN" in r.warning for r in results)


def test_out_of_memory_retries_smaller_then_gives_up(tiny_reranker_dir: Path):
    reranker = Reranker.from_pretrained(str(tiny_reranker_dir), device="cpu", batch_size=2)
    real_score = reranker.scorer.score_inputs
    sizes = []

    def tight_memory(inputs, query, documents):
        # Fault injection standing in for a small GPU: anything over 5,000 pixels "does not fit".
        pixels = [d.image.width * d.image.height for d in documents]
        sizes.append(pixels)
        if any(p > 5000 for p in pixels):
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_score(inputs, query, documents)

    reranker.scorer.score_inputs = tight_memory
    big, small = ("big.png", png_bytes("red", (140, 140))), ("small.png", png_bytes("blue", (56, 56)))
    huge = ("huge.png", png_bytes("green", (1400, 1400)))
    results = {r.name: r for r in reranker.rank(QUERY, [big, small, huge])}
    assert results["small.png"].ok and results["small.png"].warning is None
    assert results["big.png"].ok and "scored at" in results["big.png"].warning
    assert results["huge.png"].parse_method == PARSE_FAILED and "out of GPU memory" in results["huge.png"].warning


def test_two_threads_share_one_reranker(tiny_reranker):
    outputs: dict[str, list] = {}
    waits = []

    def run(name: str, color: str) -> None:
        outputs[name] = tiny_reranker.rank(
            QUERY, [png_bytes(color)] * 1 + [png_bytes("white")], on_wait=lambda: waits.append(name)
        )

    threads = [threading.Thread(target=run, args=(f"t{i}", c)) for i, c in enumerate(["red", "blue", "green"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(len(result) == 2 and all(r.ok for r in result) for result in outputs.values())
    solo = tiny_reranker.rank(QUERY, [png_bytes("red"), png_bytes("white")])
    assert [r.score for r in outputs["t0"]] == pytest.approx([r.score for r in solo], abs=1e-5)
    assert not tiny_reranker.busy


def test_forward_counter_sees_every_forward_pass(tiny_reranker):
    """The counter the tests rely on: one pass per distinct image at batch size 1, none after it is removed."""
    with ForwardCounter(tiny_reranker.model) as counter:
        tiny_reranker.rank(QUERY, [png_bytes("red"), png_bytes("blue"), png_bytes("green")])
    assert counter.calls == 3
    assert "forward" not in vars(tiny_reranker.model)


def test_instruction_preset_changes_the_prompt(tiny_reranker):
    default = tiny_reranker.rank(QUERY, [png_bytes("red")])[0].score
    product = tiny_reranker.rank(QUERY, [png_bytes("red")], instruction="product")[0].score
    assert default != product


class InputRecorder(ForwardCounter):
    """Also keeps the image grids the model received, one tensor per forward pass."""

    def __init__(self, model):
        super().__init__(model)
        self.grids: list[list[list[int]]] = []

    def __enter__(self):
        super().__enter__()
        counted = self.model.forward

        def recording(*args, **kwargs):
            self.grids.append(kwargs["image_grid_thw"].tolist())
            return counted(*args, **kwargs)

        self.model.forward = recording
        return self


def test_scored_size_is_what_the_model_saw(tiny_reranker):
    images = [
        ("photo.jpg", jpeg_bytes("red", (517, 389))),
        ("tiny.png", png_bytes("blue", (8, 8))),  # safety path: enlarged, fitted by us
        ("strip.png", png_bytes("green", (3000, 20))),  # safety path: padded to 100:1
        ("square.png", png_bytes("purple", (2000, 2000))),  # the processor shrinks it to the budget
        ("broken.jpg", b"\xff\xd8\xff not a jpeg"),
    ]
    with InputRecorder(tiny_reranker.model) as recorder:
        results = sorted(tiny_reranker.rank(QUERY, images), key=lambda r: r.index)
    seen = [(w * 14, h * 14) for grids in recorder.grids for _, h, w in grids]
    scored = [r for r in results if r.ok]
    assert [r.scored_size for r in scored] == seen and len(seen) == 4
    assert all(w * h <= tiny_reranker.max_pixels for w, h in seen)
    assert results[-1].scored_size is None  # never seen by the model
    assert all(r.max_pixels == tiny_reranker.max_pixels == 1280 * 28 * 28 for r in results)


def test_the_model_declared_pixel_budget_and_the_users_choice(tmp_path: Path):
    shape = dataclasses.replace(TINY, recommended_max_pixels=112 * 112)
    folder = build_tiny_model(tmp_path / "declares", seed=4, shape=shape)
    declared = Reranker.from_pretrained(str(folder), device="cpu")
    assert (declared.min_pixels, declared.max_pixels) == (56 * 56, 112 * 112)
    result = declared.rank(QUERY, [jpeg_bytes("red", (1000, 800))])[0]
    assert result.scored_size[0] * result.scored_size[1] <= 112 * 112 and result.max_pixels == 112 * 112
    chosen = Reranker(declared.loaded_model, max_pixels=256 * 28 * 28)
    assert chosen.max_pixels == 256 * 28 * 28
    assert chosen.rank(QUERY, [jpeg_bytes("red", (1000, 800))])[0].scored_size[0] > 112
    with pytest.raises(InvalidSettingError, match="pixel budget"):
        Reranker(declared.loaded_model, max_pixels=1000, min_pixels=3136)


def test_the_demo_declares_its_training_scale():
    demo = Reranker.from_pretrained("demo", device="cpu")
    assert (demo.min_pixels, demo.max_pixels) == (84 * 84, 84 * 84) and demo.describe()["max_pixels"] == 84 * 84
    # every image is shown at about 84 x 84, a 56 px canvas and a 4000 px one alike
    ranking = demo.rank("a red circle", [jpeg_bytes("red", (56, 56)), jpeg_bytes("red", (4000, 4000))])
    assert [r.scored_size for r in ranking] == [(84, 84), (84, 84)]
    fewer = Reranker(demo.loaded_model, max_pixels=56 * 56)  # below the declared minimum: the user's wins
    assert (fewer.min_pixels, fewer.max_pixels) == (56 * 56, 56 * 56)


def test_results_record_the_instruction_used(tiny_reranker):
    preset = tiny_reranker.rank(QUERY, [png_bytes("red")], instruction="product")[0]
    assert preset.instruction.startswith("Given an e-commerce product description")
    free = tiny_reranker.rank(QUERY, [png_bytes("red")], instruction="find the red one")[0]
    assert free.instruction == "find the red one" and free.to_record()["instruction"] == "find the red one"


def test_an_out_of_memory_model_call_is_retried_and_every_image_comes_back(tiny_reranker_dir: Path):
    """A model wrapper that raises torch.OutOfMemoryError once, as a full GPU would, on a batch of 2."""
    reranker = Reranker.from_pretrained(str(tiny_reranker_dir), device="cpu", batch_size=2, vision_cache_mib=0)
    original, raised = reranker.model.forward, []

    def out_of_memory_once(*args, **kwargs):
        if not raised:
            raised.append(kwargs["input_ids"].shape[0])
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return original(*args, **kwargs)

    reranker.model.forward = out_of_memory_once
    try:
        results = reranker.rank(QUERY, [png_bytes("red"), png_bytes("blue"), jpeg_bytes("green")])
    finally:
        del reranker.model.forward
    assert raised == [2]  # the first batch failed whole, then its images were scored one by one
    assert_contract(results, 3)
    assert all(r.ok and r.warning is None for r in results)


def test_safety_work_reaches_the_results_notes(tiny_reranker_dir: Path):
    """Issue 21 bug 7: a transparent PNG and a JPEG over the recipe's limit say what was done; a plain one does not."""
    transparent = Image.new("RGBA", (64, 64), (255, 0, 0, 0))
    transparent.paste((0, 0, 255, 255), (32, 0, 64, 64))
    reranker = Reranker.from_pretrained(str(tiny_reranker_dir), device="cpu", max_pixels=112 * 112)
    images = [("transparent.png", _encoded(transparent, "PNG")),
              ("big.jpg", _encoded(Image.new("RGB", (6000, 4000), "red"), "JPEG")), ("plain.jpg", jpeg_bytes("red"))]
    notes = {r.name: r.notes for r in reranker.rank(QUERY, images)}
    assert notes == {
        "transparent.png": ("transparent areas composited on white",),
        "big.jpg": ("decoded at reduced size 750×500 (JPEG draft) from 6000×4000",),
        "plain.jpg": (),
    }


def _encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def test_a_nul_in_the_query_never_reaches_the_model_and_is_warned(tiny_reranker):
    """Issue 22, item 14: the prompt holds the query without its NUL; the ranking's warnings say it was removed."""
    tokenizer = tiny_reranker.processor.tokenizer
    original, prompts = tokenizer.__class__.__call__, []

    def seen(self, text=None, *args, **kwargs):
        prompts.extend(text if isinstance(text, list) else [text])
        return original(self, text, *args, **kwargs)

    tokenizer.__class__.__call__ = seen
    try:
        ranking = tiny_reranker.rank("red\x00 dress", [png_bytes("red")])
    finally:
        tokenizer.__class__.__call__ = original
    assert ranking.query == "red dress" and any("NUL" in warning for warning in ranking.warnings)
    assert any("red dress" in str(prompt) for prompt in prompts) and not any("\x00" in str(p) for p in prompts)


def test_a_url_given_as_an_image_is_a_warned_result(tiny_reranker):
    ranking = tiny_reranker.rank("red", ["http://127.0.0.1:9/x.png", png_bytes("red")])
    url = next(r for r in ranking if r.index == 0)
    assert url.name == "x.png" and url.warning == "URLs are not fetched: download the images and give local paths"
