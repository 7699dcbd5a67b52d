"""The zero-information controls of compress.extractive_summaries (no model: a character tokenizer)."""

from __future__ import annotations

import pytest

from mi_utils.compress import CONSTANT_SUMMARY, CONTROLS, EXTRACTIVE, extractive_summaries
from mi_utils.data import Record

from fakes import FakeTokenizer


def _records(contexts):
    return [Record(id=f"r{i}", context=c, query="q?", answer="a", dataset="toy") for i, c in enumerate(contexts)]


def test_controls_are_extractive_methods():
    assert set(CONTROLS) == {"shared_prefix", "constant"} and set(CONTROLS) <= set(EXTRACTIVE)


def test_constant_is_one_text_for_every_record_and_sample():
    out = extractive_summaries(_records(["alpha beta", "gamma delta", "epsilon"]), "constant", 1, FakeTokenizer(), M=2)
    texts = {z.text for row in out for z in row}
    assert texts == {CONSTANT_SUMMARY} and [len(row) for row in out] == [2, 2, 2]
    assert {z.compressor for row in out for z in row} == {"constant"}


def test_shared_prefix_without_a_common_prefix_points_to_constant():
    with pytest.raises(ValueError, match="share no common prefix.*use method 'constant'"):
        extractive_summaries(_records(["alpha beta", "gamma delta"]), "shared_prefix", 1, FakeTokenizer())
