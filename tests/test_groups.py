"""Results ranked within groups (issue 25): the shared grouping, and ``rank --group-by subfolder`` on the demo
model with 6 product subfolders of 4 images, where each group's best must be the image its query names."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest

from lychee_rerank.cli import main
from lychee_rerank.export import to_csv
from lychee_rerank.groups import MAIN_IMAGE_COLUMNS, group_fields, group_results, main_images, subfolder_key
from lychee_rerank.results import RankResult

from helpers import make_product_folders


def result(index: int, name: str, score: float, method: str = "yesno") -> RankResult:
    return RankResult(rank=index + 1, index=index, name=name, score=score, raw_output="", parse_method=method)


def test_groups_rank_within_and_sort_by_their_best():
    results = [result(0, "b/1.png", 6.0), result(1, "a/1.png", 2.0), result(2, "b/2.png", 8.0),
               result(3, "c/1.png", 0.0, "failed"), result(4, "top.png", 5.0), result(5, "a/2.png", 9.5)]
    groups = group_results(results)
    assert [g.key for g in groups] == ["a", "b", ".", "c"]  # by best score; nothing scored in c: last
    assert [r.name for r in groups[1].results] == ["b/2.png", "b/1.png"] and groups[1].margin == pytest.approx(2.0)
    assert groups[2].second is None and groups[2].margin is None
    assert main_images(groups)[0] == {"group": "a", "best": "a/2.png", "score": 9.5, "second": "a/1.png",
                                      "second_score": 2.0, "margin": 7.5, "count": 2}
    fields = group_fields(groups)
    assert fields[0] == {"group": "b", "rank_in_group": 2} and fields[5] == {"group": "a", "rank_in_group": 1}
    rows = list(csv.DictReader(io.StringIO(to_csv(results, fields=fields))))
    assert [(r["name"], r["group"], r["rank_in_group"]) for r in rows][:2] == [("b/1.png", "b", "2"),
                                                                             ("a/1.png", "a", "2")]
    by_prompt = group_results(results, {r.index: "p1" if r.index % 2 else "p2" for r in results})  # any key
    assert sorted(g.key for g in by_prompt) == ["p1", "p2"]
    assert subfolder_key(result(0, "x\\y.png", 1.0)) == "x"


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("products")
    return root, make_product_folders(root, "blue", "square")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> subprocess.CompletedProcess:
    code = main(["rank", "--model", "demo", "--query", "a blue square", *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return subprocess.CompletedProcess(args, code, out, err)


def test_group_by_subfolder_puts_the_named_image_first_in_every_product(products, capsys, tmp_path: Path):
    root, targets = products
    records = json.loads(run(capsys, "--group-by", "subfolder", "--format", "json", str(root)).stdout)
    assert len(records) == 24
    best = {r["group"]: r["name"] for r in records if r["rank_in_group"] == 1}
    assert best == targets
    assert sorted(r["rank_in_group"] for r in records if r["group"] == "sku3") == [1, 2, 3, 4]

    table = run(capsys, "--group-by", "subfolder", str(root)).stdout.splitlines()
    assert [cell.strip() for cell in table[0].strip("|").split("|")] == list(MAIN_IMAGE_COLUMNS)
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
    assert {row[0]: row[1] for row in rows} == targets and all(row[6] == "4" for row in rows)
    scores = [float(row[2]) for row in rows]
    assert scores == sorted(scores, reverse=True) and all(float(row[5]) > 0 for row in rows)

    err = run(capsys, "--group-by", "subfolder", "--copy-to", str(tmp_path / "main"), str(root)).stderr
    assert "copied 6 file(s)" in err
    assert sorted(p.name for p in (tmp_path / "main").iterdir()) == sorted(
        [*(f"{group}.png" for group in targets), "lychee-copied.csv"])
    for group, name in targets.items():
        assert (tmp_path / "main" / f"{group}.png").read_bytes() == (root / name).read_bytes()
