"""The planner checked against the committed runs: each run's time estimated from another run's rates.

For every committed run (``data/results/<name>/`` with ``config.json`` and ``timings.json``) and every
other committed run as calibration, :func:`mi_utils.recorded.check_plan` plans the first with the
second's recorded rates and compares the estimate with the recorded total; the table goes to
``data/plan_ratios.csv`` (``tests/test_planning.py`` recomputes it). The rates of all the
committed runs, pooled, go to ``data/throughput_cpu.yaml``: the default rates of
``python -m mi_utils plan`` and of ``run``'s estimate at start.

    python scripts/plan_ratios.py          # rewrites both files (it plans each run once)
"""

from __future__ import annotations

import csv
import functools
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mi_utils.planning import Plan, plan  # noqa: E402
from mi_utils.recorded import check_plan, rates_from_timings, recorded_run  # noqa: E402

RUNS = ("grid_cpu", "ladder_synthetic_cpu", "ladder_financebench_cpu")
RATIOS = REPO / "data" / "plan_ratios.csv"
RATES = REPO / "data" / "throughput_cpu.yaml"


@functools.cache
def plans(results: Path = REPO / "data" / "results") -> dict[str, Plan]:
    """Each committed run's plan of its config, made once (its tokens; costing each with other rates is cheap)."""
    return {name: plan(recorded_run(results / name)[0]) for name in RUNS}


def ratio_table(results: Path = REPO / "data" / "results") -> list[dict]:
    """One record per (target run, calibration run), target != calibration."""
    planned = plans(results)
    rates = {name: rates_from_timings(results / name, plans=[planned[name]]) for name in RUNS}
    return [check_plan(results / t, rates[c], c, planned=planned[t]) for t in RUNS for c in RUNS if c != t]


def rates_yaml(results: Path = REPO / "data" / "results") -> str:
    """The pooled rates of every committed run, as a throughput file."""
    rates = rates_from_timings(*(results / n for n in RUNS), plans=[plans(results)[n] for n in RUNS])
    lines = [
        "# Tokens per second of the packaged models on the CPUs that ran the committed tables (grid_cpu: a",
        "# 2-vCPU AMD EPYC with AVX2; the ladders: one core each of a 2-core AMD EPYC with AVX-512 BF16), from",
        "# their timings.json over the tokens the planner counts. Written by scripts/plan_ratios.py.",
        "source: recorded runs " + ", ".join(RUNS),
    ]
    for key in sorted(rates):
        t = rates[key]
        lines.append(f"{key}: {{prefill: {t.prefill:.2f}, decode: {t.decode:.3f}, params: {t.params:.0f}}}")
    return "\n".join(lines) + "\n"


def main() -> int:
    table = ratio_table()
    with RATIOS.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(table[0]))
        w.writeheader()
        w.writerows(table)
    RATES.write_text(rates_yaml(), encoding="utf-8")
    for r in table:
        print(
            f"{r['target']:<26} from {r['calibration']:<26} estimate {r['estimate_s']:>7.0f} s, "
            f"measured {r['measured_s']:>7.0f} s, ratio {r['ratio']}"
        )
    print(f"wrote {RATIOS.relative_to(REPO)} and {RATES.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
