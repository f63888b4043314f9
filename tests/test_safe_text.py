"""Names are inert everywhere we write them (issue 22, items 4-6): no live spreadsheet formulas in any CSV,
no control or bidi characters reaching a terminal or a zip, no markup made from a name in HTML or Markdown,
and JSON kept exact."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import sys
import zipfile
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from lychee_rerank.app import cards
from lychee_rerank.app.media import image_url
from lychee_rerank.app.page import make_thumbnail
from lychee_rerank.cli import main
from lychee_rerank.export import format_table, to_csv, to_json, to_table, top_k_zip
from lychee_rerank.intake import ImageInput
from lychee_rerank.results import RankResult, rank_results
from lychee_rerank.safe_text import csv_cell, markdown_literal, terminal_text
from lychee_rerank.terminal import TerminalFormatter

from helpers import XSS_NAME, png_bytes

FORMULA_NAMES = ["=HYPERLINK(\"http://evil\",\"x\").png", "+cmd.png", "-2+3.png", "@SUM(A1).png", "\tTAB.png",
                 "\rCR.png"]
TERMINAL_NAMES = ["fake\n   1  10.00  yesno     row.png", "clear\x1b[2J.png", "bell\x07.png", "rtl2\u202etxt.png",
                  "iso\u2066x\u2069.png", "lrm\u200e.png", "alm\u061c.png", "c1\x9b31m.png", "cr\rover.png"]

MARKUP_NAMES = [r"![t](https:\\127.0.0.1:8798\ext_beacon.png).png", "![z](http:/127.0.0.1:8799/b.png)", XSS_NAME,
                "<a href=http://127.0.0.1:9/x>l</a>.png", "**b** _i_ `c` # h [l](http://127.0.0.1:9/) $x$.png",
                "&lt;img&gt; &amp;.png", "www.example.com and a@b.org.png"]
HOSTILE_NAMES = FORMULA_NAMES + TERMINAL_NAMES + MARKUP_NAMES


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


class Markup(HTMLParser):
    """The tags and attribute names of an HTML fragment (its structure), and its text."""

    def __init__(self, fragment: str):
        super().__init__(convert_charrefs=True)
        self.structure: list[tuple[str, tuple[str, ...]]] = []
        self.text = ""
        self.feed(fragment)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.structure.append((tag, tuple(name for name, _ in attrs)))

    def handle_data(self, data):
        self.text += data


def html_outputs(result: RankResult) -> dict[str, str]:
    thumbnail = image_url(make_thumbnail(None), "test")  # a data: URI (no server here)
    return {
        "card": cards.card_html(result, thumbnail, rank_line="Rank 1 | Score: 5.0", badge="!", warning=result.warning,
                                notes=f"note on {result.name}"),
        "compare": cards.compare_html([(result, "Rank 1 | Score: 5.0", "/media/x.jpg")]),
        "text card": cards.text_card_html(replace(result, text=result.name), rank_line="Rank 1", badge=None,
                                          warning=result.warning),
    }


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_every_output_shows_a_hostile_name_as_text(name: str, tmp_path: Path):
    """One name through cards, live cards, compare, Markdown, CSV, JSON, the table and the zip."""
    result = named([name])[0]
    plain = named(["plain.png"])[0]
    for place, fragment in html_outputs(result).items():
        parsed, expected = Markup(fragment), Markup(html_outputs(plain)[place])
        assert parsed.structure == expected.structure, place  # no tag or attribute made from the name
        assert name in parsed.text or re.sub(r"[\r\n]", " ", name) in parsed.text, place  # or breaks as spaces

    rendered = MarkdownIt("commonmark").render(f"Latest: {markdown_literal(name)} → 5.0")
    assert Markup(rendered).structure == [("p", ())], rendered
    assert Markup(rendered).text.strip() == "Latest: " + re.sub(r"[\r\n]+", " ", name) + " → 5.0"

    row = next(csv.DictReader(io.StringIO(to_csv([result]))))
    assert not row["name"].startswith(("=", "+", "-", "@", "\t", "\r")) or row["name"][1:] == name
    assert json.loads(to_json([result]))[0]["name"] == name
    assert all(line.isprintable() for line in to_table([result]).strip().split("\n"))

    archive = zipfile.ZipFile(io.BytesIO(top_k_zip([result], [ImageInput(name=name, data=png_bytes("red"))], 1)))
    (member,) = archive.namelist()
    assert member.isprintable() and "/" not in member and ".." not in member.split("/")
