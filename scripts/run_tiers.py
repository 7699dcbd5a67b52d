"""Run the test tiers as `make test` does, and say how long each took.

The tiers are pytest markers (pyproject.toml): ``unit`` (seconds, no model), ``slow`` (the packaged
models), ``notebook`` (every notebook in its SMOKE setting) and ``integration`` (a vLLM CPU server).
They run in this order; ``slow`` and ``notebook`` run side by side, each with half the cores
(``OMP_NUM_THREADS``): on the 2-core CI machine a model forward with 2 threads is only ~1.2x faster
than with 1, so two tiers on one core each finish ~3 minutes sooner than one after the other. Each
tier prints its slowest tests (``--durations``) so growth is visible; side-by-side tiers write to
``build/test-logs/<tier>.log``, shown when they end. The unit tier, run alone, spreads its tests over
the cores with pytest-xdist (``-n``; pass ``-n 0`` to run it in one process).

    python scripts/run_tiers.py                  # every tier (make test)
    python scripts/run_tiers.py unit             # one tier (make test-unit)
    python scripts/run_tiers.py slow notebook    # these tiers, side by side
    python scripts/run_tiers.py unit -k config   # anything after the tier names goes to pytest
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TIERS = {
    "unit": "not slow and not notebook and not integration",
    "slow": "slow and not notebook and not integration",
    "notebook": "notebook and not integration",
    "integration": "integration",
}
#: Groups run one after another; the tiers of a group run side by side.
PLAN = [["unit"], ["slow", "notebook"], ["integration"]]
DURATIONS = ["--durations=10", "--durations-min=1.0"]
NO_TESTS = 5  # pytest's exit code when nothing was collected


#: Tiers whose tests are spread over the cores (pytest-xdist) when they run alone: the unit tier is
#: ~900 short tests in one process otherwise (about a minute on 2 cores, its budget).
PARALLEL = {"unit"}


def _workers(tier: str, extra: list[str]) -> list[str]:
    """``["-n", N]`` for a :data:`PARALLEL` tier on a machine with several cores, else nothing.

    Nothing when pytest-xdist is missing or the caller chose (``-n``, ``-p no:xdist``, ``--pdb``).
    """
    cores = os.cpu_count() or 1
    chosen = any(a == "-n" or a.startswith(("-n", "--numprocesses", "--pdb")) or a == "no:xdist" for a in extra)
    if tier not in PARALLEL or cores < 2 or chosen or importlib.util.find_spec("xdist") is None:
        return []
    return ["-n", str(min(cores, 4))]


def _command(tier: str, extra: list[str], parallel: bool = False) -> list[str]:
    workers = _workers(tier, extra) if parallel else []
    return [sys.executable, "-m", "pytest", "-m", TIERS[tier], *workers, *DURATIONS, *extra]


def run_group(tiers: list[str], extra: list[str]) -> dict[str, tuple[int, float]]:
    """Run ``tiers`` (side by side when several) and return ``{tier: (exit code, seconds)}``."""
    if len(tiers) == 1:
        tier = tiers[0]
        print(f"[test] tier {tier}: pytest -m '{TIERS[tier]}'", flush=True)
        t = time.perf_counter()
        rc = subprocess.call(_command(tier, extra, parallel=True), cwd=REPO)
        return {tier: (rc, time.perf_counter() - t)}
    logs = REPO / "build" / "test-logs"
    logs.mkdir(parents=True, exist_ok=True)
    (REPO / "build" / "test-tmp").mkdir(parents=True, exist_ok=True)
    threads = str(max(1, (os.cpu_count() or 2) // len(tiers)))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    procs, files, started, out = {}, {}, {}, {}
    for tier in tiers:
        print(
            f"[test] tier {tier}: pytest -m '{TIERS[tier]}' ({threads} thread(s), side by side; "
            f"log build/test-logs/{tier}.log)",
            flush=True,
        )
        files[tier] = open(logs / f"{tier}.log", "w", encoding="utf-8")  # noqa: SIM115 (closed below)
        started[tier] = time.perf_counter()
        own_tmp = [f"--basetemp={REPO / 'build' / 'test-tmp' / tier}"]  # no shared numbered temp dirs
        procs[tier] = subprocess.Popen(
            _command(tier, [*own_tmp, *extra]), cwd=REPO, env=env, stdout=files[tier], stderr=subprocess.STDOUT
        )
    pending = set(tiers)
    while pending:
        for tier in sorted(pending):
            if procs[tier].poll() is not None:
                out[tier] = (procs[tier].returncode, time.perf_counter() - started[tier])
                pending.discard(tier)
        time.sleep(0.5)
    for tier in tiers:
        files[tier].close()
        print(f"[test] ---- tier {tier} output ----", flush=True)
        sys.stdout.write((logs / f"{tier}.log").read_text(encoding="utf-8"))
        sys.stdout.flush()
    return {tier: out[tier] for tier in tiers}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    tiers = []
    while args and args[0] in TIERS:  # leading tier names; the rest goes to pytest (-k, -x, ...)
        tiers.append(args.pop(0))
    extra = args
    plan = [tiers] if tiers else PLAN
    t0, results = time.perf_counter(), {}
    for group in plan:
        results.update(run_group(group, extra))
        for tier in group:
            rc, dt = results[tier]
            print(f"[test] tier {tier} took {dt:.0f} s (exit {rc})", flush=True)
    failed = [t for t, (rc, _) in results.items() if rc not in (0, NO_TESTS)]
    summary = ", ".join(
        f"{t} {dt:.0f} s" + ("" if rc in (0, NO_TESTS) else f" (exit {rc})") for t, (rc, dt) in results.items()
    )
    print(f"[test] tiers: {summary}; all {time.perf_counter() - t0:.0f} s" + (f"; FAILED: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
