"""lychee-rerank's local web app: rank a pile of images against a text query.

Run with ``streamlit run app.py`` (or ``./dev.sh app``). This file only draws the
page; runs, the shared model and cache, cards and texts live in ``lychee_rerank/app/``.
"""

from __future__ import annotations

import os
import time

import streamlit as st

from lychee_rerank.app import cards, page
from lychee_rerank.app.engine import Engine, ModelHandle, RunSettings
from lychee_rerank.app.jobs import ERROR, PICK, PREPARING, QUEUED, REJECT, RUNNING, STOPPED, Job
from lychee_rerank.app.sessions import SessionStore, new_session_id
from lychee_rerank.app.text import DEFAULT_LANGUAGE, LANGUAGES, t, translate_warning
from lychee_rerank.errors import DemoModelMissingError, LycheeRerankError
from lychee_rerank.export import to_csv, to_json
from lychee_rerank.settings import (
    BATCH_AUTO,
    BATCH_CHOICES,
    DEFAULT_PIXEL_PRESET,
    DTYPE_NAMES,
    IMAGE_TYPES,
    MODES,
    PATCH_FACTOR,
    PIXEL_PRESETS,
    UPLOAD_TYPES,
)

JOB = "lr_job"
VIEWING = "lr_viewing"  # the input index shown in the full-size view, or None
SESSION = "lr_session"  # this browser session's id, also in the URL (?s=...)
PREVIOUS = "lr_previous_job"  # the run before the current one, shown until the new run has results
st.set_page_config(page_title="Lychee rerank", page_icon="🍒", layout="wide")


@st.cache_resource(show_spinner=False)
def session_store() -> SessionStore:
    return SessionStore()


# A reload (or the same URL in a new tab) gets this session's choices, results and marks back.
if SESSION not in st.session_state:
    session_id = st.query_params.get("s") or new_session_id()
    session_store().restore(session_id, st.session_state, JOB)
    st.session_state[SESSION] = session_id
    st.query_params["s"] = session_id
lang = st.session_state.get("lang", DEFAULT_LANGUAGE)
page.keep_choices_across_languages(st.session_state, lang)


def tr(key: str, **values) -> str:
    return t(lang, key, **values)


def rank_text(rank: int, score: float, decimals: int = 1) -> str:
    """'Rank 3 | Score: 7.2' (two decimals where the grid needs them)."""
    return tr("rank_line", rank=rank, score=cards.format_score(score, decimals))


@st.cache_resource(show_spinner=False)
def engine() -> Engine:
    return Engine()


@st.cache_resource(show_spinner=False, max_entries=1)  # one model in (GPU) memory at a time
def model_handle(model: str, dtype: str) -> ModelHandle:
    return ModelHandle.load(model, dtype)


# --- sidebar: settings ---------------------------------------------------------------------
with st.sidebar:
    st.radio(tr("language"), list(LANGUAGES), format_func=LANGUAGES.get, key="lang", horizontal=True)
    st.header(tr("settings"))
    st.session_state.setdefault("model", os.environ.get("LYCHEE_MODEL", "demo"))
    st.text_input(tr("model_label"), key="model", help=tr("model_help"))
    st.selectbox(tr("mode_label"), MODES, format_func=lambda m: tr(f"mode_{m}"), key="mode")
    st.selectbox(
        tr("dtype_label"), DTYPE_NAMES, format_func=lambda d: tr("dtype_auto") if d == "auto" else d, key="dtype"
    )
    st.session_state.setdefault("pixels", DEFAULT_PIXEL_PRESET)
    st.radio(
        tr("pixels_label"),
        list(PIXEL_PRESETS),
        format_func=lambda p: tr(f"pixels_{p}", patches=(PIXEL_PRESETS[p] or 0) // PATCH_FACTOR**2),
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
        max_pixels=PIXEL_PRESETS[st.session_state.pixels],
        batch_size=st.session_state.batch,
    )
    info_box = st.container()

st.html(cards.CARD_CSS)
st.title(tr("title"))
st.caption(tr("subtitle"))

# --- the model: loaded once per process; an error panel, not a traceback ----------------------
handle, reranker, model_error = None, None, None
try:
    with st.spinner(tr("loading", model=settings.model)):
        handle = model_handle(settings.model, settings.dtype)
        reranker = handle.variant(settings.mode, settings.max_pixels, settings.batch_size)
except DemoModelMissingError:
    model_error = tr("demo_missing")
except LycheeRerankError as exc:
    model_error = translate_warning(lang, str(exc))  # in the page's language, without the CLI's --model hint
except Exception as exc:  # unexpected: still a readable panel
    model_error = f"{type(exc).__name__}: {exc}"
if model_error:
    st.error(f"**{tr('model_error_title')}**\n\n{model_error}\n\n{tr('model_error_fix')}")
else:
    info = reranker.describe()
    if page.is_demo(settings.model, info.get("path")):
        with st.container(border=True):
            st.info(tr("demo_banner"), icon=":material/science:")
            st.button(tr("demo_load_examples"), key="demo_examples", on_click=page.load_demo_examples,
                      args=(st.session_state,))
    with info_box:
        st.subheader(tr("in_use"))
        st.markdown(
            f"- {tr('info_device')}: `{info['device']}`\n- {tr('info_dtype')}: `{info['dtype']}`\n"
            f"- {tr('info_mode')}: `{info['mode']}`\n"
            f"- {tr('info_pixels')}: `{info['max_pixels'] // PATCH_FACTOR**2}×28²`"
            + (f"\n- {tr('info_vram')}: `{info['vram_gib']:.2f} GiB`" if info.get("vram_gib") is not None else "")
        )
        for note in info.get("notes") or []:
            st.caption(note)

# --- recent runs of this process (of this session only when others can reach the server) ----------
def reopen(job: Job) -> None:
    st.session_state[JOB] = job
    st.session_state[VIEWING] = None


with st.sidebar:
    mine_only = None if page.is_localhost(st.get_option("server.address")) else st.session_state[SESSION]
    current = st.session_state.get(JOB)
    recent = [(when, run) for when, run in session_store().recent(mine_only)
              if run is not current and not run.active and run.results]
    if recent:
        st.subheader(tr("recent_header"))
    for when, run in recent:
        label = tr("recent_line", time=time.strftime("%H:%M", time.localtime(when)),
                   query=page.short_query(run.query) or tr("recent_reference"), n=len(run.results))
        st.button(label, key=f"recent_{id(run)}", on_click=reopen, args=(run,), width="stretch")

# --- start a run: the Run button's click is known before the page is drawn ---------------------
job: Job | None = st.session_state.get(JOB)
folder_allowed = page.is_localhost(st.get_option("server.address"))
query_text = st.session_state.get("query", "")
reference = st.session_state.get("reference")
uploaded = st.session_state.get("uploads") or []
folder = page.clean_folder(st.session_state.get("folder")) if folder_allowed else ""
folder_issue = page.folder_problem(folder) if folder else None
ranking_texts = st.session_state.get("doc_kind") == "texts"
texts = page.texts_from_lines(st.session_state.get("texts")) if ranking_texts else None

if page.query_is_empty(query_text) and reference is None:
    reason = tr("reason_no_query")
elif ranking_texts and not texts:
    reason = tr("reason_no_texts")
elif not ranking_texts and not uploaded and not folder:
    reason = tr("reason_no_images")
elif not ranking_texts and folder_issue is not None:
    reason = tr(folder_issue[0], path=folder_issue[1])
elif handle is None:
    reason = tr("reason_no_model")
else:
    reason = None

if st.session_state.get("run") and reason is None and not (job and job.active):
    st.session_state[PREVIOUS] = job if job is not None and job.results else st.session_state.get(PREVIOUS)
    job = Job(
        handle=handle,
        engine=engine(),
        settings=settings,
        query=query_text,
        instruction=page.chosen_instruction(st.session_state.get("preset"), st.session_state.get("instruction")),
        uploads=[] if ranking_texts else [(f.name, f.getvalue()) for f in uploaded],
        folder=None if ranking_texts else folder or None,
        query_image=(reference.name, reference.getvalue()) if reference is not None else None,
        texts=texts,
    ).start()
    st.session_state[JOB] = job
    st.session_state.shown = page.CARDS_PER_PAGE
if job is not None and job.active:
    reason = tr("reason_running")

# --- query and images -------------------------------------------------------------------------
left, right = st.columns([3, 2])
with left:
    st.text_area(tr("query_label"), placeholder=tr("query_placeholder"), key="query", height=100)
    st.file_uploader(tr("reference_label"), type=list(IMAGE_TYPES), key="reference", help=tr("reference_help"))
    st.selectbox(
        tr("preset_label"), page.INSTRUCTION_PRESET_NAMES, format_func=lambda p: tr(f"preset_{p}"), key="preset"
    )
    st.text_input(tr("instruction_label"), placeholder=tr("instruction_placeholder"), key="instruction",
                  help=tr("instruction_help"))
with right:
    st.radio(tr("doc_kind_label"), ("images", "texts"), format_func=lambda k: tr(f"doc_kind_{k}"), key="doc_kind",
             horizontal=True)
    if ranking_texts:
        st.text_area(tr("texts_label"), placeholder=tr("texts_placeholder"), key="texts", height=180)
    else:
        st.file_uploader(tr("uploads_label"), type=list(UPLOAD_TYPES), accept_multiple_files=True, key="uploads")
        if uploaded:
            st.caption(tr("n_uploaded", n=len(uploaded)))
        if folder_allowed:
            st.text_input(tr("folder_label"), placeholder=tr("folder_placeholder"), key="folder")
            if folder_issue is not None:  # said as soon as it is typed, not only after Run
                st.error(tr(folder_issue[0], path=folder_issue[1]))
        else:
            st.caption(tr("folder_hidden", address=st.get_option("server.address") or "0.0.0.0"))

# Enabled unless a run is going or no model is loaded: a button disabled until the query box loses
# focus would swallow the first click after typing (the click only commits the text).
blocked = (job is not None and job.active) or handle is None
st.button(tr("run"), key="run", type="primary", disabled=blocked, help=reason, shortcut="Ctrl+Enter")
if reason is not None and st.session_state.get("run") and not blocked:
    st.warning(reason)
elif reason is not None:
    st.caption(reason)


# --- progress -----------------------------------------------------------------------------------
def draw_progress(job: Job) -> None:
    done, total, latest = job.progress()  # one moment's figures, never a count beside another result
    st.progress(min(done / max(total, 1), 1.0), text=tr("progress", done=done, total=total))
    if job.state == QUEUED:
        st.info(tr("state_queued"))
    elif job.stopping:
        st.caption(tr("state_stopping"))
    elif job.state == PREPARING:
        st.caption(tr("state_preparing"))
    elif job.state == RUNNING and done == 0:
        st.caption(tr("state_scoring"))
    if latest is not None and job.active:
        st.caption(tr("status_latest", name=latest.name, score=cards.format_score(latest.score)))
        if latest.warning:
            st.caption("⚠ " + tr("status_warning", warning=translate_warning(lang, latest.warning)))
    if (rate := job.rate()) is not None and job.active:
        st.caption(tr("status_speed", rate=rate, eta=page.duration_text(lang, job.eta_seconds() or 0.0)))


@st.fragment(run_every=0.5)
def live_progress() -> None:
    job = st.session_state.get(JOB)
    if job is None:
        return
    if not job.active:
        st.rerun()  # the whole page draws the results
    draw_progress(job)
    st.button(tr("stop"), key="stop", on_click=job.stop, disabled=job.stopping)


# Slower than the progress: each redraw sends its thumbnails again (measured: benchmarks/page_updates.py).
@st.fragment(run_every=page.LIVE_GRID_EVERY_S)
def live_grid() -> None:
    job = st.session_state.get(JOB)
    if job is not None and job.active:
        draw_live_grid(job)


def draw_live_grid(job: Job) -> None:
    """The best images so far, filling in as they are scored; until there are any, the previous run's best."""
    best = job.best_so_far(page.LIVE_CARDS) if job.texts is None else []
    previous = st.session_state.get(PREVIOUS)
    if best:
        st.caption(tr("live_header", n=len(best)))
        draw_small_cards(job, best)
    elif previous is not None and previous.texts is None and previous.results:
        st.caption(tr("previous_header", query=page.short_query(previous.query) or tr("recent_reference")))
        draw_small_cards(previous, [r for r in previous.results if r.ok][: page.LIVE_CARDS])


def draw_small_cards(job: Job, best: list) -> None:
    for row in range(0, len(best), page.LIVE_COLUMNS):
        row_cards = zip(st.columns(page.LIVE_COLUMNS), best[row : row + page.LIVE_COLUMNS])
        for place, (column, result) in enumerate(row_cards, start=row + 1):
            rank_line = rank_text(place, result.score)
            column.html(cards.live_card_html(result, job.thumbnail(result.index), rank_line=rank_line))


if job is not None and job.active:
    live_progress()
    live_grid()
elif job is not None:
    draw_progress(job)
    if job.state == ERROR:
        st.error(tr("run_failed", error=translate_warning(lang, job.error)))
    elif job.state == STOPPED:
        st.warning(tr("stopped", scored=len(job.scored), skipped=job.total - len(job.scored)))
    elif job.cached:
        st.success(tr("done_cached", n=len(job.results)))
    else:
        done = tr("done", n=len(job.results), seconds=job.run_seconds)
        if job.queued_seconds >= 0.05:
            done += " " + tr("done_queued", seconds=job.queued_seconds)
        st.success(done)
    for warning in job.query_warnings:
        st.caption(tr("query_note", warning=warning))


# --- results --------------------------------------------------------------------------------------
def draw_card(job: Job, result, decimals: int) -> None:
    badge = tr("warning_badge") if result.warning else None
    rank_line = rank_text(result.rank, result.score, decimals)
    warning = translate_warning(lang, result.warning)
    if job.texts is not None:
        st.html(cards.text_card_html(result, rank_line=rank_line, badge=badge, warning=warning))
    else:
        st.html(cards.card_html(result, job.thumbnail(result.index), rank_line=rank_line, badge=badge, warning=warning))
    draw_mark_buttons(job, result.index, in_view=False)
    with st.expander(tr("model_output"), expanded=False):
        draw_model_output(result)


def draw_model_output(result) -> None:
    st.caption(tr(f"parse_{result.parse_method}") if result.parse_method else "")
    if result.p_yes is not None and result.p_no is not None:
        st.caption(tr("probabilities", p_yes=result.p_yes, p_no=result.p_no))
    body = cards.highlight_score_html(result.raw_output, result.parse_method) or cards.esc(tr("empty_output"))
    st.html(f'<pre style="white-space:pre-wrap;margin:0">{body}</pre>')


def draw_mark_buttons(job: Job, index: int, in_view: bool) -> None:
    """Pick and reject (and View, on cards): a marked button is highlighted; pressing it again clears the mark.

    In the full-size view they have keys, P and X; on the cards they have none (one key, many buttons).
    """
    mark, prefix = job.marks.get(index), "view" if in_view else f"card_{index}"
    view, pick, reject = (None, *st.columns(2)) if in_view else st.columns(3)
    if view is not None:
        view.button(tr("view"), key=f"{prefix}_view", on_click=open_view, args=(index,), width="stretch",
                    icon=":material/zoom_in:")
    pick.button(tr("pick"), key=f"{prefix}_pick", type="primary" if mark == PICK else "secondary",
                on_click=job.toggle_mark, args=(index, PICK), width="stretch", shortcut="P" if in_view else None)
    reject.button(tr("reject"), key=f"{prefix}_reject", type="primary" if mark == REJECT else "secondary",
                  on_click=job.toggle_mark, args=(index, REJECT), width="stretch", shortcut="X" if in_view else None)


def open_view(index: int) -> None:
    st.session_state[VIEWING] = index


def close_view() -> None:
    st.session_state[VIEWING] = None


def step_view(order: list[int], step: int) -> None:
    position = order.index(st.session_state[VIEWING]) if st.session_state.get(VIEWING) in order else 0
    st.session_state[VIEWING] = order[(position + step) % len(order)]


@st.dialog(" ", width="large", on_dismiss=close_view)
def full_view(job: Job, order: list[int], decimals: int) -> None:
    """One result large: image (or text), rank, score, warnings, raw output; arrows step, P/X mark, Esc closes."""
    index = st.session_state[VIEWING]
    result = next(r for r in job.results if r.index == index)
    st.markdown(f"**{rank_text(result.rank, result.score, decimals)}** · {cards.esc(result.name)}")
    if job.texts is None:
        preview = job.preview(index)
        st.image(preview, width=page.display_width(preview))
    else:
        st.html(cards.text_html(result.text))
    if result.warning:
        st.warning(translate_warning(lang, result.warning))
    previous, following = st.columns(2)
    previous.button(tr("view_previous"), key="view_prev", on_click=step_view, args=(order, -1), width="stretch",
                    shortcut="Left")
    following.button(tr("view_next"), key="view_next", on_click=step_view, args=(order, 1), width="stretch",
                     shortcut="Right")
    draw_mark_buttons(job, index, in_view=True)
    draw_model_output(result)
    st.caption(tr("view_keys"))


def draw_compare(job: Job, decimals: int) -> None:
    """2-4 chosen results side by side at full width (images large, or texts)."""
    by_index = {r.index: r for r in job.scored}
    chosen = st.multiselect(tr("compare_label"), list(by_index), key="compare", max_selections=4,
                            format_func=lambda i: f"#{by_index[i].rank} {by_index[i].name}",
                            placeholder=tr("compare_placeholder"))
    if len(chosen) < 2:
        return
    for column, index in zip(st.columns(len(chosen)), chosen):
        result = by_index[index]
        with column:
            st.markdown(f"**{rank_text(result.rank, result.score, decimals)}**")
            if job.texts is None:
                st.image(job.preview(index), caption=result.name, width="stretch")
            else:
                st.html(cards.text_html(result.text))


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


def draw_downloads(job: Job, shown: list) -> None:
    """CSV/JSON of every result (or of the filtered set when a pick filter is on), with marks; zip of the shown."""
    exported = job.results if st.session_state.mark_filter == "all" else shown
    zipped = job.zip_count(shown)
    d1, d2, d3 = st.columns(3)
    d1.download_button(
        tr("download_csv"),
        ("\ufeff" + to_csv(exported, extra=job.export_fields(), marks=job.marks)).encode("utf-8"),
        "lychee-results.csv",
        "text/csv",
        key="dl_csv",
        on_click="ignore",
    )
    d2.download_button(
        tr("download_json"),
        to_json(exported, extra=job.export_fields(), marks=job.marks).encode("utf-8"),
        "lychee-results.json",
        "application/json",
        key="dl_json",
        on_click="ignore",
    )
    d3.download_button(
        tr("download_zip", k=zipped),
        lambda: job.top_k_zip(shown),
        "lychee-top.zip",
        "application/zip",
        key="dl_zip",
        on_click="ignore",
        disabled=zipped == 0,  # texts, failures and duplicates have no file to add
    )


if job is not None and not job.active and job.results:
    st.subheader(tr("results_header"))
    st.html(cards.query_html(job.query, job.query_thumbnail(), tr("query_header")))
    draw_result_controls()
    decimals = page.score_decimals(job.results)
    shown = page.visible_results(job.results, st.session_state.threshold, st.session_state.top_k, decimals)
    shown = page.filter_by_mark(shown, job.marks, st.session_state.mark_filter)
    draw_downloads(job, shown)

    draw_compare(job, decimals)
    skipped = job.total - len(job.scored)
    if job.state == STOPPED and skipped:
        st.caption(tr("skipped_note", n=skipped))
    visible = shown[: st.session_state.get("shown", page.CARDS_PER_PAGE)]
    st.caption(tr("showing", shown=len(visible), total=len(job.scored)))
    if not shown:
        st.info(tr("nothing_passes"))
    width = st.session_state.columns
    grid = page.sorted_for_grid(visible, st.session_state.sort)
    for row in range(0, len(grid), width):
        for column, result in zip(st.columns(width), grid[row : row + width]):
            with column:
                draw_card(job, result, decimals)
    if len(visible) < len(shown) and st.button(tr("show_more"), key="more"):
        st.session_state.shown = len(visible) + page.CARDS_PER_PAGE
        st.rerun()
    if st.session_state.get(VIEWING) is not None and grid:
        full_view(job, [r.index for r in grid], decimals)

session_store().save(st.session_state[SESSION], st.session_state, JOB)
