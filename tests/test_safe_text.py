"""Names are inert everywhere we write them (issue 22, items 5 and 6): no live spreadsheet formulas in any CSV,
no control or bidi characters reaching a terminal, and JSON kept exact."""

from __future__ import annotations

import csv
import io
import json
import logging
import sys
from pathlib import Path

import pytest

from lychee_rerank.cli import main
from lychee_rerank.export import format_table, to_csv, to_json, to_table
from lychee_rerank.results import RankResult, rank_results
from lychee_rerank.safe_text import csv_cell, terminal_text
from lychee_rerank.terminal import TerminalFormatter

from helpers import png_bytes

FORMULA_NAMES = ["=HYPERLINK(\"http://evil\",\"x\").png", "+cmd.png", "-2+3.png", "@SUM(A1).png", "\tTAB.png",
                 "\rCR.png"]
TERMINAL_NAMES = ["fake\n   1  10.00  yesno     row.png", "clear\x1b[2J.png", "bell\x07.png", "rtl2\u202etxt.png",
                  "iso\u2066x\u2069.png", "lrm\u200e.png", "alm\u061c.png", "c1\x9b31m.png", "cr\rover.png"]


def named(names: list[str], score: float = 5.0) -> list[RankResult]:
    return rank_results([RankResult(rank=0, index=i, name=name, score=score, raw_output="", parse_method="yesno",
                                    warning=f"duplicate of {name} (same bytes)") for i, name in enumerate(names)])


@pytest.mark.parametrize("value", FORMULA_NAMES)
def test_a_formula_cell_gets_a_leading_quote(value: str):
    assert csv_cell(value) == "'" + value


@pytest.mark.parametrize("value", [-0.5, 3, None, "-0.5", "+3", "1e-5", "red.png", "a=b.png", ""])
def test_numbers_and_plain_text_stay_as_they_are(value):
    assert csv_cell(value) == value


def test_to_csv_neutralises_every_text_cell_and_keeps_numbers():
    results = named(FORMULA_NAMES, score=7.5)
    rows = list(csv.DictReader(io.StringIO(to_csv(results, extra={"query": "=1+1"}), newline="")))
    assert sorted(row["name"] for row in rows) == sorted("'" + name for name in FORMULA_NAMES)
    assert all(row["name"][0] == "'" and row["warning"] == "duplicate of " + row["name"][1:] + " (same bytes)"
               for row in rows)
    assert {row["query"] for row in rows} == {"'=1+1"}
    assert {row["score"] for row in rows} == {"7.5"}


def test_a_negative_number_column_stays_a_number():
    text = to_csv(named(["a.png"]), extra={"offset": -1.25})
    assert list(csv.DictReader(io.StringIO(text)))[0]["offset"] == "-1.25"


@pytest.mark.parametrize("value", TERMINAL_NAMES)
def test_terminal_text_leaves_no_control_or_bidi_character(value: str):
    escaped = terminal_text(value)
    assert escaped.isprintable() and "\\" in escaped
    assert not any(0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069 for c in escaped)


def test_rtl_override_is_shown_escaped():
    assert terminal_text("rtl2\u202etxt.png") == "rtl2\\u202etxt.png"


def test_to_table_prints_one_line_per_result_whatever_the_names():
    table = to_table(named(TERMINAL_NAMES))
    lines = table.split("\n")
    assert len(lines) == 1 + len(TERMINAL_NAMES), "a newline in a name must not print a fake row"
    assert all(line.isprintable() for line in lines)
    assert "rtl2\\u202etxt.png" in table and "clear\\x1b[2J.png" in table


def test_format_table_escapes_its_cells():
    table = format_table(["name"], [["a\x1b[31m\nb"]])
    assert len(table.split("\n")) == 3 and "a\\x1b[31m\\nb" in table


def test_json_stays_exact():
    records = json.loads(to_json(named(TERMINAL_NAMES + FORMULA_NAMES)))
    assert sorted(record["name"] for record in records) == sorted(TERMINAL_NAMES + FORMULA_NAMES)


def test_log_lines_escape_names_and_exceptions():
    formatter = TerminalFormatter("%(levelname)s %(message)s")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s: %s", ("evil\n\x1b[2J.png", "bad"), None)
    line = formatter.format(record)
    assert line == "INFO evil\\n\\x1b[2J.png: bad"
    try:
        raise ValueError("name\x1b]0;title\x07")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert all(line.isprintable() for line in formatter.format(record).split("\n"))


def test_cli_table_and_progress_lines_are_escaped(tiny_reranker_dir: Path, tmp_path: Path, capsys):
    folder = tmp_path / "names"
    folder.mkdir()
    names = ["fake\n   1  10.00  yesno     row.png", "clear\x1b[2J.png", "rtl2\u202etxt.png"]
    for index, name in enumerate(names):
        (folder / name).write_bytes(png_bytes((index * 80, 10, 10)))
    assert main(["rank", "--model", str(tiny_reranker_dir), "--query", "red", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert len(out.strip().split("\n")) == 1 + len(names)
    logged = [line for line in err.split("\n") if line.startswith(("INFO", "WARNING"))]  # not transformers' bars
    assert len([line for line in logged if "→" in line]) == len(names)
    assert all(line.isprintable() for line in out.strip().split("\n") + logged)
    assert "rtl2\\u202etxt.png" in out and "rtl2\\u202etxt.png" in err
