"""Tests for mi_utils.data: record schema, loaders (on made-up fixtures) and the synthetic set.

Real data is read from the team data folder (``$MI_UTILS_TEAM_DATA``, default ``<repo>/../shared/data``) and the
tests that need it are skipped, with the reason shown, when it is absent.
"""

from __future__ import annotations

import collections
import gzip
import json
import os
import sys
import types
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mi_utils.data import (
    DATASETS,
    DataFormatError,
    DataNotFoundError,
    Record,
    fineweb,
    load_dataset,
    longhealth,
    qasper,
    read_jsonl,
    synthetic,
    wildchat,
    write_jsonl,
)
from mi_utils.data import financebench as fb
from mi_utils.data import financebench_mc as fbmc
from mi_utils.data.records import approx_token_count, records_to_jsonl

from conftest import REPO, team_data_dir

TEAM_DATA = team_data_dir()
BUNDLED = REPO / "data" / "synthetic_clinical.jsonl"


def _need_team_data(sub: str) -> Path:
    p = TEAM_DATA / sub
    if not p.is_dir():
        pytest.skip(f"team data {p} not found (set MI_UTILS_TEAM_DATA to the team's data folder)")
    return p


@pytest.fixture
def empty_roots(tmp_path, monkeypatch):
    """Both data roots ($MI_UTILS_DATA_DIR, the team data folder) pointed at one empty folder."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("MI_UTILS_DATA_DIR", str(empty))
    monkeypatch.setenv("MI_UTILS_TEAM_DATA", str(empty))
    monkeypatch.delenv("MI_UTILS_SHARED_DATA", raising=False)
    return empty


@pytest.fixture
def no_data(empty_roots, monkeypatch):
    """Empty data roots and no `datasets` package: every loader must raise DataNotFoundError."""
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    return empty_roots


@pytest.fixture
def fake_hf(empty_roots, monkeypatch):
    """Empty data roots and a fake `datasets` module serving ``rows[repo_id]``."""
    rows: dict[str, list] = {}
    calls: list = []

    def load_dataset(repo_id, **kw):
        calls.append((repo_id, kw))
        if repo_id not in rows:
            raise ConnectionError("hub unreachable")
        return rows[repo_id]

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    return rows, calls


# --------------------------------------------------------------------------- Record


def _mc(**kw) -> Record:
    base = dict(id="r1", context="ctx", query="q?", answer="b", options=["a", "b", "c"], task="multiple_choice")
    base.update(kw)
    return Record(**base)


def test_record_mc_basics():
    r = _mc(metadata={"k": [1, 2]})
    assert r.options == ("a", "b", "c") and r.correct_index == 1
    assert Record.from_dict(r.to_dict()) == r
    assert hash(r) == hash(_mc(metadata={"other": 1}))  # metadata is not hashed
    with pytest.raises(AttributeError):
        r.answer = "a"  # frozen


def test_record_validation():
    with pytest.raises(ValueError, match="not one of its options"):
        _mc(answer="z")
    with pytest.raises(ValueError, match="unknown task"):
        Record(id="x", context="c", query="q", answer="a", task="mcq")
    with pytest.raises(ValueError, match="has options"):
        Record(id="x", context="c", query="q", answer="a", options=("a", "b"), task="free_form")
    with pytest.raises(TypeError):
        Record(id=1, context="c", query="q", answer="a")
    assert Record(id="x", context="c", query="q", answer="a").correct_index is None
    with pytest.raises(DataFormatError, match="lacks"):
        Record.from_dict({"id": "x", "context": "c"})


def test_jsonl_roundtrip(tmp_path):
    recs = [_mc(), Record(id="f", context="é ü — 中文", query="q", answer="a", task="perplexity", dataset="d")]
    p = write_jsonl(recs, tmp_path / "sub" / "r.jsonl")
    assert read_jsonl(p) == recs
    assert p.read_text(encoding="utf-8") == records_to_jsonl(recs)
    with pytest.raises(DataNotFoundError):
        read_jsonl(tmp_path / "missing.jsonl")
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    with pytest.raises(DataFormatError, match="bad.jsonl:1"):
        read_jsonl(tmp_path / "bad.jsonl")


@settings(max_examples=50, deadline=None)
@given(
    text=st.text(),
    options=st.lists(st.text(min_size=1), min_size=2, max_size=5, unique=True),
    pick=st.integers(min_value=0, max_value=4),
    meta=st.dictionaries(st.text(), st.one_of(st.integers(), st.text(), st.none())),
)
def test_record_json_roundtrip_property(text, options, pick, meta):
    r = Record(
        id=text,
        context=text,
        query=text,
        answer=options[pick % len(options)],
        options=tuple(options),
        task="multiple_choice",
        dataset="d",
        metadata=meta,
    )
    back = Record.from_dict(json.loads(json.dumps(r.to_dict())))
    assert back == r and back.metadata == meta and back.correct_index == options.index(r.answer)


def test_approx_token_count():
    assert approx_token_count("") == 0
    assert approx_token_count("abcd") == 1
    assert approx_token_count("abcde") == 2


# --------------------------------------------------------------------------- synthetic


@pytest.fixture(scope="module")
def synth() -> list[Record]:
    return synthetic.build_synthetic_clinical(32, 0)


def test_synthetic_matches_committed_file_byte_for_byte(synth):
    assert BUNDLED.is_file(), "data/synthetic_clinical.jsonl is missing; regenerate it (see data/README.md)"
    assert records_to_jsonl(synth).encode("utf-8") == BUNDLED.read_bytes()


def test_synthetic_cli_writes_the_same_bytes(tmp_path, capsys):
    out = tmp_path / "s.jsonl"
    assert synthetic.main(["--n", "32", "--seed", "0", "--out", str(out)]) == 0
    assert out.read_bytes() == BUNDLED.read_bytes()
    synthetic.main(["--n", "2"])
    assert capsys.readouterr().out == records_to_jsonl(synthetic.build_synthetic_clinical(2, 0))


def test_synthetic_deterministic_and_prefix_stable(synth):
    assert synthetic.build_synthetic_clinical(5, 0) == synth[:5]
    other = synthetic.build_synthetic_clinical(5, 1)
    assert [r.context for r in other] != [r.context for r in synth[:5]]
    assert synthetic.build_synthetic_clinical(0) == []
    with pytest.raises(ValueError):
        synthetic.build_synthetic_clinical(-1)


def test_synthetic_records_well_formed(synth):
    header = synthetic.HEADER
    assert len({r.id for r in synth}) == len(synth)
    for i, r in enumerate(synth):
        assert r.task == "multiple_choice" and r.dataset == "synthetic_clinical"
        assert r.context.startswith(header + "\n"), "every record starts with the shared header"
        name = r.metadata["patient_name"]
        assert name not in header and r.context.index(name) > len(header)
        assert r.query.endswith("?") and name in r.query
        assert len(r.options) == 5 and len(set(r.options)) == 5
        assert r.answer in r.options and r.options[r.correct_index] == r.answer
        assert r.context.count(r.answer) == 1, "the answer is stated verbatim, once"
        assert r.context.index(r.answer) == r.metadata["answer_char_start"]
        for o in r.options:
            assert not any(o != p and o in p for p in r.options), f"{o!r} is a substring of another option"
        confusers = r.metadata["confusers"]
        assert confusers and all(c in r.options and c in r.context for c in confusers)
        for o in set(r.options) - {r.answer, *confusers}:
            assert o not in r.context, f"{r.id}: distractor {o!r} occurs in the record"
        assert r.metadata["question_type"] == synthetic.QUESTION_TYPES[i % 5]
        assert 950 <= len(r.context) <= 1150


def test_synthetic_balance_and_position_variety(synth):
    first25 = synth[:25]
    pairs = {(r.metadata["question_type"], r.correct_index) for r in first25}
    assert len(pairs) == 25, "each (question type, answer slot) pair once per 25 records"
    slots = collections.Counter(r.correct_index for r in synth)
    assert max(slots.values()) - min(slots.values()) <= 2
    starts = [r.metadata["answer_char_start"] / len(r.context) for r in synth]
    assert min(starts) < 0.35 and max(starts) > 0.75, "answer position in the text varies"


def test_synthetic_token_lengths_with_real_tokenizer(synth):
    tok_dir = (
        Path(os.environ.get("MI_UTILS_CACHE", Path.home() / ".cache" / "mi_utils")) / "hf" / "smollm2-135m-instruct"
    )
    if not (tok_dir / "tokenizer.json").is_file():
        pytest.skip(f"SmolLM2 tokenizer not converted yet at {tok_dir} (run mi_utils.models.load_tokenizer once)")
    from tokenizers import Tokenizer  # fast to import, unlike transformers

    tok = Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
    assert 25 <= len(tok.encode(synthetic.HEADER).ids) <= 30
    ids = [tok.encode(r.context).ids for r in synth]
    assert all(250 <= len(x) <= 300 for x in ids), [len(x) for x in ids]
    assert len({tuple(x[:16]) for x in ids}) == 1, "first 16 tokens carry no record information"


def test_load_synthetic_paths(synth, tmp_path, monkeypatch):
    assert synthetic.load_synthetic() == synth
    assert load_dataset("synthetic_clinical", limit=3) == synth[:3]
    assert load_dataset("Synthetic-Clinical", n_records=2, seed=0) == synth[:2]
    p = write_jsonl(synth[:4], tmp_path / "x.jsonl")
    assert synthetic.load_synthetic(p) == synth[:4]
    with pytest.raises(DataNotFoundError):
        synthetic.load_synthetic(tmp_path / "nope.jsonl")
    # wheel install: no bundled file -> regenerate deterministically
    monkeypatch.setattr(synthetic, "default_synthetic_path", lambda: tmp_path / "absent.jsonl")
    assert synthetic.load_synthetic() == synth


# --------------------------------------------------------------------------- dispatcher


def test_load_dataset_unknown_name_lists_known():
    with pytest.raises(KeyError) as e:
        load_dataset("longhealthx")
    for name in (
        "synthetic_clinical",
        "longhealth",
        "longhealth_sample",
        "financebench",
        "financebench_mc",
        "qasper",
        "wildchat",
        "fineweb",
    ):
        assert name in str(e.value) and name in DATASETS


@pytest.mark.parametrize(
    "name", ["longhealth", "longhealth_sample", "financebench", "financebench_mc", "qasper", "wildchat", "fineweb"]
)
def test_missing_data_raises_helpful_error(no_data, name):
    with pytest.raises(DataNotFoundError) as e:
        load_dataset(name)
    msg = str(e.value)
    assert isinstance(e.value, FileNotFoundError)
    assert "MI_UTILS_DATA_DIR" in msg and "path=" in msg and str(no_data) in msg
    assert "http" in msg or "github" in msg.lower() or "hugging face" in msg.lower()
    if name in ("financebench", "financebench_mc", "qasper", "wildchat", "fineweb"):
        assert "pip install datasets" in msg


def test_explicit_missing_path_raises(tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        longhealth.load_longhealth(tmp_path / "nowhere")


# --------------------------------------------------------------------------- LongHealth


def _fake_longhealth() -> dict:
    def q(no, correct_letter, **kw):
        d = {
            "No": no,
            "question": f"Question {no}?",
            **{f"answer_{c}": f"option {c} of {no}" for c in "abcde"},
            "answer_location": {"text_0": {"start": [0.1], "end": [0.2]}},
        }
        d["correct"] = d[f"answer_{correct_letter}"]
        d.update(kw)
        return d

    return {
        "patient_01": {
            "name": "Jane Roe",
            "birthday": "01.01.1950",
            "diagnosis": "Made-up disease",
            "texts": {f"text_{i}": f"Letter number {i}." for i in (10, 0, 2, 1, 3, 4, 5, 6, 7, 8, 9)},
            "questions": [q(1, "c"), q(2, "a")],
        },
        "patient_02": {
            "name": "John Doe",
            "birthday": "02.02.1960",
            "diagnosis": "Another made-up disease",
            "texts": {"text_0": "Only letter."},
            "questions": [q(1, "e")],
        },
    }


def test_longhealth_parse():
    recs = longhealth.parse_longhealth(_fake_longhealth())
    assert [r.id for r in recs] == ["patient_01_1", "patient_01_2", "patient_02_1"]
    r = recs[0]
    assert r.task == "multiple_choice" and r.correct_index == 2 and r.metadata["correct_letter"] == "C"
    assert r.answer == "option c of 1" and r.options[0] == "option a of 1"
    assert r.context.startswith("<text_0>\nLetter number 0.\n</text_0>\n\n<text_1>\n")
    assert r.context.endswith("<text_10>\nLetter number 10.\n</text_10>"), "text ids sorted numerically"
    assert r.metadata["name"] == "Jane Roe" and r.metadata["answer_location"]["text_0"]["start"] == [0.1]
    assert recs[2].correct_index == 4
    only2 = longhealth.parse_longhealth(_fake_longhealth(), patient_ids=["patient_02"])
    assert [r.id for r in only2] == ["patient_02_1"]
    with pytest.raises(KeyError, match="patient_99"):
        longhealth.parse_longhealth(_fake_longhealth(), patient_ids=["patient_99"])


def test_longhealth_correct_must_be_an_option():
    data = _fake_longhealth()
    data["patient_02"]["questions"][0]["correct"] = "not an option"
    with pytest.raises(DataFormatError, match="patient_02.*not one of answer_a..answer_e"):
        longhealth.parse_longhealth(data)
    data["patient_02"]["questions"][0]["correct"] = "  option b of 1"  # differs only in whitespace
    assert longhealth.parse_longhealth(data, patient_ids=["patient_02"])[0].correct_index == 1


def test_longhealth_load_from_file_folder_and_env(tmp_path, monkeypatch, no_data):
    folder = tmp_path / "lh" / "longhealth"
    folder.mkdir(parents=True)
    f = folder / "benchmark_v5.json"
    f.write_text(json.dumps(_fake_longhealth()), encoding="utf-8")
    assert len(longhealth.load_longhealth(f)) == 3
    assert len(longhealth.load_longhealth(folder, limit=2)) == 2
    assert len(longhealth.load_longhealth(tmp_path / "lh")) == 3  # <path>/longhealth/benchmark_v5.json
    monkeypatch.setenv("MI_UTILS_DATA_DIR", str(tmp_path / "lh"))
    assert len(load_dataset("longhealth")) == 3
    with pytest.raises(DataFormatError, match="SHA-256"):
        longhealth.load_longhealth(f, verify_sha256=True)


def test_longhealth_sample_real():
    folder = _need_team_data("longhealth")
    (r,) = longhealth.load_longhealth_sample(folder)
    assert r.task == "free_form" and r.answer == "Omnipaque 240" and r.answer in r.context
    assert "John Williams" in r.context and len(r.context) > 40_000
    assert r.metadata["answers"] == ["Omnipaque 240"]


def test_longhealth_sample_via_env(monkeypatch):
    _need_team_data("longhealth")
    monkeypatch.setenv("MI_UTILS_TEAM_DATA", str(TEAM_DATA))
    monkeypatch.delenv("MI_UTILS_SHARED_DATA", raising=False)
    monkeypatch.delenv("MI_UTILS_DATA_DIR", raising=False)
    assert load_dataset("longhealth_sample")[0].answer == "Omnipaque 240"


# --------------------------------------------------------------------------- FinanceBench


def test_select_pages_alternates_after_then_before():
    toks = [10] * 10
    assert fb.select_pages_around(toks, 5, 45) == [4, 5, 6, 7]  # 5, 6, 4, 7; page 3 would make 50
    assert fb.select_pages_around(toks, 5, 10) == [5]
    assert fb.select_pages_around(toks, 5, 1000) == list(range(10))
    assert fb.select_pages_around(toks, 0, 35) == [0, 1, 2], "at the start only 'after' pages remain"
    assert fb.select_pages_around(toks, 9, 35) == [7, 8, 9]
    assert fb.select_pages_around([500, 1, 1], 0, 100) == [0], "evidence page kept even over budget"
    # a big page stops the window even if smaller pages lie beyond it
    assert fb.select_pages_around([1, 1, 1, 100, 1], 2, 50) == [2]
    with pytest.raises(IndexError):
        fb.select_pages_around(toks, 10, 45)


def test_build_page_context_uses_count_tokens():
    pages = [f"p{i} " + "w " * 9 for i in range(6)]  # 10 words each
    words = lambda s: len(s.split())
    ctx, sel, n = fb.build_page_context(pages, 2, 30, words)
    assert sel == [1, 2, 3] and n == 30
    assert ctx == fb.PAGE_SEPARATOR.join(pages[1:4])


def _fb_question(qid, doc, pages, n_evidence=1):
    return {
        "financebench_id": qid,
        "company": "ACME",
        "doc_name": doc,
        "question_type": "metrics-generated",
        "question": f"What is {qid}?",
        "answer": "$1",
        "justification": "because",
        "evidence": [
            {
                "evidence_text": "ev",
                "doc_name": doc,
                "evidence_page_num": p,
                "evidence_text_full_page": f"full page {p}",
            }
            for p in pages[:n_evidence]
        ],
    }


def test_financebench_records_fallback_and_filter():
    qs = [_fb_question("a", "DOC1", [2]), _fb_question("b", "MISSING", [1]), _fb_question("c", "DOC1", [1, 3], 2)]
    pages = {"DOC1": [f"page {i} " * 20 for i in range(6)]}
    recs = fb.financebench_records(qs, pages, {"DOC1": {"doc_type": "10k", "doc_period": 2020}}, max_context_tokens=100)
    assert [r.id for r in recs] == ["a", "b"], "multi-evidence questions dropped"
    a, b = recs
    assert a.task == "free_form" and a.metadata["context_source"] == "document_pages"
    assert pages["DOC1"][2] in a.context and a.metadata["context_pages"][0] <= 2 <= a.metadata["context_pages"][-1]
    assert a.metadata["n_context_tokens"] <= 100 and a.metadata["doc_type"] == "10k"
    assert b.context == "full page 1" and b.metadata["context_source"] == "evidence_pages_only"
    assert len(fb.financebench_records(qs, pages, single_evidence_only=False)) == 3
    with pytest.raises(DataFormatError, match="no evidence"):
        fb.financebench_records([{**qs[0], "evidence": []}])


@pytest.fixture(scope="module")
def financebench_real():
    folder = _need_team_data("financebench")
    return folder, fb.load_financebench(folder)


def test_financebench_real_data(financebench_real):
    folder, recs = financebench_real
    assert len(recs) == 115  # single-evidence questions of the open-source sample
    sources = collections.Counter(r.metadata["context_source"] for r in recs)
    assert sources == {"document_pages": 97, "evidence_pages_only": 18}
    with gzip.open(folder / fb.PAGES_FILE, "rt") as f:
        pages = {d["doc_name"]: d["pages"] for d in map(json.loads, f)}
    for r in recs:
        assert r.answer and r.query
        ev = r.metadata["evidence_pages"][0]
        if r.metadata["context_source"] == "document_pages":
            assert pages[r.metadata["doc_name"]][ev] in r.context
            assert ev in r.metadata["context_pages"]
            assert r.metadata["n_context_tokens"] <= 21_500 or r.metadata["context_pages"] == [ev]
        else:
            assert r.metadata["doc_name"] not in pages


def test_financebench_real_budget_and_tokenizer(financebench_real):
    folder, _ = financebench_real
    small = fb.load_financebench(
        folder / fb.QUESTIONS_FILE, max_context_tokens=2_000, count_tokens=lambda s: len(s.split()), limit=10
    )
    assert len(small) == 10
    for r in small:
        if r.metadata["context_source"] == "document_pages" and len(r.metadata["context_pages"]) > 1:
            assert r.metadata["n_context_tokens"] <= 2_000
    assert load_dataset("financebench", path=folder, limit=1)[0].dataset == "financebench"


def test_financebench_hf_fallback(fake_hf):
    rows, calls = fake_hf
    q = _fb_question("x", "DOC", [4])
    q["evidence"] = [{("evidence_doc_name" if k == "doc_name" else k): v for k, v in e.items()} for e in q["evidence"]]
    rows[fb.HF_REPO] = [q]
    (r,) = fb.load_financebench()
    assert r.context == "full page 4" and r.metadata["context_source"] == "evidence_pages_only"
    assert calls[0] == (fb.HF_REPO, {"split": "train"})
    with pytest.raises(DataNotFoundError, match="hf=False"):
        fb.load_financebench(hf=False)


# --------------------------------------------------------------------------- FinanceBench multiple choice


@pytest.mark.parametrize(
    "text, shape",
    [
        ("$1577.00", "currency"),
        ("$1,577.00", "currency"),
        ("-$473", "currency"),
        ("$-0.02", "currency"),
        ("$2,018 million", "currency"),
        ("1.2 billion USD", "currency"),
        ("65.4%", "percent"),
        ("-3.7 %", "percent"),
        ("4.2 percent", "percent"),
        ("1.73", "number"),
        ("0", "number"),
        ("-0.02", "number"),
        ("2.7 times", "number"),
        ("(1,234)", "number"),
        ("77.78.", "number"),
        ("Yes", None),
        ("$400,000,000 increase.", None),
        ("They could receive $66.56 per share.", None),
        ("$5%", None),
        ("1.2 and 3.4", None),
        ("", None),
        ("1" * 41, None),
    ],
)
def test_answer_shape(text, shape):
    assert fbmc.answer_shape(text) == shape


def test_answer_key_normalises_numbers():
    assert fbmc.answer_key("$1,577.00") == fbmc.answer_key("$1577") == fbmc.answer_key(" 1577. ")
    assert fbmc.answer_key("-0.0") == fbmc.answer_key("0")
    assert fbmc.answer_key("-3.7%") != fbmc.answer_key("3.7%")
    assert fbmc.answer_key("Data  Center") == fbmc.answer_key("data center")


def _mc_questions() -> list[dict]:
    """Two filings with answers of each shape; one prose answer, one multi-evidence question."""
    answers = {
        "DOCA": ["$100.00", "$2,000.00", "12.5%", "1.50", "Yes"],
        "DOCB": ["$300.00", "$4.00", "$50.00", "7.0%", "3.3%", "0.25", "9.75", "$5000.00"],
        "DOCC": ["$6.00", "$70.00", "45%", "0.6%", "2.2", "8.8"],
    }
    out = []
    for doc, ans in answers.items():
        for i, a in enumerate(ans):
            q = _fb_question(f"{doc.lower()}_{i:02d}", doc, [i % 3, 5], n_evidence=2 if (doc, i) == ("DOCC", 5) else 1)
            q["answer"] = a
            out.append(q)
    return out


def test_financebench_mc_records_basic():
    qs = _mc_questions()
    pages = {"DOCA": [f"A page {i}. " + "word " * 200 for i in range(6)]}
    recs = fbmc.financebench_mc_records(qs, pages, max_context_tokens=600)
    by_id = {r.id: r for r in recs}
    # prose answer and the multi-evidence question dropped; sorted by id
    assert "doca_04" not in by_id and "docc_05" not in by_id and len(recs) == 17
    assert [r.id for r in recs] == sorted(by_id)
    shapes = {q["financebench_id"]: fbmc.answer_shape(q["answer"]) for q in qs}
    docs = {q["financebench_id"]: q["doc_name"] for q in qs}
    for r in recs:
        assert r.task == "multiple_choice" and r.dataset == "financebench_mc"
        assert r.query == f"What is {r.id}?"
        assert len(r.options) == 5 and r.answer in r.options and r.correct_index == r.options.index(r.answer)
        assert len({fbmc.answer_key(o) for o in r.options}) == 5
        m = r.metadata
        assert m["answer_shape"] == shapes[r.id] and m["financebench_id"] == r.id
        assert len(m["distractor_ids"]) == 4 and all(docs[i] != m["doc_name"] for i in m["distractor_ids"])
        assert m["distractor_docs"] == [docs[i] for i in m["distractor_ids"]]
        assert m["distractor_shapes"] == [shapes[i] for i in m["distractor_ids"]]
        distractors = [o for o in r.options if o != r.answer]
        assert sorted(distractors) == sorted(q["answer"] for q in qs if q["financebench_id"] in m["distractor_ids"])
        same = sum(s == m["answer_shape"] for s in m["distractor_shapes"])
        assert m["distractor_fallback"] == (same < 4)
        if m["context_source"] == "document_pages":
            assert pages["DOCA"][int(r.id[-1]) % 3] in r.context and m["n_context_tokens"] <= 600
        else:
            assert r.context.startswith("full page") and m["doc_name"] != "DOCA"
    # DOCA currency: DOCB + DOCC have 6 currency answers -> no fallback needed
    assert not by_id["doca_00"].metadata["distractor_fallback"]
    assert set(by_id["doca_00"].metadata["distractor_shapes"]) == {"currency"}
    # DOCB percent: only 12.5%, 45%, 0.6% elsewhere -> one other-shape distractor
    assert by_id["docb_03"].metadata["distractor_fallback"]
    assert by_id["docb_03"].metadata["distractor_shapes"].count("percent") == 3


def test_financebench_mc_deterministic_seed_and_limit():
    qs = _mc_questions()
    a = fbmc.financebench_mc_records(qs, seed=3)
    assert a == fbmc.financebench_mc_records(list(reversed(qs)), seed=3)  # input order does not matter
    assert [r.metadata for r in a] == [r.metadata for r in fbmc.financebench_mc_records(qs, seed=3)]
    b = fbmc.financebench_mc_records(qs, seed=4)
    assert [r.options for r in a] != [r.options for r in b]
    assert fbmc.financebench_mc_records(qs, seed=3, limit=4) == a[:4]
    assert fbmc.financebench_mc_records(qs, limit=0) == []
    three = fbmc.financebench_mc_records(qs, n_options=3)
    assert all(len(r.options) == 3 and r.answer in r.options for r in three)


def test_financebench_mc_bad_input():
    qs = _mc_questions()
    for kw in ({"n_options": 1}, {"n_options": 2.0}, {"max_context_tokens": 0}, {"limit": -1}, {"limit": True}):
        with pytest.raises(ValueError):
            fbmc.financebench_mc_records(qs, **kw)
    with pytest.raises(ValueError, match="only .* distinct number-like answers"):
        fbmc.financebench_mc_records(qs[:5] + qs[5:7], n_options=5)  # DOCA sees two from DOCB
    with pytest.raises(DataFormatError, match="missing key"):
        fbmc.financebench_mc_records([{k: v for k, v in qs[0].items() if k != "answer"}])
    with pytest.raises(DataFormatError, match="duplicate"):
        fbmc.financebench_mc_records([qs[0], qs[0]])
    with pytest.raises(DataFormatError, match="no evidence"):
        fbmc.financebench_mc_records([{**qs[0], "evidence": []}, *qs[5:]])


def test_financebench_mc_loader_local_files(tmp_path):
    folder = tmp_path / "financebench"
    folder.mkdir()
    qs = _mc_questions()
    (folder / fb.QUESTIONS_FILE).write_text("".join(json.dumps(q) + "\n" for q in qs))
    with gzip.open(folder / fb.PAGES_FILE, "wt") as f:
        f.write(json.dumps({"doc_name": "DOCB", "num_pages": 6, "pages": [f"B{i}" for i in range(6)]}) + "\n")
    recs = load_dataset("financebench_mc", path=folder, seed=1, limit=5)
    assert recs == fbmc.financebench_mc_records(qs, {"DOCB": [f"B{i}" for i in range(6)]}, seed=1, limit=5)
    assert [r.id for r in recs] == ["doca_00", "doca_01", "doca_02", "doca_03", "docb_00"]
    assert [r.metadata["context_source"] for r in recs] == ["evidence_pages_only"] * 4 + ["document_pages"]
    docb = load_dataset("financebench_mc", path=folder / fb.QUESTIONS_FILE, max_context_tokens=2)
    docb = [r for r in docb if r.metadata["doc_name"] == "DOCB"]
    assert docb and all(r.metadata["context_source"] == "document_pages" for r in docb)
    assert all(r.metadata["n_context_tokens"] <= 2 for r in docb)


def test_financebench_mc_real_data():
    folder = _need_team_data("financebench")
    recs = load_dataset("financebench_mc", path=folder)
    print(
        f"financebench_mc: {len(recs)} records, sources {collections.Counter(r.metadata['context_source'] for r in recs)}"
    )
    assert len(recs) == 29  # single-evidence questions with a number-like answer (of 115)
    assert collections.Counter(r.metadata["context_source"] for r in recs) == {
        "document_pages": 25,
        "evidence_pages_only": 4,
    }
    assert collections.Counter(r.metadata["answer_shape"] for r in recs) == {"currency": 16, "percent": 9, "number": 4}
    assert [r.id for r in recs] == sorted(r.id for r in recs)
    for r in recs:
        assert r.context.strip() and r.query
        assert len(r.options) == 5 and len({fbmc.answer_key(o) for o in r.options}) == 5 and r.answer in r.options
        assert r.metadata["doc_name"] not in r.metadata["distractor_docs"]
        assert not r.metadata["distractor_fallback"]
        assert r.metadata["n_context_tokens"] <= 900 or len(r.metadata["context_pages"]) == 1
    assert load_dataset("financebench_mc", path=folder, limit=3) == recs[:3]


# --------------------------------------------------------------------------- QASPER

_QASPER_FIXTURE = {
    "p1": {
        "title": "A Made-Up Paper",
        "abstract": "We study nothing.",
        "full_text": [
            {"section_name": "Introduction", "paragraphs": ["Intro one.", "Intro two."]},
            {"section_name": "Method ::: Data", "paragraphs": ["We use the Foo corpus."]},
            {"section_name": None, "paragraphs": []},
        ],
        "figures_and_tables": [{"caption": "Table 1: Results.", "file": "t1.png"}],
        "qas": [
            {
                "question": "Which corpus?",
                "question_id": "q-extractive",
                "answers": [
                    {"answer": {"unanswerable": True, "extractive_spans": [], "yes_no": None, "free_form_answer": ""}},
                    {
                        "answer": {
                            "unanswerable": False,
                            "extractive_spans": ["Foo corpus", "Bar"],
                            "evidence": ["We use the Foo corpus."],
                            "highlighted_evidence": ["Foo"],
                        }
                    },
                    {"answer": {"unanswerable": False, "extractive_spans": ["Foo"]}},
                ],
            },
            {
                "question": "Is it good?",
                "question_id": "q-yesno",
                "answers": [{"answer": {"unanswerable": False, "extractive_spans": [], "yes_no": True}}],
            },
            {
                "question": "Why?",
                "question_id": "q-unans",
                "answers": [{"answer": {"unanswerable": True, "extractive_spans": []}}],
            },
        ],
    }
}


def test_qasper_parse():
    (r,) = qasper.parse_qasper(_QASPER_FIXTURE)
    assert r.id == "q-extractive" and r.answer == "Foo corpus, Bar" and r.task == "free_form"
    assert r.metadata["answers"] == ["Foo corpus, Bar", "Foo"] and r.metadata["evidence"] == ["We use the Foo corpus."]
    assert r.context.startswith(
        "### Introduction\n\nIntro one.\n\nIntro two.\n\n### Method ::: Data\n\nWe use the Foo corpus."
    )
    assert r.context.endswith("### Figures and tables\n\nTable 1: Results.")
    assert "Figures" not in qasper.parse_qasper(_QASPER_FIXTURE, include_captions=False)[0].context
    with pytest.raises(DataFormatError):
        qasper.parse_qasper({"p": {"title": "x"}})


def test_qasper_load_local(tmp_path, no_data):
    d = tmp_path / "qasper"
    d.mkdir()
    (d / "qasper-dev-v0.3.json").write_text(json.dumps(_QASPER_FIXTURE))
    assert len(qasper.load_qasper(d)) == 1
    assert len(qasper.load_qasper(tmp_path, split="dev")) == 1
    assert load_dataset("qasper", path=d / "qasper-dev-v0.3.json")[0].id == "q-extractive"
    with pytest.raises(DataNotFoundError):
        qasper.load_qasper(d, split="train")
    with pytest.raises(ValueError, match="unknown QASPER split"):
        qasper.load_qasper(d, split="val")


def test_qasper_hf_fallback(fake_hf):
    rows, calls = fake_hf
    paper = _QASPER_FIXTURE["p1"]
    hf_row = {
        "id": "p1",
        "title": paper["title"],
        "abstract": paper["abstract"],
        "full_text": {
            "section_name": [s["section_name"] for s in paper["full_text"]],
            "paragraphs": [s["paragraphs"] for s in paper["full_text"]],
        },
        "figures_and_tables": {"caption": ["Table 1: Results."], "file": ["t1.png"]},
        "qas": {
            "question": [q["question"] for q in paper["qas"]],
            "question_id": [q["question_id"] for q in paper["qas"]],
            "answers": [
                {"answer": [a["answer"] for a in q["answers"]], "annotation_id": ["x"] * len(q["answers"])}
                for q in paper["qas"]
            ],
        },
    }
    rows[qasper.HF_REPO] = [hf_row]
    assert qasper.load_qasper() == qasper.parse_qasper(_QASPER_FIXTURE)
    assert calls[0] == (qasper.HF_REPO, {"split": "validation"})


# --------------------------------------------------------------------------- WildChat / FineWeb


def test_wildchat_local_jsonl_and_conversations(tmp_path, no_data):
    d = tmp_path / "wildchat"
    d.mkdir()
    rows = [
        {"id": "u0", "context": "User: hi", "query": "What did I say?", "answer": "hi", "topic": "greeting"},
        {
            "user_id": 7,
            "conversations": str(
                [json.dumps([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}])]
            ),
            "question": "Q?",
            "answer": "A",
        },
    ]
    (d / "wildchat.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    a, b = wildchat.load_wildchat(tmp_path)
    assert a.task == "perplexity" and a.id == "u0" and a.metadata == {"topic": "greeting"}
    assert b.id == "7" and b.context == "CHAT 1:\nUser: a\n\nAssistant: b" and b.query == "Q?"
    (d / "wildchat.jsonl").write_text(json.dumps({"context": "c", "answer": "a"}) + "\n")
    with pytest.raises(DataFormatError, match="query"):
        wildchat.load_wildchat(d)


def test_wildchat_hf_proxy(fake_hf):
    rows, _ = fake_hf

    def conv(i, turns=4, lang="English"):
        msgs = [
            m
            for t in range(turns)
            for m in ({"role": "user", "content": f"u{i}.{t}"}, {"role": "assistant", "content": f"a{i}.{t}"})
        ]
        return {"conversation_hash": f"h{i}", "conversation": msgs, "turn": turns, "language": lang}

    rows[wildchat.HF_REPO] = [conv(0, lang="German"), conv(1, turns=2)] + [conv(i) for i in range(2, 30)]
    recs = wildchat.load_wildchat(n_users=5, conversations_per_user=10)
    assert len(recs) == 2  # 28 eligible conversations -> 2 full pseudo-users
    r = recs[0]
    assert r.metadata["conversation_hashes"] == [f"h{i}" for i in range(2, 12)]
    assert r.query == "u11.3" and r.answer == "a11.3" and r.metadata["qa_source"] == "last_turn_proxy"
    assert r.context.startswith("CHAT 1:\nUser: u2.0") and "u11.2" in r.context and "u11.3" not in r.context


def test_fineweb_local_and_hf(tmp_path, fake_hf):
    rows, calls = fake_hf
    d = tmp_path / "fineweb"
    d.mkdir()
    (d / "fineweb.json").write_text(
        json.dumps([{"doc_id": "d1", "text": "long doc", "question": "Q", "answer": "A", "type": "qa"}])
    )
    (r,) = fineweb.load_fineweb(d / "fineweb.json")
    assert (r.id, r.context, r.query, r.answer, r.metadata) == ("d1", "long doc", "Q", "A", {"type": "qa"})
    text = "\n".join(f"line {i} " + "x" * 50 for i in range(200))
    rows[fineweb.HF_REPO] = [
        {"id": "short", "text": "tiny", "language": "en", "token_count": 10},
        {"id": "fr", "text": text, "language": "fr", "token_count": 20_000},
        {"id": "ok", "text": text, "language": "en", "token_count": 20_000},
    ]
    (h,) = fineweb.load_fineweb(answer_chars=500)
    assert h.id == "ok" and h.query == fineweb.CONTINUATION_QUERY and h.metadata["qa_source"] == "continuation_proxy"
    assert h.answer.startswith("line ") and 400 <= len(h.answer) <= 600
    assert h.context + "\n" + h.answer == text
    assert calls[-1][1] == {"name": fineweb.HF_CONFIG, "split": "train", "streaming": True}


def test_feather_without_pyarrow_names_the_fix(tmp_path):
    pytest.importorskip("pandas")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        f = tmp_path / "fineweb_questions.feather"
        f.write_bytes(b"not really feather")
        with pytest.raises(ImportError, match="pip install pyarrow"):
            fineweb.load_fineweb(f)
    else:
        pytest.skip("pyarrow is installed")
