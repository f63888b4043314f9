"""Result cards as HTML strings: score bands, escaping, the raw output with its score highlighted.

Every user-controlled text (file names, model output, warnings) goes through :func:`esc`.
"""

from __future__ import annotations

import html
import json
from typing import Any

from ..results import RankResult
from ..scoring.score_parser import parse_score
from ..settings import PARSE_FALLBACK, PARSE_PRIMARY

BAND_COLOURS = {"low": "#808080", "mid": "#1E88E5", "high": "#2E7D32"}

CARD_CSS = """
<style>
.lr-card, .lr-live { margin-bottom: 0.25rem; }
.lr-live .lr-thumb { height: 120px; }
.lr-live-grid { display: grid; gap: 1rem; }
.lr-status { contain: strict; height: 7rem; }
.lr-progress-text, .lr-line { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.lr-progress-text { font-size: 0.9rem; margin-bottom: 0.3rem; }
.lr-bar { height: 0.5rem; background: #e6e6e6; border-radius: 0.25rem; overflow: hidden; }
.lr-bar-fill { height: 100%; width: 0; background: #4CAF50; }
.lr-queued { padding: 0.75rem 1rem; border-radius: 0.5rem; background: #e7f0fb; color: #0b4a8b; margin: 0.5rem 0; }
.lr-lines { color: #6b6b6b; font-size: 0.85rem; margin: 0.4rem 0; }
.lr-stop { padding: 0.25rem 0.75rem; border: 1px solid #d0d0d0; border-radius: 0.5rem; background: #fff;
           font: inherit; cursor: pointer; margin-bottom: 0.5rem; }
.lr-stop:disabled { color: #aaa; cursor: default; }
.lr-output { margin: 0.25rem 0 0.75rem; font-size: 0.85rem; }
.lr-output summary, .lr-gen summary { cursor: pointer; color: #555; }
.lr-gen { margin: 0.25rem 0; font-size: 0.85rem; }
.lr-gen-text { white-space: pre-wrap; overflow-wrap: anywhere; margin: 0.3rem 0; padding: 0.5rem;
               background: #f6f6f6; border-radius: 4px; }
.lr-copy { padding: 0.1rem 0.6rem; border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 0.4rem; background: #fff;
           font: inherit; cursor: pointer; }
.lr-copy[data-copied]::after { content: " ✓"; color: #2E7D32; }
.lr-grid { display: grid; gap: 1rem; align-items: start; }
.lr-live-header { color: #6b6b6b; font-size: 0.85rem; margin: 0.5rem 0; }
.lr-live .lr-name { font-size: 0.75rem; }
.lr-thumb { display: flex; align-items: center; justify-content: center; height: 220px;
            overflow: hidden; border-radius: 6px; background: #f4f4f4; }
.lr-thumb img { max-width: 100%; max-height: 100%; object-fit: contain; box-sizing: border-box;
                transition: transform 0.25s ease; }
.lr-card:hover .lr-thumb img { transform: scale(1.06); }
.lr-top .lr-thumb { height: 250px; }
.lr-top .lr-thumb img { border: 3px solid #4CAF50; border-radius: 4px; }
.lr-rank { font-weight: 700; margin-top: 0.35rem; }
.lr-name { font-size: 0.85rem; color: #555; overflow-wrap: anywhere; }
.lr-text { min-height: 120px; padding: 0.6rem 0.75rem; border-radius: 6px; background: #f4f4f4;
           white-space: pre-wrap; overflow-wrap: anywhere; font-size: 0.95rem; }
.lr-top .lr-text { border: 3px solid #4CAF50; }
.lr-query { display: flex; gap: 0.75rem; align-items: center; }
.lr-query img { max-height: 96px; max-width: 160px; border-radius: 4px; }
.lr-note { font-size: 0.75rem; color: #888; overflow-wrap: anywhere; }
.lr-card.lr-picked .lr-thumb { outline: 3px solid #2E7D32; outline-offset: -3px; }
.lr-card.lr-rejected { opacity: 0.4; filter: grayscale(0.7); }
.lr-card.lr-rejected .lr-thumb { outline: 3px solid #C62828; outline-offset: -3px; }
.lr-acts { display: flex; flex-wrap: wrap; gap: 0.5rem; margin: 0.5rem 0 0.25rem; }
.lr-act { padding: 0.25rem 0.7rem; min-height: 2.25rem; border: 1px solid rgba(49, 51, 63, 0.2); border-radius: 0.5rem;
          background: #fff; color: inherit; font: inherit; font-size: 0.9rem; line-height: 1.4; white-space: nowrap;
          cursor: pointer; }
.lr-act:hover { border-color: #4CAF50; color: #2E7D32; }
.lr-act:focus-visible { outline: 2px solid #4CAF50; outline-offset: 1px; }
.lr-act-pick.lr-on { background-color: #2E7D32; border-color: #2E7D32; color: #fff; }
.lr-act-reject.lr-on { background-color: #C62828; border-color: #C62828; color: #fff; }
.lr-act-cmp.lr-on { background-color: #1E88E5; border-color: #1E88E5; color: #fff; }
.lr-compare { display: grid; gap: 0.75rem; align-items: start; }
.lr-compare figure { margin: 0; }
.lr-compare .lr-cmp-box { display: flex; align-items: center; justify-content: center; height: 62vh;
                          background: #f4f4f4; border-radius: 6px; overflow: hidden; }
.lr-compare .lr-cmp-box img { width: 100%; height: 100%; object-fit: contain; }
.lr-compare figcaption { margin-top: 0.3rem; font-size: 0.85rem; color: #555; overflow-wrap: anywhere; }
.lr-thumb { position: relative; }
.lr-large .lr-thumb { height: 340px; }
.lr-large .lr-thumb img { width: 100%; height: 100%; }  /* a small picture fills the box, still contained */
.lr-stack { position: absolute; top: 6px; right: 6px; padding: 0.05rem 0.45rem; border-radius: 10px;
            font-size: 0.8rem; font-weight: 700; color: #fff; background: rgba(30, 30, 30, 0.75); }
.lr-folded summary { cursor: pointer; font-size: 0.8rem; color: #555; }
.lr-folded-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(90px, 1fr)); gap: 0.4rem;
                  margin-top: 0.3rem; }
.lr-folded-grid img { width: 100%; height: 80px; object-fit: contain; background: #f4f4f4; border-radius: 4px; }
.lr-folded-grid figure { margin: 0; font-size: 0.7rem; color: #555; overflow-wrap: anywhere; }
.lr-warn { display: inline-block; margin-top: 0.2rem; padding: 0.05rem 0.4rem; font-size: 0.8rem;
           color: #8a5300; background: #fff4e0; border: 1px solid #f0c36d; border-radius: 4px; }
</style>
"""


def score_band(score: float) -> str:
    """'low' below 6, 'mid' from 6 to below 8, 'high' from 8."""
    if score >= 8:
        return "high"
    if score >= 6:
        return "mid"
    return "low"


def band_colour(score: float) -> str:
    return BAND_COLOURS[score_band(score)]


def format_score(score: float, decimals: int = 1) -> str:
    return f"{score:.{decimals}f}"


def esc(text: Any) -> str:
    """HTML-escape anything for use in element text or a quoted attribute; newlines become spaces."""
    return html.escape(str(text), quote=True).replace("\n", " ").replace("\r", " ")


def highlight_score_html(raw_output: str, parse_method: str) -> str:
    """The raw model output escaped; in generate mode the text the score was read from is in <mark>."""
    if not raw_output:
        return ""
    if parse_method not in (PARSE_PRIMARY, PARSE_FALLBACK):
        return html.escape(raw_output)
    matched = parse_score(raw_output).matched
    at = raw_output.find(matched) if matched else -1
    if at < 0:
        return html.escape(raw_output)
    end = at + len(matched)
    return f"{html.escape(raw_output[:at])}<mark>{html.escape(matched)}</mark>{html.escape(raw_output[end:])}"


def card_html(result: RankResult, src: str, *, rank_line: str, badge: str | None, warning: str | None,
              mark: str | None = None, notes: str | None = None, stack: tuple[int, str] | None = None,
              large: bool = False) -> str:
    """One grid card: thumbnail (``src``: its URL), bold 'Rank X | Score: Y' in its band colour, file name, notes,
    warning badge.

    A picked card is outlined green; a rejected one red and dimmed. ``stack`` (count folded behind
    it, tooltip) puts a "+N" badge on the thumbnail; ``large`` is a group's best image.
    """
    name = f'<div class="lr-name" title="{esc(result.name)}">{esc(result.name)}</div>'
    if notes:
        name += f'<div class="lr-note">{esc(notes)}</div>'
    over = f'<span class="lr-stack" title="{esc(stack[1])}">+{stack[0]}</span>' if stack is not None else ""
    card = _card(result, _thumb_html(result, src, over), name, rank_line, badge, warning, mark)
    return f'<div class="lr-large">{card}</div>' if large else card


def folded_html(cells: list[tuple[RankResult, str, str]], summary: str) -> str:
    """The near-duplicates folded behind a stack's best: a closed ``<details>`` of small thumbnails,
    each with its rank line and name (``cells``: result, rank line, thumbnail URL)."""
    figures = "".join(f'<figure data-index="{r.index}"><img src="{esc(src)}" alt="{esc(r.name)}">'
                      f"<div>{esc(line)}</div><div>{esc(r.name)}</div></figure>" for r, line, src in cells)
    return (f'<details class="lr-folded"><summary>{esc(summary)}</summary>'
            f'<div class="lr-folded-grid">{figures}</div></details>')


def text_card_html(result: RankResult, *, rank_line: str, badge: str | None, warning: str | None,
                   mark: str | None = None) -> str:
    """One grid card for a text document: the text in a box, then the rank line and any warning."""
    return _card(result, text_html(result.text), "", rank_line, badge, warning, mark)


def text_html(text: str | None) -> str:
    """A text document in its box (line breaks kept)."""
    return f'<div class="lr-text">{html.escape(text or "")}</div>'


def _thumb_html(result: RankResult, src: str, over: str = "") -> str:
    return f'<div class="lr-thumb"><img src="{esc(src)}" alt="{esc(result.name)}">{over}</div>'


def _rank_html(result: RankResult, rank_line: str) -> str:
    return f'<div class="lr-rank" style="color:{band_colour(result.score)}">{esc(rank_line)}</div>'


def _card(result: RankResult, top: str, name: str, rank_line: str, badge: str | None, warning: str | None,
          mark: str | None) -> str:
    classes = "lr-card lr-top" if result.rank == 1 else "lr-card"
    if mark in ("pick", "reject"):
        classes += f" lr-{mark}ed"
    rank = _rank_html(result, rank_line)
    note = esc(warning or "")
    flag = f'<div class="lr-warn" title="{note}">{esc(badge)}: {note}</div>' if badge else ""
    return (f'<div class="{classes}" data-rank="{result.rank}" data-mark="{esc(mark or "")}">'
            f"{top}{rank}{name}{flag}</div>")


def query_html(text: str | None, src: str | None, label: str) -> str:
    """The query a result grid was ranked against: its reference image (``src``: its URL) and/or text."""
    image = f'<img src="{esc(src)}" alt="">' if src else ""
    words = f"<span>{esc(text)}</span>" if text else ""
    return f'<div class="lr-query"><b>{esc(label)}</b>{image}{words}</div>'


def output_html(label: str, method: str, probabilities: str, body: str) -> str:
    """The model's own output under a card, closed (``body``: already escaped, the score highlighted): one
    element where an expander with its captions was four, which the page sends and draws for every card."""
    lines = "".join(f'<div class="lr-note">{esc(line)}</div>' for line in (method, probabilities) if line)
    return (f'<details class="lr-output"><summary>{esc(label)}</summary>{lines}'
            f'<pre style="white-space:pre-wrap;margin:0">{body}</pre></details>')


def generation_html(summary: str, lines: list[tuple[str, str]], text: str, copy_label: str) -> str:
    """What an image's file says about how it was made, closed: labelled lines, then the A1111 text with a copy
    button (card_actions.js copies the ``<pre>``)."""
    rows = "".join(f'<div class="lr-note"><b>{esc(label)}</b>: {esc(value)}</div>' for label, value in lines)
    return (f'<details class="lr-gen"><summary>{esc(summary)}</summary>{rows}'
            f'<pre class="lr-gen-text">{html.escape(text)}</pre>'
            f'<button type="button" class="lr-copy">{esc(copy_label)}</button></details>')


def compare_html(cells: list[tuple[RankResult, str, str | None]]) -> str:
    """Results side by side in boxes of one size, so their images line up: (result, rank line, image URL or None)."""
    figures = []
    for result, rank_line, url in cells:
        body = f'<img src="{esc(url)}" alt="{esc(result.name)}">' if url else text_html(result.text)
        figures.append(f'<figure class="lr-cmp-cell">{_rank_html(result, rank_line)}'
                       f'<div class="lr-cmp-box">{body}</div><figcaption>{esc(result.name)}</figcaption></figure>')
    columns = f"grid-template-columns: repeat({max(len(cells), 1)}, minmax(0, 1fr));"
    return f'<div class="lr-compare" style="{columns}">{"".join(figures)}</div>'


def uploader_css(browse: str, limit: str) -> str:
    """Streamlit draws its uploaders' button and size line in English: show them in the page's language."""
    button = '[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] p'
    note = '[data-testid="stFileUploaderDropzoneInstructions"] span'
    return (f"<style>{button}, {note} {{ font-size: 0; }}\n"
            f"{button}::after {{ content: {json.dumps(browse, ensure_ascii=False)}; font-size: 0.875rem; }}\n"
            f"{note}::after {{ content: {json.dumps(limit, ensure_ascii=False)}; font-size: 0.875rem; }}</style>")
