"""How long does resuming a large results store take? (issue: resuming grew with rows squared)

Writes a store of R rows shaped like the runner's (a key, ~20 columns, a few hundred bytes of text),
then "resumes" the way the runner does: for every row, ``key in store`` and ``store.get(key)``.
The baseline is the old lookup (a full scan of the file per ``get``), timed in the same process on
a small store and extrapolated quadratically, because at 200k rows it would take hours.

    python benchmarks/store_resume.py            # R = 200,000
    python benchmarks/store_resume.py --rows 20000

The last line reads ``resume_seconds=<s> rows=<R> speedup_vs_scan=<x>``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mi_utils.store import JsonlStore, make_key


def row(i: int) -> dict:
    return {
        "key": make_key(i=i),
        "record_id": f"r{i % 500:04d}",
        "compressor": f"c{i % 13}",
        "seed": 0,
        "mi_bits": 1.0 + (i % 7) / 10,
        "correct": bool(i % 2),
        "summary_tokens": 40.0,
        "summary_texts": ["The patient was admitted with pneumonia and treated with antibiotics."] * 3,
        "option_logprobs": [[-1.5, -2.5, -3.0, -0.5, -4.0]] * 3,
        "answer": "pneumonia",
    }


def write(path: Path, n: int) -> list[str]:
    keys = []
    with open(path, "w", encoding="utf-8") as f:  # the file the runner would have written
        for i in range(n):
            r = row(i)
            keys.append(r["key"])
            f.write(json.dumps(r) + "\n")
    return keys


def scan_get(path: Path, key: str) -> dict | None:
    """The old JsonlStore.get: read and parse the whole file for every lookup."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r.get("key") == key:
                return r
    return None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--baseline-rows", type=int, default=2_000)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small.jsonl"
        keys = write(small, args.baseline_rows)
        t = time.perf_counter()
        for k in keys[:200]:
            assert scan_get(small, k) is not None
        per_get = (time.perf_counter() - t) / 200
        baseline = per_get * args.baseline_rows * (args.rows / args.baseline_rows) ** 2
        big = Path(tmp) / "rows.jsonl"
        keys = write(big, args.rows)
        size_mb = big.stat().st_size / 1e6
        t = time.perf_counter()
        st = JsonlStore(big)  # a fresh process resuming
        found = sum(1 for k in keys if k in st and st.get(k) is not None)
        resume = time.perf_counter() - t
        assert found == args.rows
    print(f"store: {args.rows} rows, {size_mb:.0f} MB")
    print(f"indexed store: {resume:.2f} s to check and read back every row")
    print(
        f"old full-scan lookup: {per_get * 1e3:.2f} ms per get at {args.baseline_rows} rows; "
        f"~{baseline / 3600:.1f} h extrapolated to {args.rows} rows"
    )
    print(f"resume_seconds={resume:.2f} rows={args.rows} speedup_vs_scan={baseline / resume:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
