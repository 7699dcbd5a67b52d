"""Ranking compressors on one's own documents (mi_utils.rank, ``python -m mi_utils rank``): fake models with a
known answer, the command end to end with a resume, bad folders, the config, and the measures' math."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mi_utils.__main__ import main
from mi_utils.data import DataFormatError, DataNotFoundError, load_text_folder
from mi_utils.estimators import pointwise_mi
from mi_utils.rank import (
    DOCUMENT_QUERY,
    RankSettings,
    load_documents,
    load_rank_config,
    parse_compressor,
    rank_documents,
    saturation_curve,
    token_information,
    token_pointwise_information,
)

from conftest import REPO
from fakes import RANK_TINY_LLAMA, rank_fakes, rank_settings, write_documents
from tolerances import tolerance

MI_ABS = tolerance("mi_bits")[1]


def _documents(folder, n=4):
    return write_documents(folder, n)


def _fakes():
    return rank_fakes()


def _settings(**kw):
    return rank_settings(**kw)


def _cost(spec):
    return RANK_TINY_LLAMA, 1000.0


# ------------------------------------------------------------------------------ known answer
def test_a_copying_compressor_outranks_a_constant_one(tmp_path):
    lms, cache = _fakes()
    records = load_text_folder(_documents(tmp_path / "docs"), DOCUMENT_QUERY)
    res = rank_documents(records, _settings(), None, models=cache(), cost_inputs=_cost, progress=False)
    t = res.table.set_index("compressor")
    assert list(res.table["rank"]) == [1, 2, 3, 4]
    assert res.table["mi_bits"].is_monotonic_decreasing
    ceiling = math.log2(len(records))
    # a copy of the document's start names its document: near the log2 N ceiling
    assert t.loc["copier", "mi_bits"] > 0.9 * ceiling and t.loc["first_k:12", "mi_bits"] > 0.9 * ceiling
    # one text for every document carries nothing: the estimate is then mean_i log p(z|x_i) minus
    # log mean_i p(z|x_i), at most 0 by Jensen (below 0 where the scorer prefers some documents)
    for name in ("parrot", "constant"):
        assert t.loc[name, "mi_bits"] <= MI_ABS
        assert t.loc[name, "rank"] > t.loc["copier", "rank"]
    assert np.allclose(t["mi_ceiling_bits"], ceiling)
    # FLOPs: an LM costs what it generates; LM-free candidates cost nothing
    assert t.loc["copier", "flops_per_summary"] > 0 and t.loc["constant", "flops_per_summary"] == 0
    assert t.loc["copier", "bits_per_token"] == pytest.approx(
        t.loc["copier", "mi_bits"] / t.loc["copier", "summary_tokens"]
    )
    assert res.logp["copier"].shape == (4, 2, 4) and res.logp["first_k:12"].shape == (4, 1, 4)
    assert set(t.index) == set(res.estimates)


def test_token_information_sums_to_the_summarys_pointwise_mi(tmp_path):
    lms, cache = _fakes()
    records = load_text_folder(_documents(tmp_path / "docs"), DOCUMENT_QUERY)
    res = rank_documents(
        records, _settings(compressors=("copier",), M=1), None, models=cache(), cost_inputs=_cost, progress=False
    )
    z = res.summaries["copier"][2][0]
    table = token_information(lms["fake-scorer"], res.contexts, DOCUMENT_QUERY, z.text, 2)
    assert "".join(table["token"]) == " " + z.text  # the scored continuation, token by token
    whole = pointwise_mi(res.logp["copier"])[2, 0] / math.log(2)
    assert table["bits"].sum() == pytest.approx(whole, abs=1e-9)
    assert table["bits"].max() > 0


def test_token_pointwise_information_by_hand():
    # two documents, two tokens: the first token is equally likely under both, the second only under doc 0
    lp = np.log([[0.5, 0.8], [0.5, 0.2]])
    bits = token_pointwise_information(lp, 0)
    assert bits[0] == pytest.approx(0.0, abs=1e-12)
    assert bits[1] == pytest.approx(math.log2(0.8 / 0.5))
    seq = lp.sum(axis=1)
    assert bits.sum() == pytest.approx((seq[0] - np.logaddexp(*seq) + math.log(2)) / math.log(2))
    with pytest.raises(ValueError, match="not a document index"):
        token_pointwise_information(lp, 2)
    with pytest.raises(ValueError, match="NaN"):
        token_pointwise_information(np.array([[np.nan, -1.0], [-1.0, -1.0]]), 0)
    with pytest.raises(ValueError, match="N documents >= 2"):
        token_pointwise_information(lp[:1], 0)


def test_saturation_curve_meets_the_ceiling_for_a_perfect_code():
    N, M = 6, 2
    logp = np.full((N, M, N), -50.0)
    for i in range(N):
        logp[i, :, i] = -1.0  # each summary names its document
    curve = saturation_curve(logp, repeats=5, seed=0)
    assert list(curve["n"]) == list(range(2, N + 1))
    assert np.allclose(curve["mi_bits"], np.log2(curve["n"]), atol=1e-6)
    assert curve["saturation"].min() > 0.99
    flat = saturation_curve(np.full((N, M, N), -3.0), n_values=[2, 4])
    assert np.allclose(flat["mi_bits"], 0.0, atol=MI_ABS) and list(flat["n"]) == [2, 4]
    assert (curve.loc[curve.n == N, "subsets"] == 1).all()  # only one subset of all N
    with pytest.raises(ValueError, match="outside 2..6"):
        saturation_curve(logp, n_values=[1])


# ------------------------------------------------------------------------------ command line
def _patch_models(monkeypatch):
    lms, _ = _fakes()
    monkeypatch.setattr("mi_utils.experiment.make_backend", lambda spec: lms[spec.model])
    monkeypatch.setattr("mi_utils.rank._model_cost_inputs", _cost)
    return lms


def test_rank_command_end_to_end_resumes_after_an_interruption(tmp_path, monkeypatch, capsys):
    lms = _patch_models(monkeypatch)
    docs, out = _documents(tmp_path / "docs"), tmp_path / "out"
    argv = ["rank", str(docs), "--compressors", "copier", "constant", "--scorer", "fake-scorer"]
    argv += ["--M", "2", "--out", str(out), "--quiet"]
    lms["fake-scorer"].fail_on_score_call = 3  # one scoring call per document: 2 of 4 done, then stopped
    with pytest.raises(KeyboardInterrupt):
        main(argv)
    assert not (out / "ranking.csv").exists()
    done = dict(lms["fake-scorer"].calls)
    assert done["score"] == 3 and lms["copier"].calls["generate"] == 4
    assert main(argv) == 0
    # the rerun generates nothing again and scores only the documents the interruption left
    assert lms["copier"].calls["generate"] == 4
    assert lms["fake-scorer"].calls["score"] - done["score"] == 2
    table = pd.read_csv(out / "ranking.csv")
    assert list(table["compressor"]) == ["copier", "constant"]
    printed = capsys.readouterr().out
    assert "copier" in printed and "ranking.csv" in printed
    before = dict(lms["fake-scorer"].calls)
    assert main(argv) == 0 and lms["fake-scorer"].calls == before  # a finished run redoes nothing
    assert pd.read_csv(out / "ranking.csv").equals(table)


def _bad_folder(d, case):
    """A folder (or path) of one kind of trouble, under the existing empty folder ``d``."""
    if case == "missing":
        return d / "missing"
    if case == "a-file":
        (d / "one.txt").write_text("x")
        return d / "one.txt"
    if case != "empty":
        _documents(d)
    if case == "binary":
        (d / "image.png").write_bytes(b"\x89PNG\x00\x01")
    elif case == "not-utf8":
        (d / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    elif case == "blank-file":
        (d / "blank.txt").write_text(" \n")
    return d


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "does not exist"),
        ("empty", "MI needs at least 2 documents"),
        ("a-file", "is a file, not a folder"),
        ("binary", "image.png is not a text file"),
        ("not-utf8", "latin1.txt is not UTF-8 text"),
        ("blank-file", "blank.txt is empty"),
    ],
)
def test_bad_folders_get_a_clear_message(tmp_path, monkeypatch, capsys, case, message):
    _patch_models(monkeypatch)
    (tmp_path / "docs").mkdir()
    target = _bad_folder(tmp_path / "docs", case)
    assert main(["rank", str(target), "--scorer", "fake-scorer", "--compressors", "constant", "--quiet"]) == 2
    assert message in capsys.readouterr().err


def test_the_folder_loader_reads_text_files_in_order_and_skips_hidden_ones(tmp_path):
    docs = _documents(tmp_path / "docs", n=3)
    (docs / ".DS_Store").write_bytes(b"\x00\x00")
    (docs / "notes.md").write_text("\ufeffMarkdown counts too.\n", encoding="utf-8")
    recs = load_text_folder(docs, "q", limit=3)
    assert [r.id for r in recs] == ["doc0", "doc1", "doc2"]
    recs = load_text_folder(docs, "q")
    assert recs[-1].id == "notes" and recs[-1].context == "Markdown counts too." and recs[-1].query == "q"
    (docs / "notes.txt").write_text("again")
    with pytest.raises(DataFormatError, match="share the id 'notes'"):
        load_text_folder(docs, "q")
    with pytest.raises(DataNotFoundError):
        load_text_folder(tmp_path / "nowhere", "q")


def test_default_documents_are_the_bundled_passages_under_one_instruction():
    recs = load_documents(None, limit=3)
    assert len(recs) == 3 and all(r.query == DOCUMENT_QUERY and r.answer == "" for r in recs)


# ------------------------------------------------------------------------------ settings
def test_compressor_specs():
    assert parse_compressor("first_k:32").k == 32 and not parse_compressor("first_k:32").is_lm
    assert parse_compressor("constant").method == "constant"
    lm = parse_compressor("Qwen/Qwen2.5-0.5B-Instruct")
    assert lm.is_lm and lm.model == "Qwen/Qwen2.5-0.5B-Instruct"
    for bad, message in [
        ("first_k", "needs a positive k"),
        ("random_k:0", "needs a positive k"),
        ("constant:3", "takes no k"),
        (" ", "empty"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_compressor(bad)
    with pytest.raises(ValueError, match="twice"):
        RankSettings(compressors=("constant", "constant"))
    with pytest.raises(ValueError, match="M must be a positive integer"):
        RankSettings(M=0)
    with pytest.raises(ValueError, match="no compressors"):
        RankSettings(compressors=())


def test_the_committed_rank_config_loads_and_a_bad_one_is_refused(tmp_path):
    settings = load_rank_config(REPO / "configs" / "rank_passages.yaml")
    assert settings.folder is None and len(settings.compressors) >= 3
    assert load_rank_config(REPO / "configs" / "rank_passages.yaml", M=1, limit=None).M == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("compresors: [constant]\n")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['compresors'\]"):
        load_rank_config(bad)
    with pytest.raises(FileNotFoundError, match="rank config"):
        load_rank_config(tmp_path / "none.yaml")
    assert main(["rank", "--config", str(bad)]) == 2


# ------------------------------------------------------------------------------ the README's commands (real models)
def _rank_cli(*args, cwd):
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "mi_utils", "rank", *args, "--quiet"]
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_readme_rank_command_on_a_folder_resumes(tmp_path):
    """README, "Your documents": the folder command (SmolLM2 beside two LM-free cuts) on four passages as text
    files, short summaries; the rerun reuses every stored summary and score and prints the same table."""
    docs = tmp_path / "my_docs"
    docs.mkdir()
    for r in load_documents(None, limit=4):
        (docs / f"{r.id}.txt").write_text(r.context, encoding="utf-8")
    args = [str(docs), "--compressors", "smollm2-135m-instruct", "first_k:32", "constant"]
    args += ["--M", "1", "--max-new-tokens", "8", "--out", str(tmp_path / "out")]
    first = _rank_cli(*args, cwd=REPO)
    table = pd.read_csv(tmp_path / "out" / "ranking.csv")
    assert set(table["compressor"]) == {"smollm2-135m-instruct", "first_k:32", "constant"}
    assert np.allclose(table["mi_ceiling_bits"], 2.0)
    t = table.set_index("compressor")
    # the first 32 tokens of a passage identify it; a constant text cannot
    assert t.loc["first_k:32", "mi_bits"] > t.loc["constant", "mi_bits"] and t.loc["constant", "mi_bits"] <= MI_ABS
    assert t.loc["smollm2-135m-instruct", "flops_per_summary"] > 0 and t.loc["constant", "flops_per_summary"] == 0
    stores = {p.name: p.stat().st_size for p in (tmp_path / "out" / "stores").glob("*.jsonl")}
    assert "scores.jsonl" in stores and any(n.startswith("summaries-smollm2") for n in stores)
    second = _rank_cli(*args, cwd=REPO)
    assert {p.name: p.stat().st_size for p in (tmp_path / "out" / "stores").glob("*.jsonl")} == stores
    assert second.splitlines()[:4] == first.splitlines()[:4]  # the same table, from the stores


@pytest.mark.slow
def test_readme_rank_command_with_the_config(tmp_path):
    """README: the config command, cut to two passages and one 4-token summary per LM by the flags."""
    out = _rank_cli(
        "--config",
        "configs/rank_passages.yaml",
        "--limit",
        "2",
        "--M",
        "1",
        "--max-new-tokens",
        "4",
        "--out",
        str(tmp_path / "out"),
        cwd=REPO,
    )
    table = pd.read_csv(tmp_path / "out" / "ranking.csv")
    assert len(table) == 5 and "gemma3-270m" in set(table["compressor"]) and "ranking.csv" in out


def test_joint_scoring_gives_each_candidate_the_scores_it_gets_alone(tmp_path):
    from mi_utils.score import score_matrix

    lms, cache = _fakes()
    records = load_text_folder(_documents(tmp_path / "docs"), DOCUMENT_QUERY)
    res = rank_documents(records, _settings(), None, models=cache(), cost_inputs=_cost, progress=False)
    for name, sums in res.summaries.items():
        alone, lengths = score_matrix(lms["fake-scorer"], res.contexts, DOCUMENT_QUERY, sums, progress=False)
        assert np.array_equal(alone, res.logp[name]) and np.array_equal(lengths, res.lengths[name])
