"""Strings the user controls (file names, queries, warnings quoting them) made inert where we write them.

* :func:`csv_cell`: a text cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return
  gets a leading ``'`` (OWASP's advice against CSV formula injection), so a spreadsheet shows
  ``=HYPERLINK(...)`` as text instead of running it. Numbers are not text: a float, an int, or a
  text that is only a number (``-0.5``, ``+3``) is left as it is.
* :func:`terminal_text`: control characters (C0, DEL, C1: newline, carriage return, tab, ESC,
  BEL...) and bidirectional controls (U+202A-202E, U+2066-2069, U+200E/200F, U+061C) are written
  as visible escapes (``\\n``, ``\\x1b``, ``\\u202e``), so a name cannot print a fake table row,
  clear the screen or show ``rtl2\\u202etxt.png`` as ``rtl2gnp.txt``.
* :func:`file_name`: for names we write into a zip: control and bidi characters become ``_``, so
  ``unzip -l`` or a file manager shows the name as it reads, not a fake line or a reversed extension.
* :func:`markdown_literal`: for Streamlit's Markdown (captions, alerts, button labels, tooltips,
  spinners): every ASCII punctuation character is backslash-escaped, which CommonMark renders as
  the character itself, so a name like ``![t](http://host/beacon.png).png`` shows as that text
  instead of becoming an image the browser fetches (or a link, a heading, a formula, a code span).

JSON output needs neither: it is exact JSON, escaped by the JSON encoder.
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_MARKDOWN_SPECIAL = re.compile(r"""([!-/:-@\[-`{-~])""")  # every ASCII punctuation character
_LINE_BREAK = re.compile(r"[\r\n]+")
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def csv_cell(value: Any) -> Any:
    """``value`` as a CSV cell that no spreadsheet runs as a formula (non-text values are returned as they are).

    Example::

        >>> csv_cell("=HYPERLINK(\\"http://x\\")"), csv_cell("-0.5"), csv_cell(-0.5), csv_cell("red.png")
        ('\\'=HYPERLINK("http://x")', '-0.5', -0.5, 'red.png')
    """
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def terminal_text(text: Any) -> str:
    """``str(text)`` with control and bidi characters written as visible escapes, for a terminal.

    Example::

        >>> terminal_text("a\\nb\\x1b[2J\\u202etxt.png")
        'a\\\\nb\\\\x1b[2J\\\\u202etxt.png'
    """
    return _UNSAFE.sub(_escape, str(text))


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def markdown_literal(text: Any) -> str:
    """``str(text)`` for a Markdown string, shown exactly as it is (no image, link, emphasis or heading).

    Line breaks become spaces: a name stays on its line. Example::

        >>> markdown_literal("![t](http://x/b.png)")
        '\\\\!\\\\[t\\\\]\\\\(http\\\\:\\\\/\\\\/x\\\\/b\\\\.png\\\\)'
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _LINE_BREAK.sub(" ", str(text)))


def file_name(text: Any) -> str:
    """``str(text)`` with control and bidi characters replaced by ``_`` (a name written into an archive).

    Example::

        >>> file_name("rtl2\\u202etxt.png"), file_name("a\\nb.png")
        ('rtl2_txt.png', 'a_b.png')
    """
    return _UNSAFE.sub("_", str(text))
