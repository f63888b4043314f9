"""Near-duplicate stacks (issue 25): resized, re-encoded and 2 %-cropped copies of a shot stack together,
different pictures do not, and a stack is led by its best-scored image."""

from __future__ import annotations

import io
import json
import random

import pytest
from PIL import Image, ImageDraw, ImageFilter

from lychee_rerank.cli import main
from lychee_rerank.export import to_csv
from lychee_rerank.results import RankResult
from lychee_rerank.stacks import find_stacks, hash_results, perceptual_hash, stack_fields


def scene(seed: int, size: tuple[int, int] = (400, 300)) -> Image.Image:
    """A photo-like picture: blurred overlapping shapes in random colours."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        box = [x, y, x + rng.randrange(20, 200), y + rng.randrange(20, 150)]
        rng.choice([draw.ellipse, draw.rectangle])(box, fill=tuple(rng.randrange(256) for _ in range(3)))
    return image.filter(ImageFilter.GaussianBlur(2))


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def variants(image: Image.Image) -> dict[str, bytes]:
    w, h = image.size
    return {"original": encoded(image), "resized": encoded(image.resize((w // 2, h // 2))),
            "jpeg60": encoded(image, "JPEG", quality=60), "webp": encoded(image, "WEBP", quality=70),
            "cropped2": encoded(image.crop((w // 100, h // 100, w - w // 100, h - h // 100)))}


def labelled_set() -> tuple[list[RankResult], dict[int, bytes], dict[int, int]]:
    """Three shots in four or five versions each, plus four unrelated pictures; labels = which shot."""
    data, labels, results = {}, {}, []
    items = [(shot, kind, raw) for shot in range(3) for kind, raw in variants(scene(shot)).items()]
    items += [(100 + seed, "other", encoded(scene(seed))) for seed in range(10, 14)]
    rng = random.Random(7)
    scores = rng.sample(range(10, 100), len(items))
    for index, (shot, kind, raw) in enumerate(items):
        data[index], labels[index] = raw, shot
        results.append(RankResult(rank=0, index=index, name=f"{shot}-{kind}", score=scores[index] / 10,
                                  raw_output="", parse_method="yesno"))
    ranked = sorted(results, key=lambda r: -r.score)
    return [r.with_rank(i) for i, r in enumerate(ranked, start=1)], data, labels


def test_copies_stack_and_different_pictures_do_not():
    results, data, labels = labelled_set()
    stacks = find_stacks(results, hash_results(results, lambda r: data[r.index]))
    found = sorted(sorted(labels[r.index] for r in stack.results) for stack in stacks)
    assert found == sorted([[0] * 5, [1] * 5, [2] * 5, [110], [111], [112], [113]])
    for stack in stacks:
        assert stack.best.score == max(r.score for r in stack.results), "a stack shows its best"
    fields = stack_fields(stacks)
    assert {fields[r.index]["stack_size"] for r in results if labels[r.index] == 1} == {5}
    assert [s.number for s in stacks] == list(range(1, 8)) and stacks[0].best.rank == 1
    header = to_csv(results, fields=fields).splitlines()[0]
    assert header.endswith("stack,stack_size")


def test_unreadable_or_unscored_images_stand_alone():
    assert perceptual_hash(b"not an image") is None
    results = [RankResult(rank=1, index=0, name="a", score=9.0, raw_output="", parse_method="yesno"),
               RankResult(rank=2, index=1, name="b", score=0.0, raw_output="", parse_method="failed")]
    same = encoded(scene(1))
    hashes = hash_results(results, lambda r: same)
    assert list(hashes) == [0]
    assert [s.size for s in find_stacks(results, hashes)] == [1, 1]


def test_rank_stack_adds_stack_and_stack_size(tmp_path, capsys: pytest.CaptureFixture[str]):
    for kind, raw in variants(scene(3)).items():
        (tmp_path / f"{kind}.{'jpg' if kind == 'jpeg60' else 'webp' if kind == 'webp' else 'png'}").write_bytes(raw)
    (tmp_path / "other.png").write_bytes(encoded(scene(42)))
    assert main(["rank", "--model", "demo", "--query", "a red circle", "--stack", "--format", "json",
                 str(tmp_path)]) == 0
    records = json.loads(capsys.readouterr().out)
    sizes = {r["name"]: r["stack_size"] for r in records}
    assert sizes.pop("other.png") == 1 and set(sizes.values()) == {5}
    assert len({r["stack"] for r in records if r["stack_size"] == 5}) == 1
