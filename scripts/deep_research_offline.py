"""Deep Research offline on the Qwen ladder: the committed table behind figure 7's real offline points.

Runs :func:`mi_utils.deep_research.run_deep_research` on the bundled FinanceBench tasks with models
that can read, then checks the judge (:mod:`mi_utils.deep_research.trust`), and writes
``data/results/deep_research_qwen_cpu/``:

* ``rows.csv``: one row per (task, setting), as the pipeline writes them (costs, tokens, seconds
  per stage, extraction rate, RACE scores);
* ``summary.csv``: one line per setting (:func:`mi_utils.deep_research.summarise`; figure 7's points);
* ``reports.jsonl``: every report (the settings' and the trust controls'), model output as data;
* ``judge_trust.csv`` / ``judge_trust_criteria.csv`` / ``judge_trust_counts.csv``: the judge's ratings of
  the right-source, random-source and degenerate reports, and how often it ranks them right;
* ``run.json``: models, dtypes, sizes, timings and the machine.

The store (every stage's output, so a rerun resumes) is ``results/deep_research/qwen_cpu.jsonl``
(git-ignored). Run (about 30 minutes on one core; weights: ``make ladder``)::

    nice -n 5 python scripts/deep_research_offline.py

``--smoke`` runs the mechanics with SmolLM2 in every role on the bundled passages (a minute, no Qwen
weights), into a folder you name with ``--out``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The committed run. Sizes are what one contended CPU core allowed in about 30 minutes (measured:
# Qwen 1.5B in bfloat16 decodes about 1 token/s and reads about 50 tokens/s there; Qwen 0.5B about
# 5-7 and 150): the 1.5B judges (log-prob mode reads, never writes) and compresses; the 0.5B plans and
# writes (a 1.5B writer would spend about 90 s per report).
QWEN = {
    "tasks": ["fb-nike", "fb-mgm", "fb-lockheed"],
    "collection": "financebench",
    "predictor": "qwen2.5-coder-0.5b-instruct",
    "judge": "qwen2.5-coder-1.5b-instruct",
    "compressors": {"qwen0.5b": "qwen2.5-coder-0.5b-instruct", "qwen1.5b": "qwen2.5-coder-1.5b-instruct"},
    "dtype": {"smollm2-135m-instruct": "float32"},  # the rest: bfloat16
    "n_queries": 2,
    "sources_per_query": 1,
    "max_source_chars": 600,
    "tokens": {"plan": 72, "extract": 40, "report": 80},
    "judge_report_chars": 1200,
    "store": "results/deep_research/qwen_cpu.jsonl",
    "out": "data/results/deep_research_qwen_cpu",
}
SMOKE = {
    **QWEN,
    "tasks": ["pd-equality", "pd-war-and-peace"],
    "collection": "passages",
    "predictor": "smollm2-135m-instruct",
    "judge": "smollm2-135m-instruct",
    "compressors": {"smollm2": "smollm2-135m-instruct"},
    "max_source_chars": 300,
    "tokens": {"plan": 32, "extract": 16, "report": 24},
    "judge_report_chars": 400,
    "store": None,
    "out": None,
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", help="table folder (default data/results/deep_research_qwen_cpu; --smoke: required)")
    p.add_argument(
        "--store", help="JSONL store (default results/deep_research/qwen_cpu.jsonl; --smoke: <out>/store.jsonl)"
    )
    p.add_argument("--tasks", nargs="+", help="task ids (default: the committed run's)")
    p.add_argument("--smoke", action="store_true", help="SmolLM2 in every role on the bundled passages, tiny budgets")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1)")
    a = p.parse_args(argv)
    if a.smoke and not a.out:
        p.error("--smoke needs --out (the committed table is the real run's)")
    return a


def main(argv=None) -> int:
    args = parse_args(argv)
    spec = dict(SMOKE if args.smoke else QWEN)
    out = Path(args.out or ROOT / spec["out"])
    store = Path(args.store or (out / "store.jsonl" if args.smoke else ROOT / spec["store"]))

    import torch

    torch.set_num_threads(args.threads)
    from types import SimpleNamespace

    import pandas as pd

    from mi_utils.deep_research import load_research_tasks, run_deep_research
    from mi_utils.deep_research.trust import judge_trust

    t0, cpu0 = time.perf_counter(), time.process_time()
    # the search corpus is every planned task's documents, whichever tasks this invocation runs, so
    # that a run of a subset reads the same sources (and store rows) as the full run
    corpus_tasks = load_research_tasks(collection=spec["collection"], ids=spec["tasks"])
    tasks = [t for t in corpus_tasks if t.id in (args.tasks or spec["tasks"])]
    run = _setup(spec, corpus_tasks)
    done = SimpleNamespace(rows=[], calls=[], reports={}, sources={}, plans={}, store_path=store, n_written=0)
    trust = None
    for task in tasks:  # task by task: the table is rewritten after each, so a stopped run leaves what it finished
        res = run_deep_research([task], **run["kw"], store=store, reference=None, progress=False)
        done.rows.append(res.rows)
        done.calls.append(res.calls)
        for name in ("reports", "sources", "plans"):
            getattr(done, name).update(getattr(res, name))
        done.n_written += res.n_written
        finished = [t for t in corpus_tasks if t.id in done.plans]
        if len(finished) >= 2:
            kw = {k: run["kw"][k] for k in ("predictor", "judge", "config", "pricing")}
            trust = judge_trust(finished, done, **kw, store=store)
        seconds = {"wall": round(time.perf_counter() - t0, 1), "cpu": round(time.process_time() - cpu0, 1)}
        _write(out, spec, run, pd.concat(done.rows), pd.concat(done.calls), done, trust, seconds, args, torch)
        print(f"{task.id}: done ({seconds}); wrote {out}", flush=True)
    print(pd.read_csv(out / "summary.csv").to_string(index=False))
    return 0


def _setup(spec: dict, corpus_tasks) -> dict:
    """The backends, settings, judge, config and pricing of ``spec``."""
    from mi_utils.backends.base import SamplingParams
    from mi_utils.backends.hf import HFBackend
    from mi_utils.costs import default_price_table
    from mi_utils.deep_research import DeepResearchConfig, Pricing, Setting, task_documents
    from mi_utils.deep_research.race import RaceJudge
    from mi_utils.deep_research.retrieval import BM25Retriever
    from mi_utils.models import model_family

    backends, load_s = {}, {}
    for name in [spec["predictor"], spec["judge"], *spec["compressors"].values()]:
        if name not in backends:
            t = time.perf_counter()
            backends[name] = HFBackend(name, dtype=spec["dtype"].get(name, "bfloat16"))
            load_s[name] = round(time.perf_counter() - t, 1)
    settings = [Setting("baseline", None, "gpt-4o")]
    settings += [Setting(sid, backends[m], model_family(m)) for sid, m in spec["compressors"].items()]
    tok = spec["tokens"]
    config = DeepResearchConfig(
        n_queries=spec["n_queries"],
        sources_per_query=spec["sources_per_query"],
        max_source_chars=spec["max_source_chars"],
        min_queries=1,
        max_plan_attempts=2,
        plan_fallback="task",
        task_query=True,
        keep_unmarked=True,
        plan_params=SamplingParams(temperature=0.6, max_new_tokens=tok["plan"]),
        extract_params=SamplingParams(temperature=0.7, max_new_tokens=tok["extract"]),
        synth_params=SamplingParams(temperature=0.6, max_new_tokens=tok["report"]),
    )
    kw = {
        "predictor": backends[spec["predictor"]],
        "settings": settings,
        "retriever": BM25Retriever(task_documents(corpus_tasks), chunk_chars=1500, overlap_chars=150),
        "config": config,
        "pricing": Pricing(default_price_table(), priced_as={spec["predictor"]: "gpt-4o"}, free_roles=("compressor",)),
        "judge": RaceJudge(backends[spec["judge"]], mode="logprob", max_report_chars=spec["judge_report_chars"]),
    }
    return {"kw": kw, "backends": backends, "load_s": load_s}


def _write(out: Path, spec, run, rows, calls, done, trust, seconds, args, torch) -> None:
    """The table: rows, summary, reports, the judge check (once two tasks are done) and run.json."""
    from mi_utils.deep_research import summarise
    from mi_utils.deep_research.trust import trust_counts

    out.mkdir(parents=True, exist_ok=True)
    rows.to_csv(out / "rows.csv", index=False)
    summarise(rows, "baseline").to_csv(out / "summary.csv", index_label="setting")
    lines = [{"task_id": t, "setting": s, "text": rep.text} for (t, s), rep in done.reports.items()]
    counts = None
    if trust is not None:
        reports, crit = trust
        counts = trust_counts(reports, crit)
        reports.drop(columns="text").to_csv(out / "judge_trust.csv", index=False)
        crit.to_csv(out / "judge_trust_criteria.csv", index=False)
        counts.to_csv(out / "judge_trust_counts.csv", index=False)
        ctl = reports[reports.control != "right_sources"]
        lines += [
            {"task_id": t, "setting": f"control:{c}", "text": x} for t, c, x in zip(ctl.task_id, ctl.control, ctl.text)
        ]
    with open(out / "reports.jsonl", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(x) + "\n" for x in lines)
    first = (
        calls["setting"] == calls["setting"].iloc[0]
    )  # the plan's calls are listed once per setting: count them once
    by_stage = calls[first | (calls["stage"] != "plan")].groupby("stage")["seconds"].sum().round(1).to_dict()
    if trust is not None:
        by_stage["judge_check_synthesise"] = round(float(trust[0]["synth_seconds"].sum()), 1)
        by_stage["judge_check_judge"] = round(float(trust[0]["judge_seconds"].sum()), 1)
    meta = {
        "spec": {k: v for k, v in spec.items() if k not in ("store", "out")},
        "tasks_done": list(dict.fromkeys(rows["task_id"])),
        "config": run["kw"]["config"].to_dict(),
        "judge": run["kw"]["judge"].settings(),
        "pricing": "predictor priced as gpt-4o; compressors free",
        "dtypes": {n: b.dtype for n, b in run["backends"].items()},
        "seconds": {
            "calls_by_stage": by_stage,
            "calls_total": round(sum(by_stage.values()), 1),
            "load": run["load_s"],
            "this_invocation": seconds,
            "note": "calls_*: wall seconds of each model call when it ran (read back from the store on a resume), "
            "on one thread of a 2-core machine shared with other jobs (nice 5)",
        },
        "new_store_rows": done.n_written,
        "machine": {
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "threads": args.threads,
        },
    }
    (out / "run.json").write_text(json.dumps(meta, indent=1, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
