"""One key list for "one line per configuration", the base-setting column and the runner's ``item_type``.

:mod:`mi_utils.config_columns` is the one home of the configuration columns: ``summary.csv``
(:func:`mi_utils.results.summarize`) and :func:`mi_utils.analysis.configurations` group through it,
checked here to give the same lines on every committed table and the simulated grid. The runner writes
``compressor_base`` (the config's compressor id before its expansion into sentence counts and rounds)
and ``item_type`` (the record's ``type``, e.g. a FineWeb table's), and older tables get the former
when loaded.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_experiment import _fake_config, fake_data  # noqa: F401  (the fixture, used by name)

from mi_utils.analysis import configurations, load_results, load_table, one_scorer, simulate_grid
from mi_utils.analysis.tables import CONFIG_KEYS
from mi_utils.config import parse_config
from mi_utils.config_columns import (
    CONFIG_COLUMNS,
    base_setting,
    configuration_keys,
    group_configurations,
    upgrade_rows,
    with_compressor_base,
)
from mi_utils.experiment import run
from mi_utils.paths import committed_results
from mi_utils.results import ROW_COLUMNS, item_type, summarize

from fakes import fake_model_cache
from tolerances import close

#: every committed runner table (the Deep Research one ships CSVs of its own and is not a rows table)
COMMITTED = sorted(n for n, p in committed_results().items() if (p / "rows.jsonl").is_file())


# ================================================================== one key list
def test_the_analysis_layer_and_the_runner_share_one_key_list():
    import mi_utils.results as results

    assert CONFIG_KEYS is CONFIG_COLUMNS and results.CONFIG_COLUMNS is CONFIG_COLUMNS
    assert {"sentences", "round", "compressor_base"} <= set(CONFIG_COLUMNS)
    assert set(CONFIG_COLUMNS) <= set(ROW_COLUMNS)  # every key is a row column
    assert configuration_keys(["round", "seed", "dataset", "other"]) == ["dataset", "round", "seed"]
    with pytest.raises(ValueError, match="none of the configuration columns"):
        group_configurations(pd.DataFrame({"x": [1]}))


def _sources():
    return [*COMMITTED, "simulated", "simulated-studies"]


def _table(source: str) -> pd.DataFrame:
    if source == "simulated-studies":
        return load_table("simulated", studies="all")[0]
    return load_table(source)[0]


@pytest.mark.parametrize("source", _sources())
def test_summarize_and_configurations_give_the_same_lines(source):
    """The lines of summary.csv and of configurations() are the same groups, in the same order."""
    loaded = _table(source)
    # the runner's table shape (what summarize reads): every row column, NaN where an older table lacks one
    rows = loaded.reindex(columns=[*ROW_COLUMNS, *[c for c in loaded.columns if c not in ROW_COLUMNS]])
    summary, conf = summarize(rows), configurations(rows)
    keys = configuration_keys(rows.columns)
    assert list(summary.columns[: len(keys)]) == keys and list(conf.columns[: len(keys)]) == keys
    assert len(summary) == len(conf) > 0
    pd.testing.assert_frame_equal(summary[keys], conf[keys])
    assert list(summary["n_records"]) == list(conf["n_records"])
    assert all(close(a, b, "accuracy") for a, b in zip(summary["accuracy"].astype(float), conf["accuracy"]))
    assert conf["n_records"].sum() == len(rows)  # no row dropped: a missing key is a group of its own


@pytest.mark.parametrize("source", COMMITTED)
def test_the_extra_keys_split_no_configuration_of_a_committed_table(source):
    """The committed runner tables: grouping by every configuration column gives the lines the shorter list
    of before (data set, compressor, models, scorer, seed) gave: the runner names every setting."""
    rows = load_table(source)[0]
    old = ["dataset", "compressor", "compressor_kind", "compressor_family", "compressor_params", "predictor"]
    old += ["predictor_family", "predictor_params", "scorer", "seed"]
    assert len(configurations(rows)) == len(configurations(rows, by=old))


def test_rounds_and_sentence_counts_are_configurations_of_their_own():
    """The simulator keeps one name across a refinement chain's rounds: round is what tells them apart."""
    rows = one_scorer(simulate_grid(0, n_questions=4, studies=["refine", "sentences"]))
    conf = configurations(rows)
    refine = conf[conf["compressor"] == "qwen2.5-7b-refine"]
    assert sorted(refine["round"]) == [1, 2, 3, 4]
    assert (refine["n_records"] == 4).all()
    assert refine["sentences"].isna().all()  # no sentence count: a group of its own, not a dropped row
    instructed = conf[conf["compressor_base"] == "qwen2.5-7b"].dropna(subset=["sentences"])
    assert sorted(instructed["sentences"].astype(int).unique()) == [3, 6, 9]


def test_configurations_carries_the_mi_interval_of_a_runner_table():
    """The notebooks' per-round and per-sentence tables read the estimate's interval from configurations()."""
    rows = one_scorer(load_table("refine")[0])
    conf = configurations(rows).set_index("round")
    for r, g in rows.groupby("round"):
        for col in ("mi_bits", "mi_ci_low_bits", "mi_ci_high_bits"):
            assert close(float(conf.loc[r, col]), float(g[col].iloc[0]), col)


# ================================================================== the base setting
@pytest.mark.parametrize(
    ("compressor", "sentences", "round", "base"),
    [
        ("qwen", None, 1, "qwen"),
        ("qwen-3sent", 3, 1, "qwen"),
        ("qwen-3sent", 3.0, None, "qwen"),
        ("qwen-round2", None, 2, "qwen"),
        ("qwen-3sent-round2", 3, 2, "qwen"),
        ("qwen-3sent", None, 1, "qwen-3sent"),  # a name that merely looks expanded
        ("qwen-6sent", 3, 1, "qwen-6sent"),  # the suffix must be the row's own count
        ("qwen-round1", None, 2, "qwen-round1"),
        ("qwen-refine", None, 3, "qwen-refine"),  # the simulator's chain name
        ("bm25_top1", np.nan, 1, "bm25_top1"),
        (None, None, 1, None),
    ],
)
def test_base_setting_strips_only_the_rows_own_suffixes(compressor, sentences, round, base):
    assert base_setting(compressor, sentences, round) == base


def test_a_table_written_before_the_column_gets_it_when_loaded(tmp_path):
    old = pd.DataFrame(
        {
            "compressor": ["a", "a-3sent", "a-round2", "b"],
            "sentences": [None, 3, None, None],
            "round": [1, 1, 2, 1],
        }
    )
    old.to_json(tmp_path / "rows.jsonl", orient="records", lines=True)
    back = load_results(tmp_path)
    assert list(back.columns) == ["compressor", "compressor_base", "sentences", "round"]
    assert list(back["compressor_base"]) == ["a", "a", "a", "b"]
    # a table that has the column keeps it; missing values are filled
    new = with_compressor_base(back.assign(compressor_base=["x", None, "y", "b"]))
    assert list(new["compressor_base"]) == ["x", "a", "y", "b"]
    assert with_compressor_base(back) is back  # nothing to fill: the same table


def test_a_resumed_runs_mixed_table_groups_alike_in_summary_and_configurations(tmp_path):
    """Rows of a run from before round / compressor_base, resumed by a runner that writes them: one
    configuration, whether the runner's table (summary.csv) or load_results + configurations() reads it."""
    keys = {"dataset": "d", "compressor": "a", "scorer": "s", "seed": 0}
    older = [{**keys, "record_id": "r0", "correct": True}]
    newer = [{**keys, "record_id": "r1", "correct": False, "round": 1, "compressor_base": "a"}]
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in older + newer), encoding="utf-8")
    loaded = load_results(tmp_path)
    assert list(loaded["round"]) == [1, 1] and list(loaded["compressor_base"]) == ["a", "a"]
    conf = configurations(loaded)
    assert len(conf) == 1 and conf["n_records"].tolist() == [2]
    runner_table = upgrade_rows(pd.DataFrame(older + newer).reindex(columns=list(ROW_COLUMNS)))
    summary = summarize(runner_table)
    assert len(summary) == 1 and summary["n_records"].tolist() == [2]
    assert upgrade_rows(loaded) is loaded  # nothing left to fill: the same table
    assert upgrade_rows(pd.DataFrame({"x": [1]})).columns.tolist() == ["x"]  # not a rows table: left as it is


def test_the_committed_tables_get_their_base_settings():
    refine = load_table("refine")[0]
    assert set(refine["compressor"]) == {f"qwen0.5b-round{r}" for r in (1, 2, 3)}
    assert set(refine["compressor_base"]) == {"qwen0.5b"}
    sentences = load_table("sentences_synthetic_cpu")[0]
    assert sentences.groupby("compressor_base")["sentences"].nunique().to_dict() == {"qwen0.5b": 3}
    for name in COMMITTED:
        rows = load_table(name)[0]
        assert rows["compressor_base"].notna().all()
        plain = rows["sentences"].isna() & (rows["round"] == 1) if "round" in rows else rows["sentences"].isna()
        if name != "refine_synthetic_cpu":  # its round 1 is named qwen0.5b-round1 too
            assert (rows.loc[plain, "compressor_base"] == rows.loc[plain, "compressor"]).all(), name


def test_the_simulator_writes_the_base_setting():
    rows = simulate_grid(0, n_questions=3, studies="all")
    assert list(rows.columns).index("compressor_base") == list(rows.columns).index("compressor") + 1
    instructed = rows[rows["sentences"].notna()]
    assert (
        instructed["compressor"] == instructed["compressor_base"] + "-" + instructed["sentences"].astype(str) + "sent"
    ).all()
    refined = rows[rows["compressor"].str.endswith("-refine")]
    assert (refined["compressor_base"] == refined["compressor"]).all() and refined["round"].nunique() == 4
    other = rows[rows["sentences"].isna() & ~rows["compressor"].str.endswith("-refine")]
    assert (other["compressor_base"] == other["compressor"]).all()


def test_the_runner_writes_the_config_id_before_expansion(tmp_path, fake_data):  # noqa: F811
    cfg = _fake_config(tmp_path)
    cfg["compressors"][1].update(name="fk", sentences=[None, 2], rounds=2)
    res = run(parse_config(cfg), out_dir=tmp_path / "out", progress=False, models=fake_model_cache())
    bases = res.rows.drop_duplicates("compressor").set_index("compressor")["compressor_base"].to_dict()
    assert bases == {
        "shared_prefix": "shared_prefix",
        "fk-round1": "fk",
        "fk-round2": "fk",
        "fk-2sent-round1": "fk",
        "fk-2sent-round2": "fk",
    }
    assert dict(zip(res.summary["compressor"], res.summary["compressor_base"])) == bases
    assert all(s.base == bases[s.id] for s in parse_config(cfg).settings())
    # the rows on disk have it too, and the rule that fills older tables agrees with the runner
    on_disk = [json.loads(line) for line in res.rows_path.read_text().splitlines()]
    assert all(r["compressor_base"] == bases[r["compressor"]] for r in on_disk)
    assert all(base_setting(r["compressor"], r["sentences"], r["round"]) == r["compressor_base"] for r in on_disk)


# ================================================================== item_type
def _fineweb_file(tmp_path):
    folder = tmp_path / "fineweb"
    folder.mkdir()
    docs = [
        ("d0", "qa"),
        ("d1", "generation"),
        ("d2", "qa"),
        ("d3", None),  # a row without a type
    ]
    lines = []
    for i, (doc, kind) in enumerate(docs):
        row = {
            "doc_id": doc,
            "context": f"Shared web header. Page {i} talks about topic {i}. More words on page {i}.",
            "question": "Continue the page.",
            "answer": f"The page ends with remark {i}.",
        }
        if kind is not None:
            row["type"] = kind
        lines.append(json.dumps(row))
    (folder / "fineweb.jsonl").write_text("\n".join(lines) + "\n")
    return folder / "fineweb.jsonl", dict(docs)


def test_the_runner_writes_item_type_from_a_fineweb_records_type(tmp_path):
    path, kinds = _fineweb_file(tmp_path)
    cfg = _fake_config(tmp_path, datasets=[{"name": "fineweb", "kwargs": {"path": str(path), "hf": False}}])
    cfg["compressors"] = [{"method": "first_k", "k": 4}, {"method": "shared_prefix"}]
    out = tmp_path / "out"
    res = run(parse_config(cfg), out_dir=out, progress=False, models=fake_model_cache())
    rows = res.rows
    assert set(rows["task"]) == {"perplexity"} and len(rows) == 2 * 4
    written = rows.set_index(["compressor", "record_id"])["item_type"].droplevel(0)
    assert {k: None if pd.isna(v) else v for k, v in written.items()} == kinds
    assert [json.loads(line)["item_type"] for line in res.rows_path.read_text().splitlines()[:4]] == list(
        kinds.values()
    )
    # rows written before the column existed: the resumed run's table takes it from the loaded records
    lines = [json.loads(line) for line in res.rows_path.read_text().splitlines()]
    for r in lines:
        del r["item_type"], r["compressor_base"]
    res.rows_path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    again = run(parse_config(cfg), out_dir=out, progress=False, models=fake_model_cache())
    assert again.timings["rows_written"] == 0
    pd.testing.assert_frame_equal(again.rows, res.rows)


def test_item_type_reads_the_records_metadata():
    from mi_utils.data import Record

    def rec(meta):
        return Record(id="r", context="c", query="q", answer="a", task="perplexity", metadata=meta)

    assert item_type(rec({"type": "qa"})) == "qa"
    assert item_type(rec({"item_type": "creative", "type": "qa"})) == "creative"
    assert item_type(rec({"url": "x"})) is None and item_type(rec({})) is None
