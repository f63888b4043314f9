"""Results sort as the contract says, keep the run's attributes when sliced, and export with the contract's keys."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import zipfile

import pytest

from lychee_rerank.app.page import filter_by_mark
from lychee_rerank.export import format_table, to_csv, to_json, top_k_zip
from lychee_rerank.intake import ImageInput
from lychee_rerank.results import Ranking, RankResult, format_size, join_warnings, rank_results
from lychee_rerank.settings import PARSE_FAILED, PARSE_SKIPPED


def result(index: int, score: float, method: str = "yesno") -> RankResult:
    return RankResult(rank=0, index=index, name=f"img{index}.png", score=score, raw_output="", parse_method=method)


def test_rank_results_puts_failures_last_and_keeps_ties_in_input_order():
    ranked = rank_results(
        [result(0, 0.0), result(1, 0.0, PARSE_FAILED), result(2, 7.0), result(3, 7.0), result(4, 0.0, PARSE_SKIPPED)]
    )
    assert [r.index for r in ranked] == [2, 3, 0, 1, 4]
    assert [r.rank for r in ranked] == [1, 2, 3, 4, 5]


def test_json_and_csv_exports_keep_contract_keys():
    ranked = rank_results([result(0, 3.0), result(1, 9.0)])
    records = json.loads(to_json(ranked))
    assert list(records[0])[:7] == ["rank", "name", "path", "score", "raw_output", "parse_method", "warning"]
    assert records[0]["name"] == "img1.png"
    assert to_csv(ranked).splitlines()[0].startswith("rank,name,path,score,raw_output,parse_method,warning")


def test_sizes_export_as_w_x_h_and_notes_as_a_list_or_joined_in_csv():
    """Issue 21 bug 10: one size format ("84x56") in every export, the batch job's too; RankResult keeps tuples."""
    noted = dataclasses.replace(result(0, 5.0), scored_size=(84, 56), original_size=(6000, 4000),
                                notes=("decoded at reduced size 750×500 (JPEG draft) from 6000×4000", "rotated"))
    plain = result(1, 4.0)
    records = json.loads(to_json(rank_results([noted, plain])))
    assert (records[0]["scored_size"], records[0]["original_size"]) == ("84x56", "6000x4000")
    assert records[0]["notes"] == list(noted.notes) and records[1]["notes"] == []
    assert (records[1]["scored_size"], records[1]["original_size"]) == (None, None)
    rows = list(csv.DictReader(io.StringIO(to_csv(rank_results([noted, plain])))))
    assert rows[0]["scored_size"] == "84x56" and rows[1]["scored_size"] == ""
    assert rows[0]["notes"] == "decoded at reduced size 750×500 (JPEG draft) from 6000×4000; rotated"
    assert rows[1]["notes"] == ""
    assert noted.scored_size == (84, 56) and format_size((84, 56)) == "84x56" and format_size(None) is None


def test_top_k_zip_has_rank_prefixed_originals():
    inputs = [ImageInput(name=f"dir/img{i}.png", data=bytes([i]) * 10) for i in range(3)]
    ranked = rank_results([result(0, 1.0), result(1, 9.0), result(2, 5.0, PARSE_FAILED)])
    with zipfile.ZipFile(io.BytesIO(top_k_zip(ranked, inputs, 5))) as archive:
        assert archive.namelist() == ["01_img1.png", "02_img0.png"]
        assert archive.read("01_img1.png") == bytes([1]) * 10


def ranking(n: int = 5) -> Ranking:
    ranked = rank_results([result(i, float(i)) for i in range(n)])
    return Ranking(ranked, mode="yesno", query="q", warnings=["query truncated"], stopped=True)


def test_ranking_is_a_list_and_slicing_keeps_the_run_attributes():
    full = ranking()
    assert isinstance(full, list) and len(full) == 5 and full[0].index == 4
    for part in (full[:2], full[1:], full.top(3), full.top(None), full.copy()):
        assert isinstance(part, Ranking)
        assert (part.mode, part.query, part.warnings, part.stopped) == ("yesno", "q", ["query truncated"], True)
    assert [r.rank for r in full.top(2)] == [1, 2]
    assert len(full.top(None)) == 5 and len(full.top(0)) == 0
    assert full[-1].index == 0


@pytest.mark.parametrize(("parts", "joined"), [((None, ""), None), (("a", None, "b"), "a; b"), (("only",), "only")])
def test_join_warnings(parts, joined):
    assert join_warnings(*parts) == joined


def test_format_table_aligns_and_prints_missing_values_as_na():
    table = format_table(["name", "value"], [["a", 1.23456], ["long name", None], ["c", float("nan")]])
    lines = table.splitlines()
    assert lines[0] == "| name      | value |"
    assert lines[2] == "| a         | 1.235 |" and "n/a" in lines[3] and "n/a" in lines[4]
    assert len({len(line) for line in lines}) == 1


def test_exports_record_the_apps_marks_when_given():
    results = [result(0, 9.0), result(1, 5.0), result(2, 1.0)]
    marks = {0: "pick", 2: "reject"}
    records = json.loads(to_json(results, marks=marks))
    assert [r["mark"] for r in records] == ["pick", "", "reject"]
    rows = list(csv.DictReader(io.StringIO(to_csv(results, marks=marks))))
    assert [r["mark"] for r in rows] == ["pick", "", "reject"]
    assert "mark" not in json.loads(to_json(results))[0]  # the CLI's records are unchanged
    assert "mark" not in next(csv.DictReader(io.StringIO(to_csv(results))))


def test_filtering_by_mark():
    results = [result(0, 9.0), result(1, 5.0), result(2, 1.0, PARSE_FAILED)]
    results[2] = dataclasses.replace(results[2], warning="unreadable")
    marks = {0: "pick", 1: "reject"}
    assert [r.index for r in filter_by_mark(results, marks, "picks")] == [0]
    assert [r.index for r in filter_by_mark(results, marks, "no_rejects")] == [0, 2]
    assert [r.index for r in filter_by_mark(results, marks, "warnings")] == [2]
    assert [r.index for r in filter_by_mark(results, marks, "all")] == [0, 1, 2]
