"""The committed Deep Research run on the Qwen ladder (data/results/deep_research_qwen_cpu/): its structure,
its numbers against the rows they summarise, the judge check against its verdicts, figure 7 drawn from it,
and (slow) the script that writes it, on SmolLM2."""

from __future__ import annotations

import importlib.util
import json
import math

import matplotlib
import pandas as pd
import pytest

from mi_utils.deep_research import summarise
from mi_utils.deep_research.table import TABLE_FILES, read_table
from mi_utils.deep_research.trust import CONTROLS, donor_tasks, trust_counts
from mi_utils.plotting import cost_score_panel

from conftest import REPO
from tolerances import close

matplotlib.use("Agg")

TABLE = REPO / "data" / "results" / "deep_research_qwen_cpu"
FILES = TABLE_FILES
QWEN = ("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct")


def _script():
    spec = importlib.util.spec_from_file_location(
        "deep_research_offline", REPO / "scripts" / "deep_research_offline.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _frames_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns) and list(a.index) == list(b.index)
    for col in a.columns:
        for x, y in zip(a[col], b[col]):
            if isinstance(x, float) or isinstance(y, float):
                assert close(float(x), float(y), col), (col, x, y)
            else:
                assert x == y, (col, x, y)


def test_committed_table_is_the_scripts_qwen_run():
    assert [f for f in FILES if not (TABLE / f).is_file()] == []
    run = json.loads((TABLE / "run.json").read_text())
    spec = _script().QWEN
    assert run["spec"] == {
        k: v for k, v in spec.items() if k not in ("store", "out")
    }  # the script's sizes as committed
    assert run["spec"]["judge"] == QWEN[1] and set(QWEN) <= set(run["spec"]["compressors"].values())
    assert all(run["dtypes"][m] == "bfloat16" for m in QWEN)
    assert run["judge"]["mode"] == "logprob" and run["seconds"]["calls_total"] > 0
    assert len(run["tasks_done"]) >= 2 and set(run["tasks_done"]) <= set(spec["tasks"])  # a judge check needs two
    for f in FILES:  # model output and settings only: never a key
        text = (TABLE / f).read_text(encoding="utf-8").lower()
        assert "api_key" not in text and "sk-" not in text, f


def test_summary_is_the_rows_summarised_every_task_scored():
    run = json.loads((TABLE / "run.json").read_text())
    rows = pd.read_csv(TABLE / "rows.csv")
    summary = pd.read_csv(TABLE / "summary.csv", index_col="setting")
    settings = ["baseline", *run["spec"]["compressors"]]
    assert list(summary.index) == settings
    assert list(dict.fromkeys(rows["task_id"])) == run["tasks_done"]
    assert len(rows) == len(settings) * len(run["tasks_done"]) and (rows["status"] == "ok").all()
    assert set(rows["predictor"]) == {run["spec"]["predictor"]} and set(rows["judge"]) == {f"{QWEN[1]}:logprob"}
    assert rows["race_total"].between(0, 10).all() and (rows["race_coverage"] == 1).all()
    assert (rows["api_cost_usd"] > 0).all() and (rows.loc[rows.setting != "baseline", "n_extractions"] > 0).all()
    _frames_equal(summarise(rows, "baseline"), summary)
    assert summary.loc["baseline", "cost_fraction"] == 1.0


def test_judge_check_counts_are_its_verdicts_counted():
    run = json.loads((TABLE / "run.json").read_text())
    trust = pd.read_csv(TABLE / "judge_trust.csv")
    crit = pd.read_csv(TABLE / "judge_trust_criteria.csv")
    tasks = run["tasks_done"]
    assert sorted(zip(trust.task_id, trust.control)) == sorted((t, c) for t in tasks for c in CONTROLS)
    rnd = trust[trust.control == "random_sources"]
    donors = donor_tasks(tasks)
    assert [donors[t] for t in rnd["task_id"]] == list(rnd["source_task"]) and (
        rnd["source_task"] != rnd["task_id"]
    ).all()
    assert crit["rating"].between(0, 10).all() and len(crit) == len(trust) * 5  # five criteria per bundled task
    # the right-source report is the baseline's, and the judge gave it the baseline's score
    rows = pd.read_csv(TABLE / "rows.csv").set_index(["task_id", "setting"])
    for r in trust[trust.control == "right_sources"].itertuples():
        assert close(r.race_total, rows.loc[(r.task_id, "baseline"), "race_total"], "race_total")
    counts = pd.read_csv(TABLE / "judge_trust_counts.csv")
    _frames_equal(trust_counts(trust, crit), counts)
    assert set(counts.loc[counts.unit == "task", "n"]) == {len(tasks)}


def test_reports_are_stored_for_every_setting_and_control():
    lines = [json.loads(x) for x in (TABLE / "reports.jsonl").read_text(encoding="utf-8").splitlines()]
    rows = pd.read_csv(TABLE / "rows.csv")
    want = {(t, s) for t, s in zip(rows.task_id, rows.setting)}
    want |= {(t, f"control:{c}") for t in set(rows.task_id) for c in CONTROLS[1:]}
    assert {(x["task_id"], x["setting"]) for x in lines} == want and all(x["text"].strip() for x in lines)


def test_figure_7_draws_its_real_points_from_the_committed_summary():
    import matplotlib.pyplot as plt

    summary = read_table(TABLE)["summary"]  # as notebook 07 reads it
    fig, ax = plt.subplots()
    cost_score_panel(ax, summary, "race_total", families={}, ylabel="RACE", top=10.0)
    points = [tuple(c.get_offsets()[0]) for c in ax.collections]
    want = [(r.api_cost_usd * 1000, r.race_total) for r in summary.itertuples()]
    assert len(points) == len(want)
    for (x, y), (wx, wy) in zip(points, want):
        assert math.isclose(x, wx, rel_tol=1e-6) and math.isclose(y, wy, rel_tol=1e-6)
    assert [t.get_text() for t in ax.texts] == list(summary.index)
    plt.close(fig)
    nb = (REPO / "notebooks" / "07_deep_research.ipynb").read_text(encoding="utf-8")
    cells = ["".join(c["source"]) for c in json.loads(nb)["cells"]]
    assert any('QWEN_TABLE = "deep_research_qwen_cpu"' in c for c in cells)  # read through mi_utils.paths, any cwd
    assert any("07_fig7_real_qwen_cpu" in c for c in cells)


def test_read_table_names_what_is_missing(tmp_path):
    (tmp_path / "rows.csv").write_text("a\n1\n")
    with pytest.raises(FileNotFoundError, match="summary.csv.*deep_research_offline.py"):
        read_table(tmp_path)


@pytest.mark.slow
def test_script_smoke_writes_the_committed_tables_columns(tmp_path):
    """`python scripts/deep_research_offline.py --smoke --out DIR`: SmolLM2 in every role, no Qwen weights."""
    out = tmp_path / "t"
    assert _script().main(["--smoke", "--out", str(out)]) == 0
    for f in FILES:
        assert (out / f).is_file(), f
        if f.endswith(".csv"):
            assert list(pd.read_csv(out / f).columns) == list(pd.read_csv(TABLE / f).columns), f
    run = json.loads((out / "run.json").read_text())
    assert run["spec"]["judge"] == "smollm2-135m-instruct" and run["new_store_rows"] > 0
    assert len(pd.read_csv(out / "judge_trust.csv")) == 2 * len(CONTROLS)
