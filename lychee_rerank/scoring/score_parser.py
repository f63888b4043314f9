"""Read a 0-10 relevance score out of a plain Qwen2.5-VL-Instruct answer (generate mode).

``parse_score(text)`` never raises and never returns a score outside [0, 10].
The text is NFKC-normalised first (full-width digits and punctuation become
ASCII), then read in three levels:

1. **primary**, tried in this order, earliest match of a form winning:
   a. a labelled value: ``Score: 8.6``, ``score=8.6``, ``Rating: 7``,
      ``分数：8.6``, ``得分 8.6 分``, ``评分: 九``, ``Score (0-10): 7``;
   b. a value with an explicit unit or scale: ``8.6/10``, ``85/100`` (-> 8.5),
      ``nine out of ten``, ``86%`` (-> 8.6), ``8.6 分``, ``八点五分``, ``十分``;
   c. a number at the very end of the text (digits), or a whole answer that is
      just a number in words (``eight point six``, ``七点五``).
2. **fallback**: the first standalone number written in digits that lies in 0-10.
3. **none**: score 0.0, ``matched == ""``.

Choices worth knowing:

* Candidates outside 0-10 are dropped, not clamped (``25`` is no score); the
  clamp only tidies values within 0.01 above 10, such as ``10.00001`` (float16
  answers). Scores are rounded to 4 decimals, so ``7.499999999`` reads as 7.5;
  decimal tails of up to 16 digits are read.
* Version-like ``8.6.2``, negatives ``-3``, exponents ``1e5``, times ``10:30``,
  ``inf``/``nan`` and numbers glued to letters (``7th``, ``3cm``) are not numbers.
* Scale boilerplate is ignored wherever it appears: ``0-10``, ``1 to 10``,
  ``0到10分``, ``out of 10``, ``/10``, ``满分10分``, ``10分制``, ``scale of 10``.
* Number words (English ``one``...``ten`` and Chinese ``一``...``十``) are only
  read in a primary form, never by the fallback: "one of the cats" and "一只猫"
  are not scores.
* A Chinese numeral + 分 followed by another Chinese character is the adverb
  (``十分相关`` = "very relevant"), not a score; ``分钟`` and ``分之`` never are.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from ..settings import PARSE_FALLBACK, PARSE_NONE, PARSE_PRIMARY

__all__ = ["ParsedScore", "parse_score"]


@dataclass(frozen=True)
class ParsedScore:
    """A parsed score: value in [0, 10], which level found it, and the text it came from."""

    score: float
    method: str
    matched: str

    @property
    def found(self) -> bool:
        """False when nothing in the text could be read as a score."""
        return self.method != PARSE_NONE


_NONE = ParsedScore(0.0, PARSE_NONE, "")
SCORE_MAX = 10.0
OVERSHOOT = 0.01  # 10.00001 (a float16 artefact) is a 10; 10.5 is no score
DECIMALS = 4

# --- number tokens ---------------------------------------------------------------
# All quantifiers are bounded so that adversarial input cannot make matching slow.

# Digits with an optional decimal part. The guards reject what is not a plain number:
# glued to letters/digits ("7th", "a8"), negative or range tail ("-3", "0-10"),
# version-like ("8.6.2"), exponent ("1e5", rejected by the letter guard), time and
# thousands ("10:30", "1,000"), fractions' denominators ("/10").
_ARABIC = (
    r"(?<![A-Za-z0-9_.\-])(?<![0-9][,:/])"
    r"[0-9]{1,6}(?:\.[0-9]{1,16})?"
    r"(?![A-Za-z0-9_])(?![.,:][0-9])"
)

_EN_DIGITS = "zero|one|two|three|four|five|six|seven|eight|nine"
# "eight", "ten", "eight point six", "nine point two five"; case-insensitive.
_ENGLISH = (
    rf"(?i:\b(?:{_EN_DIGITS}|ten)"
    rf"(?:\s{{1,3}}point\s{{1,3}}(?:{_EN_DIGITS})(?:\s{{1,3}}(?:{_EN_DIGITS}))?)?\b)"
)

_ZH_DIGITS = "零〇一二两三四五六七八九"
# "九", "十", "八点五". Not part of a longer numeral ("二十" = 20, "十一" = 11,
# "百分之八十"), and a bare numeral before 点 is a clock time ("九点"), not a score.
_CHINESE = (
    rf"(?<![{_ZH_DIGITS}十百千万亿点])"
    rf"(?:十|[{_ZH_DIGITS}])(?:点[{_ZH_DIGITS}]{{1,2}})?"
    rf"(?![{_ZH_DIGITS}十百千万亿点])"
)

_ANY_NUMBER = rf"(?P<num>{_ARABIC}|{_ENGLISH}|{_CHINESE})"

# An optional scale right after a value: "%", "/10", "/100", "out of ten".
_SCALE_SUFFIX = (
    r"(?:\s{0,2}(?P<pct>%)"
    r"|\s{0,2}/\s{0,2}(?P<den>100|10)(?:\.0{1,3})?(?![0-9.]?[0-9])"
    r"|(?i:\s{1,3}out\s{1,3}of\s{1,3}(?P<denw>100|10|ten|a\s{1,3}hundred|one\s{1,3}hundred)\b))?"
)

# --- primary forms -------------------------------------------------------------------

# Label, optional parenthetical such as "(0-10)", optional separator, then the value.
# Markdown emphasis ("**Score:** 8") is allowed around the separator.
_LABELLED = re.compile(
    r"(?:(?i:\b(?:relevance\s{1,3})?(?:scores?|rating)\b|\brelevance\b)"
    r"|分数|得分|评分|打分|相关性(?:得分|评分|分数)?|相关度)"
    r"[ \t*_]{0,4}(?:\([^()\n]{0,24}\)[ \t*_]{0,4})?"
    r"(?:[:=]|(?i:is|of)\b|为|是)?[\s*_]{0,6}"
    + _ANY_NUMBER
    + _SCALE_SUFFIX
)

# A value with a required scale: "8.6/10", "85/100", "86%", "nine out of ten".
_SCALED = re.compile(_ANY_NUMBER + _SCALE_SUFFIX)

# "8.6分", "8.6 分", "九分", "八点五分". Not minutes (分钟) or fractions (三分之一); and a
# Chinese numeral + 分 before another Chinese character is the adverb 十分 ("very").
_FEN = re.compile(
    rf"(?P<num>{_ARABIC}|(?P<zh>{_CHINESE}))\s{{0,2}}分(?![钟之])"
)
_CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_FEN_PARTICLES = "吧啊呀哦"

# A digit number (with optional scale) at the very end, allowing closing punctuation.
_TRAILING_PUNCT = r"""[\s.。!！?？)\]}"'*_~>`]{0,12}"""
_AT_END = re.compile(rf"(?P<num>{_ARABIC}){_SCALE_SUFFIX}(?:\s{{0,2}}分)?{_TRAILING_PUNCT}\Z")

# A whole answer that is one number in words: "eight point six", "七点五", "Nine."
_WHOLE_WORDS = re.compile(
    rf"""[\s(*_"'`]{{0,6}}(?P<num>{_ENGLISH}|{_CHINESE}){_SCALE_SUFFIX}{_TRAILING_PUNCT}"""
)

# --- fallback ----------------------------------------------------------------------------

# Any digit number; extra guards drop denominators, percentages and unit-less fractions.
_STANDALONE = re.compile(rf"(?<!/)(?<!/\s)(?P<num>{_ARABIC})(?!\s{{0,2}}[/%])")

# --- scale boilerplate (numbers inside these spans are never the score) -----------------
_BOILERPLATE = re.compile(
    # ranges "0-10", "1 to 10", "0到10", "between 0 and 10", "0～10" (NFKC: "~")
    r"(?<![0-9.])[01](?:\.0)?\s{0,2}(?:-|–|—|~|(?i:to|and)\b|到|至)\s{0,2}(?:100|10)(?:\.0)?(?!\.?[0-9])"
    # denominators: "out of 10", "/10"
    r"|(?i:out\s{1,3}of\s{1,3}(?:100|10|ten)\b)|/\s{0,2}(?:100|10)(?![0-9])"
    # "on a scale of 10", "满分10分", "总分为十分", "10分制", "十分制", "百分制"
    r"|(?i:scale\s{1,3}of\s{1,3}(?:100|10|ten)\b)"
    r"|(?:满分|总分)\s{0,2}(?:为|是)?\s{0,2}(?:100|10|十|一百)\s{0,2}分?"
    r"|(?:100|10|十|百)\s{0,2}分制"
)

_EN_VALUES = {w: i for i, w in enumerate(_EN_DIGITS.split("|"))} | {"ten": 10}
_ZH_VALUES = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2, "十": 10}
_WORD_HUNDRED = re.compile(r"(?i)hundred")


def parse_score(text: str) -> ParsedScore:
    """Read a 0-10 score from a model's answer (generate mode). Never raises.

    Args:
        text: what the model wrote, in English, Chinese or both; full-width characters are fine.

    Returns:
        A :class:`ParsedScore`: ``score`` in [0, 10], ``method`` (``primary`` for an explicit
        score form, ``fallback`` for the first number in 0-10, ``none`` when nothing could be
        read: score 0.0) and ``matched``, the text the score was read from. The levels are
        described in the module docstring.

    Example::

        >>> parse_score("Score: 8.6 - the dress is red, the beach is missing")
        ParsedScore(score=8.6, method='primary', matched='Score: 8.6')
        >>> parse_score("这张图片与查询高度相关，得分：9分")
        ParsedScore(score=9.0, method='primary', matched='得分:9')
        >>> parse_score("no idea")
        ParsedScore(score=0.0, method='none', matched='')
    """
    if not isinstance(text, str) or not text.strip():
        return _NONE
    norm = unicodedata.normalize("NFKC", text)
    masks = [m.span() for m in _BOILERPLATE.finditer(norm)]
    for method, candidates in ((PARSE_PRIMARY, _primary(norm)), (PARSE_FALLBACK, _fallback(norm))):
        for match in candidates:
            parsed = _accept(match, masks, method)
            if parsed is not None:
                return parsed
    return _NONE


def _primary(norm: str) -> Iterator[re.Match[str]]:
    """Primary candidates, best form first; within a form, in reading order."""
    yield from _LABELLED.finditer(norm)
    yield from _by_position(
        [m for m in _SCALED.finditer(norm) if _has_scale(m)]
        + [m for m in _FEN.finditer(norm) if _is_fen_score(m)]
    )
    yield from _AT_END.finditer(norm)
    whole = _WHOLE_WORDS.fullmatch(norm)
    if whole is not None:
        yield whole


def _fallback(norm: str) -> Iterator[re.Match[str]]:
    return _STANDALONE.finditer(norm)


def _by_position(matches: list[re.Match[str]]) -> list[re.Match[str]]:
    return sorted(matches, key=lambda m: m.start())


def _has_scale(m: re.Match[str]) -> bool:
    return bool(m.group("pct") or m.group("den") or m.group("denw"))


def _is_fen_score(m: re.Match[str]) -> bool:
    """Digits + 分 always; a Chinese numeral + 分 only when not followed by a Chinese word."""
    if not m.group("zh"):
        return True
    nxt = m.string[m.end() : m.end() + 1]
    return not _CJK_CHAR.match(nxt) or nxt in _FEN_PARTICLES


def _accept(m: re.Match[str], masks: list[tuple[int, int]], method: str) -> ParsedScore | None:
    """The candidate as a ParsedScore, or None when it is boilerplate or out of range."""
    start, end = m.span("num")
    if any(start < m_end and m_start < end for m_start, m_end in masks):
        return None
    value = _value(m)
    if value is None or not math.isfinite(value) or not 0.0 <= value <= SCORE_MAX + OVERSHOOT:
        return None
    matched = m.group(0).strip()
    return ParsedScore(round(min(SCORE_MAX, max(0.0, value)), DECIMALS), method, matched or m.group("num"))


def _value(m: re.Match[str]) -> float | None:
    """The number in the match, rescaled to 0-10 when a percentage or denominator is given."""
    number = _number(m.group("num"))
    if number is None:
        return None
    groups = m.groupdict()
    if groups.get("pct"):
        return number / 10.0
    denominator = groups.get("den") or groups.get("denw")
    if denominator and (denominator == "100" or _WORD_HUNDRED.search(denominator)):
        return number / 10.0
    return number


def _number(token: str) -> float | None:
    token = token.strip()
    if token[:1].isdigit():
        try:
            return float(token)
        except ValueError:
            return None
    if token[:1] in _ZH_VALUES:
        return _chinese_number(token)
    return _english_number(token)


def _chinese_number(token: str) -> float:
    whole, _, decimals = token.partition("点")
    digits = "".join(str(_ZH_VALUES[c]) for c in decimals)
    return _ZH_VALUES[whole] + (float("0." + digits) if digits else 0.0)


def _english_number(token: str) -> float | None:
    words = token.lower().split()
    if not words or words[0] not in _EN_VALUES:
        return None
    whole = _EN_VALUES[words[0]]
    digits = "".join(str(_EN_VALUES[w]) for w in words[2:] if w in _EN_VALUES)
    return whole + (float("0." + digits) if digits else 0.0)
