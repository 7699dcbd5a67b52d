"""Tests for the shared-question synthetic task (``synthetic_clinical_shared``).

Every record is asked the same question (:data:`SHARED_QUERY`): its principal diagnosis, with the
past-history condition as an in-record confuser and three diagnoses absent from the record.
"""

from __future__ import annotations

import collections
import re

import pytest

from mi_utils.data import DATASETS, Record, load_dataset, synthetic
from mi_utils.data.synthetic import SHARED_QUERY, shared_question_records


@pytest.fixture(scope="module")
def shared():
    return load_dataset("synthetic_clinical_shared")


@pytest.fixture(scope="module")
def base():
    return load_dataset("synthetic_clinical")


def test_registered_and_32_records(shared):
    assert "synthetic_clinical_shared" in DATASETS
    assert len(shared) == 32
    assert all(isinstance(r, Record) for r in shared)
    assert all(r.task == "multiple_choice" and r.dataset == "synthetic_clinical_shared" for r in shared)
    # name normalisation of load_dataset applies too
    assert load_dataset("Synthetic-Clinical-Shared") == shared


def test_every_query_is_the_shared_one_and_names_nobody(shared):
    assert len({r.query for r in shared}) == 1
    names = {n for ns in synthetic._FIRST_NAMES.values() for n in ns} | set(synthetic._LAST_NAMES)
    for r in shared:
        assert r.query == SHARED_QUERY
        for part in r.metadata["patient_name"].split():
            assert part not in r.query
    assert not any(re.search(rf"\b{re.escape(n)}\b", SHARED_QUERY) for n in names)
    assert "Mr." not in SHARED_QUERY and "Ms." not in SHARED_QUERY


def test_answer_is_the_principal_diagnosis_stated_once(shared):
    for r in shared:
        assert r.context.count(r.answer) == 1, r.id
        lines = [ln for ln in r.context.split("\n") if ln.startswith("Principal diagnosis:")]
        assert lines == [f"Principal diagnosis: {r.answer}."], r.id
        assert r.metadata["answer_char_start"] == r.context.index(r.answer)
        assert r.context[r.metadata["answer_char_start"] - len("Principal diagnosis: ") :].startswith(
            "Principal diagnosis: " + r.answer
        )


def test_options_answer_confuser_and_absent_distractors(shared):
    for r in shared:
        assert len(r.options) == 5 and len(set(r.options)) == 5, r.id
        assert r.answer in r.options
        hx = re.search(r"^Past medical history: (.+)\.$", r.context, flags=re.M).group(1)
        assert hx in r.options, r.id
        assert r.metadata["confusers"] == [hx]
        others = [o for o in r.options if o not in (r.answer, hx)]
        assert len(others) == 3
        for o in others:
            assert o not in r.context, (r.id, o)
        # every option is a diagnosis or the history condition; none is a substring of another
        for o in others:
            assert o in synthetic._DIAGNOSES
        for a in r.options:
            for b in r.options:
                assert a == b or a not in b, (r.id, a, b)


def test_answer_slot_is_index_mod_5_and_balanced(shared):
    slots = []
    for i, r in enumerate(shared):
        assert r.correct_index == i % 5, r.id
        assert r.metadata["index"] == i
        slots.append(r.correct_index)
    counts = collections.Counter(slots)
    assert sorted(counts) == [0, 1, 2, 3, 4]
    assert set(counts.values()) <= {6, 7}
    assert sum(counts.values()) == 32


def test_ids_and_contexts_follow_the_base_records(shared, base):
    ids = [r.id for r in shared]
    assert len(set(ids)) == len(ids)
    assert all(i.endswith("_dx") for i in ids)
    assert ids == [b.id + "_dx" for b in base]
    assert [r.context for r in shared] == [b.context for b in base]
    assert all(r.metadata["source_record"] == b.id for r, b in zip(shared, base))
    assert all(r.metadata["question_type"] == "diagnosis_shared" for r in shared)


def test_deterministic_and_limit(shared):
    again = load_dataset("synthetic_clinical_shared")
    assert again == shared
    assert [r.to_dict() for r in again] == [r.to_dict() for r in shared]
    five = load_dataset("synthetic_clinical_shared", limit=5)
    assert five == shared[:5]
    assert load_dataset("synthetic_clinical_shared", limit=0) == []
    # regenerating in memory (seed 0) gives the same task as the bundled file
    assert load_dataset("synthetic_clinical_shared", n_records=32, seed=0) == shared


def test_shared_question_records_requires_a_principal_diagnosis_line(base):
    rec = Record(
        id="x",
        context="Patient: Mr. A B.\nPast medical history: gout.",
        query="q?",
        answer="a",
        options=("a", "b"),
        task="multiple_choice",
        dataset="d",
    )
    with pytest.raises(ValueError, match="Principal diagnosis:"):
        shared_question_records([rec])
    stripped = base[0].context.replace("Principal diagnosis:", "Diagnosis:")
    rec2 = Record(
        id=base[0].id,
        context=stripped,
        query=base[0].query,
        answer=base[0].answer,
        options=base[0].options,
        task="multiple_choice",
        dataset="d",
        metadata=base[0].metadata,
    )
    with pytest.raises(ValueError, match=r"record 'synth_s0_0000' has no 'Principal diagnosis:'"):
        shared_question_records([base[1], rec2])
