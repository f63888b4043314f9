"""Query text clean-up and validation, before the query goes into the ``<Query>:`` slot.

``normalize_query`` only tidies; it never adds words, tags or instructions:

* NFKC normalisation: full-width letters, digits and punctuation become ASCII
  (``ＲＥＤ`` -> ``RED``, ``，`` -> ``,``, ``：`` -> ``:``). NFKC leaves the ideographic
  full stop alone, so ``。`` (and the half-width ``｡``) are mapped to ``.`` as well,
  to treat both Chinese sentence marks alike. Other Chinese punctuation without an
  ASCII twin of the same meaning (``、《》“”``) is kept. No space is added after
  punctuation.
* Whitespace of any kind (newlines, tabs, U+3000 ideographic space, NBSP, and the
  zero-width space U+200B, which marks a word break) becomes one space; leading
  and trailing whitespace is stripped. Invisible characters that are not breaks
  (BOM U+FEFF, word joiner U+2060, soft hyphen U+00AD, U+180E) and control
  characters are removed. ZWJ/ZWNJ are kept: emoji sequences need them.
* A space is inserted between a Chinese character and an ASCII letter or digit
  only where jieba's segmentation puts a word boundary there: ``一只black cat`` ->
  ``一只 black cat``, ``红色dress`` -> ``红色 dress``, but words jieba keeps whole
  such as ``T恤``, ``U盘``, ``B超``, ``SIM卡`` stay as they are. Digits count as
  Latin, so ``2024年`` -> ``2024 年`` and ``3D打印`` -> ``3D 打印`` (jieba splits both).

``validate_query`` normalises, rejects empty queries, warns when NUL characters were
removed (a NUL never reaches the model) and, given a token counter, truncates queries
longer than the limit (``MAX_QUERY_TOKENS`` by default).
"""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from collections.abc import Callable

from ..errors import InvalidQueryError, InvalidSettingError
from ..settings import MAX_QUERY_TOKENS

__all__ = ["normalize_query", "validate_query"]

# Characters NFKC leaves as they are but that we map: Chinese full stops -> ".".
_PUNCT_MAP = str.maketrans({"\u3002": ".", "\uff61": "."})

# Zero-width space marks a word break: turn it into a real space before collapsing.
_BREAKS = str.maketrans({"\u200b": " "})

# Invisible characters that are not word breaks (BOM, word joiner, soft hyphen,
# Mongolian vowel separator) and C0/C1 controls other than whitespace: dropped.
_INVISIBLE = re.compile(r"[\ufeff\u2060\u00ad\u180e\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")

# Any run of whitespace (str.split semantics would also do; a regex keeps it explicit).
_WHITESPACE = re.compile(r"\s+")

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# A Chinese character directly next to an ASCII letter/digit, either order: only texts
# that have one go through jieba at all.
_MIXED_BOUNDARY = re.compile(rf"[{_HAN}][A-Za-z0-9]|[A-Za-z0-9][{_HAN}]")
_HAN_CHAR = re.compile(rf"[{_HAN}]")
_LATIN_CHAR = re.compile(r"[A-Za-z0-9]")

NUL_WARNING = "The query held NUL characters (\\x00), which were removed: check where the text came from."

_jieba_lock = threading.Lock()
_jieba_tokenizer = None


def normalize_query(text: str) -> str:
    """Tidy a query without changing what it asks for; the rules are in the module docstring.

    Args:
        text: the query as typed or pasted.

    Returns:
        The query after NFKC normalisation, with any run of whitespace as one space, invisible
        characters removed, and a space where jieba ends a word between Chinese and Latin text.
        An all-whitespace query becomes ``""`` (``validate_query`` refuses it).

    Example::

        >>> normalize_query("  一只black cat，ＲＥＤ  ")
        '一只 black cat,RED'
        >>> normalize_query("红色dress\u3000on a beach。")
        '红色 dress on a beach.'
    """
    text = unicodedata.normalize("NFKC", text).translate(_PUNCT_MAP).translate(_BREAKS)
    text = _WHITESPACE.sub(" ", _INVISIBLE.sub("", text)).strip()
    if _MIXED_BOUNDARY.search(text):
        text = _space_mixed_words(text)
    return text


def validate_query(
    text: str,
    *,
    max_tokens: int | None = None,
    count_tokens: Callable[[str], int] | None = None,
) -> tuple[str, str | None]:
    """Normalise and check a query; returns ``(query, warning or None)``.

    Raises InvalidQueryError when the query is empty; NUL characters are removed with a warning.
    With ``count_tokens`` the query is cut to at most ``max_tokens`` tokens (``MAX_QUERY_TOKENS``
    when not given), at a character boundary, and the warning says so. Without a counter nothing is cut.
    """
    text = text if isinstance(text, str) else ""
    query = normalize_query(text)
    if not query:
        raise InvalidQueryError("The query is empty: type a query describing the images you are looking for.")
    nul = NUL_WARNING if "\x00" in text else None
    if count_tokens is None:
        return query, nul
    limit = MAX_QUERY_TOKENS if max_tokens is None else max_tokens
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidSettingError(f"max_tokens must be a positive whole number, got {max_tokens!r}.")
    total = count_tokens(query)
    if total <= limit:
        return query, nul
    cut = _truncate(query, limit, count_tokens)
    kept = count_tokens(cut)
    warning = f"The query was truncated from {total} to {kept} tokens (limit {limit}); the end was dropped."
    return cut, " ".join(filter(None, (nul, warning)))


def _truncate(query: str, limit: int, count_tokens: Callable[[str], int]) -> str:
    """The longest prefix (by characters) whose token count is within the limit."""
    lo, hi = 0, len(query)  # invariant: prefix of length lo fits, length hi does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if count_tokens(query[:mid].rstrip()) <= limit:
            lo = mid
        else:
            hi = mid
    cut = query[:lo].rstrip()
    if not cut:
        raise InvalidQueryError(
            f"Not even the first character of the query fits in {limit} tokens: "
            "type a shorter query or raise the token limit."
        )
    return cut


def _space_mixed_words(text: str) -> str:
    """Insert a space where jieba ends a word between a Chinese and a Latin/digit character."""
    words = [w for w in _jieba().cut(text) if w]
    out = [words[0]] if words else []
    for prev, word in zip(words, words[1:]):
        if _is_script_change(prev[-1], word[0]):
            out.append(" ")
        out.append(word)
    return "".join(out)


def _is_script_change(left: str, right: str) -> bool:
    return bool(
        (_HAN_CHAR.match(left) and _LATIN_CHAR.match(right))
        or (_LATIN_CHAR.match(left) and _HAN_CHAR.match(right))
    )


def _jieba():
    """jieba's default tokenizer, initialised once, quietly, on first use."""
    global _jieba_tokenizer
    if _jieba_tokenizer is None:
        with _jieba_lock:
            if _jieba_tokenizer is None:
                # lazy: jieba loads its dictionary (about a second); only mixed Chinese/Latin queries need it
                import jieba

                jieba.setLogLevel(logging.WARNING)
                jieba.initialize()
                _jieba_tokenizer = jieba.dt
    return _jieba_tokenizer
