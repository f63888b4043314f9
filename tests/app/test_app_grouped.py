"""The results' grouped view and near-duplicate stacks (issues 24 and 25), driven by AppTest.

Group by subfolder on the demo model (6 products × 4 images: each group's best is the image the query
names), group by prompt (each prompt's best first, its seed shown), and stacks (a "+N" badge on the
stack's best, the copies folded behind it); the downloads carry the group and stack columns.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import sd_writers as sd
from streamlit.testing.v1 import AppTest
from test_stacks import encoded, scene

from lychee_rerank.app import grouped, jobs, takeout
from lychee_rerank.export import to_json
from lychee_rerank.settings import DEMO_MODEL_DIR

from helpers import html_bodies, make_product_folders, open_app

TIMEOUT = 120
needs_demo = pytest.mark.skipif(not (DEMO_MODEL_DIR / "config.json").exists(), reason="demo model not built")


@pytest.fixture
def demo_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LYCHEE_MODEL", "demo")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def rank_folder(at: AppTest, folder: Path, query: str = "", own_prompts: bool = False) -> jobs.Job:
    at.radio(key="lang").set_value("en").run()
    at.text_input(key="folder").input(str(folder)).run()
    if own_prompts:
        at.radio(key="query_source").set_value("own").run()
    at.text_area(key="query").input(query)
    at.button(key="run").click().run()
    job = at.session_state["lr_job"]
    assert job.wait(TIMEOUT), "the run did not finish"
    at.run()
    assert not at.exception, at.exception
    return job


def card_bodies(at: AppTest, kind: str = "lr-card") -> list[str]:
    return [body for body in html_bodies(at) if f'class="{kind}' in body]


def name_of(body: str) -> str:
    return re.search(r'class="lr-name" title="([^"]*)"', body).group(1)


def large_names(at: AppTest) -> list[str]:
    """The group rows' best images, top row first."""
    return [name_of(body) for body in card_bodies(at, "lr-large")]


@needs_demo
def test_group_by_subfolder_shows_each_products_named_image_large(demo_env, tmp_path: Path):
    targets = make_product_folders(tmp_path / "products", "blue", "square")
    at = open_app()
    job = rank_folder(at, tmp_path / "products", "a blue square")
    assert at.radio(key="group_by").options == ["None", "Subfolder (a product each)"]  # no prompts here
    assert len(card_bodies(at)) == 24 and not large_names(at)  # the flat grid until asked
    at.radio(key="group_by").set_value("subfolder").run()
    assert not at.exception, at.exception
    assert at.session_state["lr_job"] is job  # regrouping never rescores
    best = large_names(at)
    assert sorted(best) == sorted(targets.values())
    scores = {r.name: r.score for r in job.results}
    assert [scores[n] for n in best] == sorted((scores[n] for n in best), reverse=True)  # best group first
    assert [e.label for e in at.expander].count("3 more in this group") == 6
    assert any("ahead of the second" in m.value for m in at.markdown)
    assert len(card_bodies(at)) == 24  # every image still has its card (the others behind the expanders)
    records = json.loads(to_json(job.results, fields=grouped.export_fields(job, "subfolder", None)))
    assert {r["name"] for r in records if r["rank_in_group"] == 1} == set(targets.values())
    assert {r["group"] for r in records} == set(targets)
    # The main-image table, and one main image per product copied out, named after its subfolder.
    table = list(csv.DictReader(takeout.main_image_table(job.results, "subfolder").splitlines()))
    assert [row["group"] for row in table] == [name.split("/")[0] for name in best]
    assert {row["best"] for row in table} == set(targets.values()) and {row["count"] for row in table} == {"4"}
    assert any(b.label == "Download the main-image table (CSV)" for b in at.get("download_button"))
    at.text_input(key="copy_to").input(str(tmp_path / "main")).run()
    at.checkbox(key="copy_main").check().run()
    at.button(key="copy_button").click().run()
    assert not at.exception, at.exception
    copied = sorted(p.name for p in (tmp_path / "main").iterdir())
    assert copied == sorted([f"{group}.png" for group in targets] + ["lychee-copied.csv"])
    for group, name in targets.items():  # each copy is the product's best image, byte for byte
        assert (tmp_path / "main" / f"{group}.png").read_bytes() == (tmp_path / "products" / name).read_bytes()


@needs_demo
def test_group_by_prompt_puts_each_prompts_best_first_with_its_seed(demo_env, tmp_path: Path):
    winners = sd.make_prompt_batch(tmp_path / "batch")
    at = open_app()
    job = rank_folder(at, tmp_path / "batch", own_prompts=True)
    assert at.radio(key="group_by").options == ["None", "Prompt"]  # no subfolders here
    at.radio(key="group_by").set_value("prompt").run()
    assert not at.exception, at.exception
    assert sorted(large_names(at)) == sorted(winners.values())
    headers = [m.value for m in at.markdown if m.value.startswith("##### ")]
    assert sorted(h.removeprefix("##### ") for h in headers) == sorted(winners)
    assert {c.value for c in at.code} >= {"1", "2"}  # each keeper's seed, copyable
    assert [e.label for e in at.expander].count("2 more in this group") == 2
    assert job.results and at.session_state["group_by"] == "prompt"


@pytest.fixture
def near_duplicates(tmp_path: Path) -> Path:
    """One shot three times (resized, re-encoded), two different pictures: 5 files, 3 stacks."""
    folder = tmp_path / "shots"
    folder.mkdir()
    shot = scene(7)
    (folder / "shot.png").write_bytes(encoded(shot))
    (folder / "shot_small.png").write_bytes(encoded(shot.resize((200, 150))))
    (folder / "shot_q60.jpg").write_bytes(encoded(shot, "JPEG", quality=60))
    (folder / "other1.png").write_bytes(encoded(scene(8)))
    (folder / "other2.png").write_bytes(encoded(scene(9)))
    return folder


def test_stacking_shows_each_stacks_best_with_a_badge_and_folds_the_copies(app_env, near_duplicates: Path):
    at = open_app()
    job = rank_folder(at, near_duplicates, "a red circle")
    assert len(card_bodies(at)) == 5 and not [w for w in at.radio if w.key == "group_by"]  # nothing to group by
    at.toggle(key="stack").set_value(True).run()
    assert not at.exception, at.exception
    bodies = card_bodies(at)
    assert len(bodies) == 3
    badged = [b for b in bodies if 'class="lr-stack"' in b]
    copies = {"shot.png", "shot_small.png", "shot_q60.jpg"}
    rank = {r.name: r.rank for r in job.results}
    assert len(badged) == 1 and ">+2</span>" in badged[0]
    assert name_of(badged[0]) == min(copies, key=rank.get)  # the stack's best leads it
    folded = card_bodies(at, "lr-folded")
    assert len(folded) == 1 and "+2 near-duplicate(s)" in folded[0]
    assert all(name in folded[0] for name in copies - {name_of(badged[0])})
    stacks = grouped.run_stacks(at.session_state, job)
    records = json.loads(to_json(job.results, fields=grouped.export_fields(job, "none", stacks)))
    assert sorted(r["stack_size"] for r in records) == [1, 1, 3, 3, 3]
    assert len({r["stack"] for r in records if r["name"] in copies}) == 1
    at.toggle(key="stack").set_value(False).run()
    assert len(card_bodies(at)) == 5


def test_tiles_fold_within_what_is_shown_and_keep_unstacked_results_apart():
    from lychee_rerank.results import RankResult
    from lychee_rerank.stacks import Stack

    r = [RankResult(rank=i + 1, index=i, name=f"{i}.png", score=9.0 - i, raw_output="", parse_method="yesno")
         for i in range(4)]
    stacks = [Stack(1, (r[0], r[2])), Stack(2, (r[1],))]  # r[3] in no stack (not hashed)
    found = grouped.tiles([r[1], r[2], r[3]], stacks)  # r[0] filtered out: r[2] leads its stack here
    assert [(t.result.index, [f.index for f in t.folded]) for t in found] == [(1, []), (2, []), (3, [])]
    found = grouped.tiles(r, stacks)
    assert [(t.result.index, [f.index for f in t.folded]) for t in found] == [(0, [2]), (1, []), (3, [])]
    assert grouped.tiles(r, None)[2].folded == []
