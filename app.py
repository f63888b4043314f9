"""lychee-rerank's local web app: rank a pile of images against a text query.

Run with ``streamlit run app.py`` (or ``./dev.sh app``). This file only draws the
page; runs, the shared model and cache, cards and texts live in ``lychee_rerank/app/``.
"""

from __future__ import annotations

import os

import streamlit as st

from lychee_rerank.app import cards, page
from lychee_rerank.app.engine import Engine, ModelHandle, RunSettings
from lychee_rerank.app.jobs import ERROR, PREPARING, QUEUED, STOPPED, Job
from lychee_rerank.app.text import DEFAULT_LANGUAGE, LANGUAGES, t, translate_warning
from lychee_rerank.errors import DemoModelMissingError, LycheeRerankError
from lychee_rerank.export import to_csv, to_json
from lychee_rerank.settings import (
    DEFAULT_PIXEL_PRESET,
    DTYPE_NAMES,
    IMAGE_TYPES,
    MODES,
    PATCH_FACTOR,
    PIXEL_PRESETS,
    UPLOAD_TYPES,
)

JOB = "lr_job"
st.set_page_config(page_title="Lychee rerank", page_icon="🍒", layout="wide")
lang = st.session_state.get("lang", DEFAULT_LANGUAGE)


def tr(key: str, **values) -> str:
    return t(lang, key, **values)


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
    st.text_input(tr("model_label"), value=os.environ.get("LYCHEE_MODEL", "demo"), key="model", help=tr("model_help"))
    st.selectbox(tr("mode_label"), MODES, format_func=lambda m: tr(f"mode_{m}"), key="mode")
    st.selectbox(
        tr("dtype_label"), DTYPE_NAMES, format_func=lambda d: tr("dtype_auto") if d == "auto" else d, key="dtype"
    )
    st.radio(
        tr("pixels_label"),
        list(PIXEL_PRESETS),
        index=list(PIXEL_PRESETS).index(DEFAULT_PIXEL_PRESET),
        format_func=lambda p: tr(f"pixels_{p}", patches=(PIXEL_PRESETS[p] or 0) // PATCH_FACTOR**2),
        help=tr("pixels_help"),
        key="pixels",
    )
    st.number_input(tr("batch_label"), min_value=1, max_value=32, value=1, step=1, key="batch")
    settings = RunSettings(
        model=st.session_state.model.strip(),
        dtype=st.session_state.dtype,
        mode=st.session_state.mode,
        max_pixels=PIXEL_PRESETS[st.session_state.pixels],
        batch_size=int(st.session_state.batch),
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
st.button(tr("run"), key="run", type="primary", disabled=blocked, help=reason)
if reason is not None and st.session_state.get("run") and not blocked:
    st.warning(reason)
elif reason is not None:
    st.caption(reason)


# --- progress -----------------------------------------------------------------------------------
def draw_progress(job: Job) -> None:
    total = max(job.total, 1)
    st.progress(min(job.done / total, 1.0), text=tr("progress", done=job.done, total=job.total))
    latest = job.latest
    if job.state == QUEUED:
        st.info(tr("state_queued"))
    elif job.stopping:
        st.caption(tr("state_stopping"))
    elif job.state == PREPARING:
        st.caption(tr("state_preparing"))
    if latest is not None and job.active:
        st.caption(tr("status_latest", n=job.done, name=latest.name, score=cards.format_score(latest.score)))
        if latest.warning:
            st.caption("⚠ " + tr("status_warning", n=job.done, warning=translate_warning(lang, latest.warning)))


@st.fragment(run_every=0.5)
def live_progress() -> None:
    job = st.session_state.get(JOB)
    if job is None:
        return
    if not job.active:
        st.rerun()  # the whole page draws the results
    draw_progress(job)
    st.button(tr("stop"), key="stop", on_click=job.stop, disabled=job.stopping)


if job is not None and job.active:
    live_progress()
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
def draw_card(job: Job, result) -> None:
    badge = tr("warning_badge") if result.warning else None
    rank_line = tr("rank_line", rank=result.rank, score=cards.format_score(result.score))
    warning = translate_warning(lang, result.warning)
    if job.texts is not None:
        st.html(cards.text_card_html(result, rank_line=rank_line, badge=badge, warning=warning))
    else:
        st.html(cards.card_html(result, job.thumbnail(result.index), rank_line=rank_line, badge=badge, warning=warning))
    with st.expander(tr("model_output"), expanded=False):
        st.caption(tr(f"parse_{result.parse_method}") if result.parse_method else "")
        if result.p_yes is not None and result.p_no is not None:
            st.caption(tr("probabilities", p_yes=result.p_yes, p_no=result.p_no))
        body = cards.highlight_score_html(result.raw_output, result.parse_method) or cards.esc(tr("empty_output"))
        st.html(f'<pre style="white-space:pre-wrap;margin:0">{body}</pre>')


if job is not None and not job.active and job.results:
    st.subheader(tr("results_header"))
    st.html(cards.query_html(job.query, job.query_thumbnail(), tr("query_header")))
    c1, c2 = st.columns([3, 1])
    c1.slider(tr("threshold_label"), 0.0, 10.0, 0.0, 0.1, key="threshold")
    c2.selectbox(
        tr("top_k_label"),
        page.TOP_K_CHOICES,
        format_func=lambda k: tr("top_k_all") if k == "all" else str(k),
        key="top_k",
    )
    shown = page.visible_results(job.results, st.session_state.threshold, st.session_state.top_k)

    zipped = job.zip_count(shown)
    d1, d2, d3 = st.columns(3)
    d1.download_button(
        tr("download_csv"),
        ("\ufeff" + to_csv(job.results, extra=job.export_fields())).encode("utf-8"),
        "lychee-results.csv",
        "text/csv",
        key="dl_csv",
        on_click="ignore",
    )
    d2.download_button(
        tr("download_json"),
        to_json(job.results, extra=job.export_fields()).encode("utf-8"),
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

    skipped = job.total - len(job.scored)
    if job.state == STOPPED and skipped:
        st.caption(tr("skipped_note", n=skipped))
    visible = shown[: st.session_state.get("shown", page.CARDS_PER_PAGE)]
    st.caption(tr("showing", shown=len(visible), total=len(job.scored)))
    if not shown:
        st.info(tr("nothing_passes"))
    for row in range(0, len(visible), 3):
        for column, result in zip(st.columns(3), visible[row : row + 3]):
            with column:
                draw_card(job, result)
    if len(visible) < len(shown) and st.button(tr("show_more"), key="more"):
        st.session_state.shown = len(visible) + page.CARDS_PER_PAGE
        st.rerun()
