"""The examples in the public API's docstrings run and print what they say (floats to 2 decimals)."""

from __future__ import annotations

import doctest
import re

import pytest

from lychee_rerank import groups, reranker, safe_text
from lychee_rerank.scoring import query, score_parser

FLOAT = re.compile(r"\d+\.\d+")


class RoundingChecker(doctest.OutputChecker):
    """Compares floats at 2 decimals, so another CPU's last digits do not fail the example."""

    def check_output(self, want: str, got: str, optionflags: int) -> bool:
        def rounded(text: str) -> str:
            return FLOAT.sub(lambda m: f"{float(m.group()):.2f}", text)

        return super().check_output(rounded(want), rounded(got), optionflags)


@pytest.mark.parametrize("module", [score_parser, query, reranker, safe_text, groups], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(checker=RoundingChecker(), optionflags=doctest.NORMALIZE_WHITESPACE)
    tests = [t for t in finder.find(module) if t.examples]
    assert tests, f"{module.__name__} has no examples"
    for test in tests:
        runner.run(test)
    assert runner.failures == 0
