#!/usr/bin/env python
"""Does scoring in bfloat16 move an MI estimate out of its float32 bootstrap interval?

Reruns a finished run's bfloat16 scorer in float32 on the same summaries, and prints, per (data set,
compressor), the bfloat16 estimate beside the float32 estimate and its interval::

    python scripts/bf16_vs_fp32_scoring.py configs/ladder_synthetic_cpu.yaml data/results/ladder_synthetic_cpu

The run's folder is copied to a scratch folder (``--work``, default a temporary one) and the config is
rerun there with the float32 twin of every bfloat16 scorer added (``<name>-fp32``, same prompt, same
compressors): summaries, predictions and the bfloat16 scores come from the copied stores, so only the
float32 scoring is new work. The original folder is never written. The table is printed and, with
``--save``, written beside the run as ``bf16_vs_fp32.csv``. Exit status 1 when an estimate falls
outside its float32 interval.
"""

from __future__ import annotations

import argparse
import copy
import shutil
import sys
import tempfile
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mi_utils.experiment import parse_config, run

SUFFIX = "-fp32"


def fp32_twins(data: dict) -> dict:
    """The config with a float32 twin after every bfloat16 scorer (named ``<id>-fp32``).

    Raises:
      ValueError: the config has no bfloat16 scorer.
    """
    out = copy.deepcopy(data)
    scorers = []
    for sc in out.get("scorers", []):
        scorers.append(sc)
        if sc.get("dtype") == "bfloat16":
            name = sc.get("name") or Path(sc["model"]).name
            scorers.append({**sc, "dtype": "float32", "name": name + SUFFIX})
    if len(scorers) == len(out.get("scorers", [])):
        raise ValueError("the config has no bfloat16 scorer: its MI estimates are float32 already")
    out["scorers"] = scorers
    return out


def compare(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per (data set, compressor, bfloat16 scorer): both estimates and the float32 interval."""
    est = rows[rows["mi_bits"].notna()].drop_duplicates(["dataset", "compressor", "scorer"])
    est = est.set_index(["dataset", "compressor", "scorer"])
    lines = []
    for (ds, comp, sc), r in est.iterrows():
        if r["scorer_dtype"] != "bfloat16" or (ds, comp, sc + SUFFIX) not in est.index:
            continue
        f = est.loc[(ds, comp, sc + SUFFIX)]
        lines.append(
            {
                "dataset": ds,
                "compressor": comp,
                "scorer": sc,
                "bf16_bits": r["mi_bits"],
                "fp32_bits": f["mi_bits"],
                "fp32_ci_low": f["mi_ci_low_bits"],
                "fp32_ci_high": f["mi_ci_high_bits"],
                "difference": r["mi_bits"] - f["mi_bits"],
                "inside_fp32_interval": bool(f["mi_ci_low_bits"] <= r["mi_bits"] <= f["mi_ci_high_bits"]),
                "bf16_upper_bits": r["mi_upper_bits"],
                "fp32_upper_bits": f["mi_upper_bits"],
            }
        )
    return pd.DataFrame(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("config", type=Path)
    ap.add_argument("results", type=Path, help="the finished run's folder (rows.jsonl and stores/)")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--save", action="store_true", help="write bf16_vs_fp32.csv into the results folder")
    args = ap.parse_args(argv)
    if not (args.results / "stores").is_dir():
        print(f"{args.results} has no stores/: run the config into it first", file=sys.stderr)
        return 2
    data = fp32_twins(yaml.safe_load(args.config.read_text()))
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp) / "run"
        shutil.copytree(args.results / "stores", work / "stores", dirs_exist_ok=True)
        res = run(parse_config(data), out_dir=work, progress=True)
        table = compare(res.rows)
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if args.save:
        table.to_csv(args.results / "bf16_vs_fp32.csv", index=False)
    outside = table[~table["inside_fp32_interval"]]
    print(f"{len(table) - len(outside)} of {len(table)} bfloat16 estimates inside their float32 interval")
    return 1 if len(outside) else 0


if __name__ == "__main__":
    raise SystemExit(main())
