"""lychee-rerank's local web app: rank a pile of images against a text query.

Run with ``streamlit run app.py`` (or ``./dev.sh app``): app.py serves this page and the live
view's feed. This file only draws the page; runs, the shared model and cache, cards and texts
live in ``lychee_rerank/app/``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import streamlit as st

from lychee_rerank.app import card_actions, cards, culling, grouped, live_feed, page, results_grid, takeout, viewer
from lychee_rerank.app.culling import PICK, ViewSession
from lychee_rerank.app.engine import Engine, RunSettings
from lychee_rerank.app.generation_info import generation_lines, generation_text
from lychee_rerank.app.jobs import ERROR, STOPPED, Job
from lychee_rerank.app.media import image_url
from lychee_rerank.app.models import ModelPool
from lychee_rerank.app.sessions import SessionStore, is_issued, new_session_id
from lychee_rerank.app.text import DEFAULT_LANGUAGE, LANGUAGES, doc_words, t, translate_warning
from lychee_rerank.app.upload_prep import UploadPrep
from lychee_rerank.errors import DemoModelMissingError, LycheeRerankError
from lychee_rerank.export import to_csv, to_json
from lychee_rerank.safe_text import markdown_literal as md
from lychee_rerank.scoring.families import FAMILIES
from lychee_rerank.settings import (
    BATCH_AUTO,
    BATCH_CHOICES,
    DEFAULT_PIXEL_PRESET,
    DTYPE_NAMES,
    IMAGE_TYPES,
    MODES,
    PIXEL_PRESETS,
    UPLOAD_TYPES,
)

JOB = "lr_job"
VIEW, COMPARE = card_actions.VIEW, card_actions.COMPARE  # the full-size view's session; the compared indices
SESSION = "lr_session"  # this browser session's id, also in the URL (?s=...)
UPLOAD_PREP = "lr_upload_prep"  # the uploader's files on their way to disk (upload_prep.py)
PREVIOUS = "lr_previous_job"  # the run before the current one, shown until the new run has results
logger = logging.getLogger("lychee_rerank.app")
# On a network (not localhost) visitors share this server: the operator chooses the models and no
# local folder is read, so no visitor can probe the server's paths or unload the model for everyone.
SHARED = not page.is_localhost(st.get_option("server.address"))
folder_allowed = not SHARED
st.set_page_config(page_title="Lychee rerank", page_icon="🍒", layout="wide")


@st.cache_resource(show_spinner=False)
def session_store() -> SessionStore:
    return SessionStore()


# A reload (or the same URL in a new tab) gets this session's choices, results and marks back, under a
# new id; an id this server did not issue (a link someone made up) starts a fresh session.
if SESSION not in st.session_state:
    asked, session_id = st.query_params.get("s"), new_session_id()
    if is_issued(asked):
        session_store().take_over(asked, session_id, st.session_state, JOB)
    st.session_state[SESSION] = session_id
    st.query_params["s"] = session_id
lang = st.session_state.get("lang", DEFAULT_LANGUAGE)
page.keep_choices_across_languages(st.session_state, lang)
page.keep_result_controls(st.session_state)


def tr(key: str, **values) -> str:
    return t(lang, key, **values)


def tr_docs(key: str, texts: bool, **values) -> str:
    """A string that names what is ranked (images or texts)."""
    return tr(key, **doc_words(lang, texts), **values)


def rank_text(rank: int, score: float, decimals: int = 1) -> str:
    """'Rank 3 | Score: 7.2' (two decimals where the grid needs them)."""
    return tr("rank_line", rank=rank, score=cards.format_score(score, decimals))


@st.cache_resource(show_spinner=False)
def engine() -> Engine:
    return Engine()


@st.cache_resource(show_spinner=False)
def model_pool() -> ModelPool:
    """Every model the tabs use, each loaded once (see lychee_rerank/app/models.py)."""
    return ModelPool()


# --- sidebar: settings ---------------------------------------------------------------------
with st.sidebar:
    st.radio(tr("language"), list(LANGUAGES), format_func=LANGUAGES.get, key="lang", horizontal=True)
    st.header(tr("settings"))
    if SHARED:
        offered = page.operator_models(os.environ)
        if st.session_state.get("model") not in offered:
            st.session_state["model"] = offered[0]
        st.selectbox(tr("model_label"), offered, format_func=page.model_display_name, key="model",
                     help=tr("model_help_shared"))
        st.session_state["dtype"] = "auto"  # another dtype would load a second copy of the shared model
    else:
        st.session_state.setdefault("model", os.environ.get("LYCHEE_MODEL", "demo"))
        st.text_input(tr("model_label"), key="model", help=tr("model_help"))
    st.selectbox(tr("family_label"), ("auto", *FAMILIES), help=tr("family_help"), key="family",
                 format_func=lambda f: tr("family_auto") if f == "auto" else f"{FAMILIES[f].title} ({f})")
    st.selectbox(tr("mode_label"), MODES, format_func=lambda m: tr(f"mode_{m}"), key="mode")
    st.selectbox(
        tr("dtype_label"), DTYPE_NAMES, format_func=lambda d: tr("dtype_auto") if d == "auto" else d, key="dtype",
        disabled=SHARED,
    )
    st.session_state.setdefault("pixels", DEFAULT_PIXEL_PRESET)
    st.radio(
        tr("pixels_label"),
        list(PIXEL_PRESETS),
        format_func=lambda p: tr(f"pixels_{p}", patches=PIXEL_PRESETS[p] or 0),
        help=tr("pixels_help"),
        key="pixels",
    )
    st.selectbox(
        tr("batch_label"), BATCH_CHOICES, format_func=lambda b: tr("batch_auto") if b == BATCH_AUTO else str(b),
        help=tr("batch_help"), key="batch",
    )
    settings = RunSettings(
        model=st.session_state.model.strip(),
        dtype=st.session_state.dtype,
        mode=st.session_state.mode,
        pixel_patches=PIXEL_PRESETS[st.session_state.pixels],
        batch_size=st.session_state.batch,
        family=st.session_state.family,
    )
    info_box = st.container()

st.html(cards.CARD_CSS)
st.html(cards.uploader_css(tr("uploader_browse"), tr("uploader_limit", mb=st.get_option("server.maxUploadSize"))))
st.title(tr("title"))
st.caption(tr("subtitle"))

# --- the model: loaded once per process; an error panel, not a traceback ----------------------
def model_error_text(exc: Exception) -> str:
    """What the error panel says; on a network only whom to ask (the reason may name the server's paths)."""
    if SHARED:
        logger.error("could not load model %s: %s: %s", settings.model, type(exc).__name__, exc)
        return tr("model_error_shared", model=md(page.model_display_name(settings.model)))
    if isinstance(exc, DemoModelMissingError):
        return tr("demo_missing")
    if isinstance(exc, LycheeRerankError):
        return md(translate_warning(lang, str(exc)))  # in the page's language, without the CLI's --model hint
    return md(f"{type(exc).__name__}: {exc}")  # unexpected: still a readable panel


handle, info, model_error = None, None, None
try:
    waiting = {"loading": "loading_other_tab", "evicted": "loading_again"}
    status = model_pool().status(settings.model, settings.dtype)
    with st.spinner(tr(waiting.get(status, "loading"), model=md(page.model_display_name(settings.model)))):
        handle = model_pool().get(settings.model, settings.dtype)
        info = handle.describe(settings)  # also checks the settings (a family the model cannot take)
except Exception as exc:
    handle, model_error = None, model_error_text(exc)
if model_error:
    fix = "" if SHARED else f"\n\n{tr('model_error_fix')}"
    st.error(f"**{tr('model_error_title')}**\n\n{model_error}{fix}")
else:
    if page.is_demo(settings.model, info.get("path")):
        with st.container(border=True):
            st.info(tr("demo_banner"), icon=":material/science:")
            st.button(tr("demo_load_examples"), key="demo_examples", on_click=page.load_demo_examples,
                      args=(st.session_state,))
    with info_box:
        st.subheader(tr("in_use"))
        st.markdown(
            f"- {tr('info_device')}: `{info['device']}`\n- {tr('info_dtype')}: `{info['dtype']}`\n"
            f"- {tr('info_family')}: `{info['family']}`\n- {tr('info_mode')}: `{info['mode']}`\n"
            f"- {tr('info_pixels')}: `{info['max_pixels'] // info['patch_factor']**2}×{info['patch_factor']}²`"
            + (f"\n- {tr('info_vram')}: `{info['vram_gib']:.2f} GiB`" if info.get("vram_gib") is not None else "")
            + (f"\n- {tr('info_threads')}: `{info['cpu_threads']}`" if info["device"] == "cpu" else "")
        )
        for note in info.get("notes") or []:
            st.caption(md(note))

# --- recent runs of this process (of this session only when others can reach the server) ----------
def reopen(job: Job) -> None:
    st.session_state[JOB] = job
    st.session_state[VIEW] = None
    st.session_state[COMPARE] = []
    st.rerun()  # the button sits in the recent runs' fragment: the whole page shows the reopened run


def recent_count(run: Job) -> str:
    """How many a recent run ranked: '104/400 张（已停止）' when it was stopped."""
    texts = run.texts is not None
    if run.state == STOPPED and len(run.scored) < len(run.results):
        return tr_docs("recent_stopped", texts, scored=len(run.scored), total=len(run.results))
    return tr_docs("recent_count", texts, n=len(run.results))


# The Run button, the progress and the results are one fragment, the recent runs another: a click on Run reruns the
# first, a run's end both, not the whole page (issue 27).
RESULTS_PART, RECENT_PART = "lr_results_part", "lr_recent_part"


RECENT_DRAWN = "lr_recent_drawn"  # which runs the sidebar lists now


def recent_list() -> list[tuple[float, Job]]:
    """The finished runs the sidebar offers again (this page's own run is left out), latest first."""
    mine_only = st.session_state[SESSION] if SHARED else None
    current = st.session_state.get(JOB)
    return [(when, run) for when, run in session_store().recent(mine_only)
            if run is not current and not run.active and run.results]


@st.fragment(key=RECENT_PART)
def recent_runs() -> None:
    recent = recent_list()
    st.session_state[RECENT_DRAWN] = [id(run) for _, run in recent]
    if recent:
        st.subheader(tr("recent_header"))
    for when, run in recent:
        label = tr("recent_line", time=time.strftime("%H:%M", time.localtime(when)),
                   query=md(page.short_query(run.query)) or tr("recent_reference"), count=recent_count(run))
        st.button(label, key=f"recent_{id(run)}", on_click=reopen, args=(run,), width="stretch")


with st.sidebar:
    recent_runs()


PROMPTS_SEEN, PROMPTS_TTL_S = "lr_prompts_seen", 30.0  # the last answer: (what was asked, when, the answer)


def carries_prompts(folder: str, uploads: list) -> bool:
    """Whether the chosen images carry generation prompts: read again only when the choice changes, or after
    PROMPTS_TTL_S (a folder's files may change). A comparison of names and sizes per rerun: st.cache_data hashed
    them, most of the 8-14 ms that reading the page's inputs took with 500 uploads (issue 27)."""
    asked = (folder, tuple((f.name, f.size) for f in uploads))
    seen = st.session_state.get(PROMPTS_SEEN)
    if seen is not None and seen[0] == asked and time.monotonic() - seen[1] < PROMPTS_TTL_S:
        return seen[2]
    found = page.any_prompt([(f.name, f.getvalue()) for f in uploads], folder or None)
    st.session_state[PROMPTS_SEEN] = (asked, time.monotonic(), found)
    return found


# --- what the page was given: read again by each rerun of the run-and-results part below -------------
@dataclass(frozen=True)
class Given:
    """The query, the documents and the choices around them, as the page holds them now."""

    query: str
    reference: Any
    uploaded: list
    folder: str
    folder_issue: tuple | None
    ranking_texts: bool
    texts: list | None
    reusable: list  # the last run's uploads, offered again after a reload
    reused: list
    prompts_offered: bool
    query_source: str


def read_given(job: Job | None) -> Given:
    uploaded = st.session_state.get("uploads") or []
    folder = page.clean_folder(st.session_state.get("folder")) if folder_allowed else ""
    folder_issue = page.folder_problem(folder) if folder else None
    ranking_texts = st.session_state.get("doc_kind") == "texts"
    # After a reload the uploader is empty, but the last run's uploads are still in memory: offer them again.
    reusable = job.uploaded if job is not None and not job.active and not uploaded and not ranking_texts else []
    # "Each image's own prompt" is offered when the images carry prompts (generated art).
    prompts_offered = bool(not ranking_texts and (uploaded or folder) and folder_issue is None
                           and carries_prompts(folder, uploaded))
    return Given(
        query=st.session_state.get("query", ""), reference=st.session_state.get("reference"), uploaded=uploaded,
        folder=folder, folder_issue=folder_issue, ranking_texts=ranking_texts,
        texts=page.texts_from_lines(st.session_state.get("texts")) if ranking_texts else None, reusable=reusable,
        reused=reusable if reusable and st.session_state.get("reuse_uploads", True) else [],
        prompts_offered=prompts_offered,
        query_source=st.session_state.get("query_source", page.TYPED) if prompts_offered else page.TYPED)


def block_reason(given: Given) -> str | None:
    """Why Run cannot start now (its tooltip, and a warning when pressed), or None."""
    if page.query_is_empty(given.query) and given.reference is None and page.query_needed(given.query_source):
        return tr("reason_no_query")
    if given.ranking_texts and not given.texts:
        return tr("reason_no_texts")
    if not given.ranking_texts and not given.uploaded and not given.reused and not given.folder:
        return tr("reason_no_images")
    if not given.ranking_texts and given.folder_issue is not None:
        return tr(given.folder_issue[0], path=md(given.folder_issue[1]))
    return tr("reason_no_model") if handle is None else None


def upload_prep() -> UploadPrep:
    """This page's uploads, written to disk as they come (not when Run is pressed)."""
    return st.session_state.setdefault(UPLOAD_PREP, UploadPrep())


def start_run(given: Given, job: Job | None) -> Job:
    st.session_state[PREVIOUS] = job if job is not None and job.results else st.session_state.get(PREVIOUS)
    images = not given.ranking_texts
    reference = given.reference
    prepared = upload_prep().take(given.uploaded) if images else None
    job = Job(
        handle=handle,
        engine=engine(),
        settings=settings,
        query=given.query,
        instruction=page.chosen_instruction(st.session_state.get("preset"), st.session_state.get("instruction")),
        uploads=[(f.name, f.getvalue()) for f in given.uploaded] if images and prepared is None else [],
        prepared=prepared,
        folder=given.folder or None if images else None,
        query_image=(reference.name, reference.getvalue()) if reference is not None else None,
        texts=given.texts,
        reused=list(given.reused),
        spools=list(job.spools) if given.reused and job is not None else [],
        query_source=given.query_source,
    ).start()
    st.session_state[JOB] = job
    st.session_state.shown = page.CARDS_PER_PAGE
    st.session_state[VIEW], st.session_state[COMPARE] = None, []
    return job


# --- query and images -------------------------------------------------------------------------
def draw_given(given: Given) -> None:
    left, right = st.columns([3, 2])
    with left:
        if given.prompts_offered:
            st.radio(tr("query_source_label"), page.QUERY_SOURCES, format_func=lambda k: tr(f"query_source_{k}"),
                     key="query_source", horizontal=True, help=tr("query_source_help"))
        st.text_area(tr("query_label"), placeholder=tr("query_placeholder"), key="query", height=100)
        st.file_uploader(tr("reference_label"), type=list(IMAGE_TYPES), key="reference", help=tr("reference_help"))
        st.selectbox(tr("preset_label"), page.INSTRUCTION_PRESET_NAMES, format_func=lambda p: tr(f"preset_{p}"),
                     key="preset")
        st.text_input(tr("instruction_label"), placeholder=tr("instruction_placeholder"), key="instruction",
                      help=tr("instruction_help"))
    with right:
        st.radio(tr("doc_kind_label"), ("images", "texts"), format_func=lambda k: tr(f"doc_kind_{k}"),
                 key="doc_kind", horizontal=True)
        if given.ranking_texts:
            st.text_area(tr("texts_label"), placeholder=tr("texts_placeholder"), key="texts", height=180)
        else:
            draw_image_sources(given)


def draw_image_sources(given: Given) -> None:
    st.file_uploader(tr("uploads_label"), type=list(UPLOAD_TYPES), accept_multiple_files=True, key="uploads")
    if given.uploaded:
        st.caption(tr("n_uploaded", n=len(given.uploaded)))
    elif given.reusable:
        st.checkbox(tr("reuse_uploads", n=len(given.reusable)), value=True, key="reuse_uploads")
    if folder_allowed:
        st.text_input(tr("folder_label"), placeholder=tr("folder_placeholder"), key="folder")
        if given.folder_issue is not None:  # said as soon as it is typed, not only after Run
            st.error(tr(given.folder_issue[0], path=md(given.folder_issue[1])))
    else:
        st.caption(tr("folder_hidden", address=st.get_option("server.address") or "0.0.0.0"))


def draw_run_button(job: Job | None, reason: str | None) -> None:
    """Enabled unless a run is going or no model is loaded: a button disabled until the query box loses focus would
    swallow the first click after typing (the click only commits the text)."""
    running = job is not None and job.active
    if running:
        reason = tr("reason_running")  # the Run button's tooltip; the progress below says the rest
    blocked = running or handle is None
    st.button(tr("run"), key="run", type="primary", disabled=blocked, help=reason, shortcut="Ctrl+Enter")
    if reason is not None and st.session_state.get("run") and not blocked:
        st.warning(reason)
    elif reason is not None and not running:
        st.caption(reason)


# --- progress -----------------------------------------------------------------------------------
def draw_progress(job: Job) -> None:
    """A finished run's bar (a running one's is the live view's)."""
    done, total, _ = job.progress()
    st.progress(min(done / max(total, 1), 1.0), text=tr_docs("progress", job.texts is not None, done=done, total=total))


def run_ended() -> None:
    """The live view saw the run end: the results are drawn, and the sidebar's list when it changed (the run before
    joins it). Unchanged, it is not sent again: a button per run kept, in the moment the user waits (issue 27)."""
    changed = [id(run) for _, run in recent_list()] != st.session_state.get(RECENT_DRAWN)
    st.rerun([RESULTS_PART, RECENT_PART] if changed else [RESULTS_PART])  # the rest of the page is unchanged


# While a run goes on, its progress and best-so-far grid are drawn in the browser from a JSON feed
# (lychee_rerank/app/live_feed.py): no page rerun competes with the model for the CPU.
@st.fragment(run_every=page.END_CHECK_S)
def watch_for_end() -> None:
    """A slow check that the page learns the run ended even if the browser's feed missed it."""
    job = st.session_state.get(JOB)
    if job is not None and not job.active:
        st.rerun()


def draw_progress_section(job: Job) -> None:
    """A running job's live view; a finished one's bar, how it ended and its notes."""
    if job.active:
        live_feed.mount(job, lang, st.session_state.get(PREVIOUS), on_stop=job.stop, on_finished=run_ended)
        watch_for_end()
        return
    draw_progress(job)
    if job.state == ERROR:
        st.error(tr("run_failed", error=md(translate_warning(lang, job.error))))
    elif job.state == STOPPED:
        scored = len(job.scored)
        st.warning(tr_docs("stopped", job.texts is not None, scored=scored, skipped=job.total - scored))
    elif job.cached:
        st.success(tr_docs("done_cached", job.texts is not None, n=len(job.results)))
    else:
        done = tr_docs("done", job.texts is not None, n=len(job.results), seconds=job.run_seconds)
        if job.queued_seconds >= 0.05:
            done += " " + tr("done_queued", seconds=job.queued_seconds)
        st.success(done)
    for warning in job.query_warnings:
        st.caption(tr("query_note", warning=md(warning)))
    for note in job.intake_notes:
        st.caption(tr("intake_note", note=md(translate_warning(lang, note))))


# --- results --------------------------------------------------------------------------------------
def draw_card(job: Job, result, decimals: int, icons_only: bool, folded: list | None = None, details: bool = True,
              large: bool = False) -> None:
    """A result's card as one element (see card_html)."""
    st.html(card_html(job, result, decimals, icons_only, folded, details, large))


def card_html(job: Job, result, decimals: int, icons_only: bool, folded: list | None = None, details: bool = True,
              large: bool = False, compared: Collection[int] | None = None) -> str:
    """A card with its buttons; ``folded``: near-duplicates behind it (a +N badge); ``details``: its generation info
    and model output, left out where the card sits in an expander already; ``compared``: the indices in the comparison,
    read once for many cards (session state's lookups are slow). One piece of HTML: the results page draws 60 at once,
    after each run and each pick."""
    badge = tr("warning_badge") if result.warning else None
    rank_line = rank_text(result.rank, result.score, decimals)
    warning = translate_warning(lang, result.warning)
    mark = job.marks.get(result.index)
    compared = st.session_state.get(COMPARE, []) if compared is None else compared
    active = card_actions.active_buttons(job, result.index, compared)
    extra = card_actions.buttons_html(result.index, active, tr, icons_only)
    if job.texts is not None:
        body = cards.text_card_html(result, rank_line=rank_line, badge=badge, warning=warning, mark=mark)
    else:
        notes = " · ".join(translate_warning(lang, note) for note in result.notes)
        stack = (len(folded), tr("stack_badge_help", n=len(folded))) if folded else None
        src = live_feed.thumbnail_src(job, result.index)  # made when the browser asks: the page is not held up
        body = cards.card_html(result, src, rank_line=rank_line, badge=badge, warning=warning, mark=mark,
                               notes=notes, stack=stack, large=large)
    if folded:
        cells = [(r, rank_text(r.rank, r.score, decimals), live_feed.thumbnail_src(job, r.index)) for r in folded]
        extra += cards.folded_html(cells, tr("stack_folded", n=len(folded)))
    if details and result.has_generation:
        extra += cards.generation_html(tr("generation_info"), generation_lines(result, tr), generation_text(result),
                                       tr("copy_generation"))
    return body + extra + (model_output_html(result) if details else "")


def model_output_html(result) -> str:
    """How the score was read and the model's raw output (score highlighted), behind a closed <details>."""
    details = view_details(result)
    body = cards.highlight_score_html(result.raw_output, result.parse_method) or cards.esc(tr("empty_output"))
    return cards.output_html(tr("model_output"), details["method"], details["probabilities"], body)


def card_pressed(job: Job) -> None:
    """A card's button was pressed in the browser (card_actions.js): do what it says; this rerun shows it."""
    card_actions.apply(card_actions.last_action(), job, st.session_state)


def clear_compare() -> None:
    st.session_state[COMPARE] = []


def picks_in_rank_order(job: Job) -> list[int]:
    return [r.index for r in job.scored if job.marks.get(r.index) == PICK]


def compare_picks(job: Job) -> None:
    st.session_state[COMPARE] = picks_in_rank_order(job)[: card_actions.COMPARED_MAX]


def view_details(result) -> dict:
    """Texts about a result, in the page's language: beside the full-size view's image and in a card's output."""
    probabilities = (tr("probabilities", p_yes=result.p_yes, p_no=result.p_no)
                     if result.p_yes is not None and result.p_no is not None else "")
    return {"warning": translate_warning(lang, result.warning), "probabilities": probabilities,
            "notes": [translate_warning(lang, note) for note in result.notes],
            "method": tr(f"parse_{result.parse_method}") if result.parse_method else "",
            "output": result.raw_output or tr("empty_output"),
            "generation": [list(line) for line in generation_lines(result, tr)]}


# What viewer.js calls each label -> the UI string it shows.
VIEW_LABELS = {"pick": "pick", "reject": "reject", "picked": "picked", "rejected": "rejected", "keys": "view_keys",
               "previous": "view_previous", "next": "view_next", "close": "view_close", "output": "model_output",
               "generation": "generation_info"}


@st.fragment
def full_view(job: Job, shown: list, decimals: int) -> None:
    """One result large, over the page; steps, marks and closes in the browser (lychee_rerank/app/viewer.js)."""
    session: ViewSession | None = st.session_state.get(VIEW)
    if session is None:
        return
    if session.closed:  # the grid behind shows the marks made in the view
        st.session_state[VIEW] = None
        st.rerun(scope="app")
    labels = {name: tr(key) for name, key in VIEW_LABELS.items()}
    images = job.texts is None
    data = viewer.payload(session, shown, job.marks, rank_line=lambda r: rank_text(r.rank, r.score, decimals),
                          describe=view_details, thumbnail=job.thumbnail if images else None,
                          preview=job.preview if images else None, labels=labels)
    indices = frozenset(r.index for r in shown)
    viewer.mount(data, on_report=lambda: culling.apply_report(session, viewer.last_report(), job.marks, indices))


def draw_compare(job: Job, decimals: int) -> None:
    """Up to 4 results chosen with ⇄ (or the picks), side by side in boxes of one size."""
    by_index = {r.index: r for r in job.scored}
    chosen = [i for i in st.session_state.get(COMPARE, []) if i in by_index]
    picks = picks_in_rank_order(job)
    left, middle, right = st.columns([3, 1, 1])
    left.caption(tr("compare_hint") if not chosen else tr("compare_header", n=len(chosen)))
    middle.button(tr("compare_picks"), key="compare_picks", on_click=compare_picks, args=(job,),
                  disabled=len(picks) < 2, width="stretch")
    right.button(tr("compare_clear"), key="compare_clear", on_click=clear_compare, disabled=not chosen,
                 width="stretch")
    if len(picks) > card_actions.COMPARED_MAX and chosen == picks[: card_actions.COMPARED_MAX]:
        st.caption(tr("compare_picks_capped", n=len(picks)))
    if not chosen:
        return
    cells = []
    for index in chosen:
        result = by_index[index]
        url = image_url(job.preview(index), f"lr-compare.{index}") if job.texts is None else None
        cells.append((result, rank_text(result.rank, result.score, decimals), url))
    st.html(cards.compare_html(cells))


def draw_result_controls() -> None:
    c1, c2, c3, c4, c5 = st.columns([3, 1, 1, 2, 2])
    st.session_state.setdefault("threshold", 0.0)
    st.session_state.setdefault("columns", 3)
    c1.slider(tr("threshold_label"), 0.0, 10.0, step=0.1, key="threshold")
    c2.selectbox(
        tr("top_k_label"),
        page.TOP_K_CHOICES,
        format_func=lambda k: tr("top_k_all") if k == "all" else str(k),
        key="top_k",
    )
    c3.select_slider(tr("columns_label"), page.GRID_COLUMNS, key="columns")
    c4.radio(tr("sort_label"), page.SORT_ORDERS, format_func=lambda o: tr(f"sort_{o}"), key="sort", horizontal=True)
    c5.selectbox(tr("mark_filter_label"), page.MARK_FILTERS, format_func=lambda f: tr(f"mark_filter_{f}"),
                 key="mark_filter")


def draw_grouping_controls(job: Job) -> tuple[str, bool]:
    """Group by (when the run offers more than none) and Stack near-duplicates (images with pixels at hand)."""
    offered = grouped.group_choices(job)
    how = grouped.settle_choice(st.session_state, "group_by", offered)
    stackable = grouped.stacks_offered(job)
    if len(offered) == 1 and not stackable:
        return how, False
    left, right = st.columns([3, 2])
    if len(offered) > 1:
        left.radio(tr("group_by_label"), offered, format_func=lambda g: tr(f"group_by_{g}"), key="group_by",
                   horizontal=True, help=tr("group_by_help"))
    if stackable:
        right.toggle(tr("stack_label"), key="stack", help=tr("stack_help"))
    return how, stackable and bool(st.session_state.get("stack"))


def draw_downloads(job: Job, shown: list, fields: dict, how: str) -> None:
    """CSV/JSON of every result (or of the filtered set when a pick filter is on), with marks and the group and
    stack columns when those are on; zip of the shown; the main-image table when grouped. Each file is made when
    its button is pressed, not on every draw of the page."""
    exported = job.results if st.session_state.mark_filter == "all" else shown
    columns = st.columns(4 if how != grouped.NONE else 3)
    if how != grouped.NONE:
        columns[3].download_button(tr("download_main_images"),
                                   lambda: ("\ufeff" + takeout.main_image_table(exported, how)).encode("utf-8"),
                                   "lychee-main-images.csv", "text/csv", key="dl_main", on_click="ignore")
    columns[0].download_button(
        tr("download_csv"),
        lambda: ("\ufeff" + to_csv(exported, extra=job.export_fields(), marks=job.marks, fields=fields)).encode(),
        "lychee-results.csv",
        "text/csv",
        key="dl_csv",
        on_click="ignore",
    )
    columns[1].download_button(
        tr("download_json"),
        lambda: to_json(exported, extra=job.export_fields(), marks=job.marks, fields=fields).encode("utf-8"),
        "lychee-results.json",
        "application/json",
        key="dl_json",
        on_click="ignore",
    )
    if job.texts is not None:  # texts have no original files to zip
        return
    zipped = job.zip_count(shown)
    columns[2].download_button(
        tr("download_zip", k=zipped),
        lambda: job.top_k_zip(shown),
        "lychee-top.zip",
        "application/zip",
        key="dl_zip",
        on_click="ignore",
        disabled=zipped == 0,  # failures and duplicates have no file to add
    )


def draw_grid(job: Job, shown: list, stacks: list | None, decimals: int) -> list:
    """The flat grid: a card per result (per stack when stacking), a page at a time; returns the cards' results."""
    tiles = grouped.tiles(shown, stacks)
    visible = tiles[: st.session_state.get("shown", page.CARDS_PER_PAGE)]
    count = sum(len(tile.results) for tile in visible)
    st.caption(tr_docs("showing", job.texts is not None, shown=count, total=len(job.scored)))
    width = st.session_state.columns
    ordered = grouped.sort_tiles(visible, st.session_state.sort)
    compared = set(st.session_state.get(COMPARE, []))
    results_grid.mount([(tile.result.index, card_html(job, tile.result, decimals, width > 3, tile.folded,
                                                      compared=compared)) for tile in ordered], width)
    if len(visible) < len(tiles) and st.button(tr("show_more"), key="more"):
        st.session_state.shown = len(visible) + page.CARDS_PER_PAGE
        st.rerun()
    return [tile.result for tile in ordered]


GROUPS_PER_PAGE = 20  # each group's collapsed others are sent with it: page the groups, not only the cards


def draw_groups(job: Job, shown: list, how: str, stacks: list | None, decimals: int) -> list:
    """One row per group, best group first, a page at a time; returns the results in the order shown."""
    rows = grouped.group_rows(shown, how, stacks)
    visible = rows[: st.session_state.get("groups_shown", GROUPS_PER_PAGE)]
    st.caption(tr("groups_showing", shown=len(visible), total=len(rows)))
    for row in visible:
        draw_group_row(job, row, decimals)
    if len(visible) < len(rows) and st.button(tr("show_more"), key="more_groups"):
        st.session_state.groups_shown = len(visible) + GROUPS_PER_PAGE
        st.rerun()
    return [tile.result for row in visible for tile in (row.best, *row.others)]


def draw_group_row(job: Job, row: grouped.GroupRow, decimals: int) -> None:
    """A group: its name, its best image large with the score, the margin and the seed; the others behind it."""
    best, label = row.best.result, grouped.group_label_key(row.key)
    with st.container(border=True, key=f"lr_group_{best.index}"):
        st.markdown(f"##### {tr(label) if label else md(row.key)}")
        left, right = st.columns([2, 3])
        with left:
            draw_card(job, best, decimals, icons_only=False, folded=row.best.folded, large=True)
        with right:
            st.markdown(tr("group_line", n=row.count, score=cards.format_score(best.score, decimals)))
            if row.margin is not None:
                st.markdown(tr("group_margin", margin=cards.format_score(row.margin, decimals)))
            elif row.count == 1:
                st.caption(tr("group_alone"))
            if best.seed is not None:  # the keeper's seed, one click from the clipboard
                st.caption(tr("group_seed"))
                st.code(str(best.seed), language=None)
        if row.others:
            with st.expander(tr("group_others", n=sum(len(tile.results) for tile in row.others))):
                draw_group_others(job, row.others, decimals)


def draw_group_others(job: Job, others: tuple, decimals: int) -> None:
    """The rest of a group in a grid; their details are in the full-size view (expanders cannot nest)."""
    width = st.session_state.columns
    for start in range(0, len(others), width):
        for column, tile in zip(st.columns(width), others[start : start + width]):
            with column:
                draw_card(job, tile.result, decimals, icons_only=width > 3, folded=tile.folded, details=False)


RATINGS_PENDING = "lr_ratings_pending"  # the rating source awaiting the user's confirmation


def draw_takeout(job: Job, shown: list, how: str) -> None:
    """For a folder run: write ratings as XMP sidecars (after a confirmation), copy the shown images out (or, when
    grouped, each group's main image)."""
    with st.expander(tr("takeout_header")):
        source = st.radio(tr("rating_from_label"), ("score", "marks"), format_func=lambda s: tr(f"rating_from_{s}"),
                          key="rating_from", horizontal=True)
        if st.button(tr("write_ratings"), key="write_ratings"):
            st.session_state[RATINGS_PENDING] = source
        if st.session_state.get(RATINGS_PENDING):
            confirm_ratings(job, st.session_state[RATINGS_PENDING])
        st.text_input(tr("copy_to_label"), key="copy_to")
        main_only = how != grouped.NONE and st.checkbox(tr("copy_main_button"), key="copy_main")
        if st.button(tr("copy_button"), key="copy_button", disabled=not st.session_state.get("copy_to")):
            try:
                folder = st.session_state.copy_to
                copy = (lambda: takeout.copy_main_images(shown, how, folder)) if main_only else (
                    lambda: takeout.copy_shown(shown, folder))
                report = copy()
                st.success(tr("copied", n=len(report.copied), folder=md(folder), manifest=md(report.manifest)))
            except LycheeRerankError as exc:
                st.error(md(exc))


def confirm_ratings(job: Job, source: str) -> None:
    try:
        plan = takeout.ratings_plan(job, source)
    except LycheeRerankError as exc:
        st.session_state[RATINGS_PENDING] = None
        st.error(md(exc))
        return
    if not plan.planned:
        st.session_state[RATINGS_PENDING] = None
        st.info(tr("ratings_nothing"))
        return
    st.warning(tr("write_ratings_confirm", n=len(plan.planned), folder=md(job.folder)))
    yes, no = st.columns(2)
    if yes.button(tr("write_ratings_yes"), key="write_ratings_yes"):
        st.session_state[RATINGS_PENDING] = None
        try:
            report = takeout.write_ratings(job, source)
            st.success(tr("ratings_written", n=len(report.written), skipped=len(report.skipped),
                          refused=len(report.problems)))
            for problem in report.problems:
                st.warning(md(problem))
        except LycheeRerankError as exc:
            st.error(md(exc))
    if no.button(tr("write_ratings_no"), key="write_ratings_no"):
        st.session_state[RATINGS_PENDING] = None
        st.rerun()


def draw_results(job: Job) -> None:
    """A finished run's results: controls, downloads, take-out, comparison and the grid (or the groups)."""
    texts_run = job.texts is not None
    st.subheader(tr("results_header"))
    reference_thumb = job.query_thumbnail()
    st.html(cards.query_html(job.query, image_url(reference_thumb, "lr-query") if reference_thumb else None,
                             tr("query_header")))
    draw_result_controls()
    how, stacking = draw_grouping_controls(job)
    stacks = grouped.run_stacks(st.session_state, job) if stacking else None
    decimals = page.score_decimals(job.results)
    shown = page.visible_results(job.results, st.session_state.threshold, st.session_state.top_k, decimals)
    shown = page.filter_by_mark(shown, job.marks, st.session_state.mark_filter)
    draw_downloads(job, shown, grouped.export_fields(job, how, stacks), how)
    if folder_allowed and takeout.offers_takeout(job):
        draw_takeout(job, shown, how)

    draw_compare(job, decimals)
    skipped = job.total - len(job.scored)
    if job.state == STOPPED and skipped:
        st.caption(tr_docs("skipped_note", texts_run, n=skipped))
    if not shown:
        st.info(tr_docs("nothing_passes", texts_run))
    card_actions.mount(on_action=lambda: card_pressed(job))
    if how == grouped.NONE:
        grid = draw_grid(job, shown, stacks, decimals)
    else:
        grid = draw_groups(job, shown, how, stacks, decimals)
    if st.session_state.get(VIEW) is not None and grid:
        full_view(job, grid, decimals)


@st.fragment(key=RESULTS_PART)
def run_and_results() -> None:
    """The Run button, the progress and the results. A click on Run, the run's end, a pick or a sort reruns only
    this part of the page: the sidebar and the inputs above are not sent to the browser again (issue 27)."""
    job = st.session_state.get(JOB)
    given = read_given(job)
    upload_prep().offer(given.uploaded)
    reason = block_reason(given)
    if st.session_state.get("run") and reason is None and not (job is not None and job.active):
        job = start_run(given, job)
    draw_run_button(job, reason)
    if job is not None:
        draw_progress_section(job)
    else:
        live_feed.mount_idle()
    if job is not None and not job.active and job.results:
        draw_results(job)
    session_store().save(st.session_state[SESSION], st.session_state, JOB)


draw_given(read_given(st.session_state.get(JOB)))
run_and_results()
