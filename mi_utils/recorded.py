"""A recorded run as the planner's rate source and check: its config, its stage times, its rates.

What lives here: :func:`recorded_run` (a finished run's ``config.json`` and ``timings.json``),
:func:`measured_seconds` (the recorded seconds of one :class:`~mi_utils.planning.Work` line, from the
stage events the runner writes) and :func:`rates_from_timings` (each model's throughput in each stage:
its recorded seconds over the tokens :func:`mi_utils.planning.plan` counts for that run's config). A
plan made with one run's rates for another run's config, against that run's recorded total, is the
planner's check (``tests/test_planning.py``, ``scripts/plan_ratios.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import ExperimentConfig, config_from_dump
from .planning import Plan, Work, plan
from .throughput import DECODE_WEIGHT, Throughput, model_size, rate_key

__all__ = [
    "config_from_dump",  # lives in mi_utils.config (ExperimentConfig.from_dict); importable from here too
    "recorded_run",
    "measured_seconds",
    "rates_from_timings",
    "check_plan",
]


def recorded_run(folder: str | Path) -> tuple[ExperimentConfig, dict]:
    """A finished run's config (``config.json``) and its timings (the ``timings.json`` run that wrote
    the most rows without an error).

    Raises:
      FileNotFoundError: the folder lacks ``config.json`` or ``timings.json``.
      ValueError: no run in ``timings.json`` finished.
    """
    folder = Path(folder)
    cfg = ExperimentConfig.from_dict(json.loads((folder / "config.json").read_text(encoding="utf-8")))
    data = json.loads((folder / "timings.json").read_text(encoding="utf-8"))
    runs = [r for r in (data.get("runs", [data]) if isinstance(data, dict) else data) if not r.get("error")]
    if not runs:
        raise ValueError(f"{folder}/timings.json has no finished run to calibrate on")
    return cfg, max(runs, key=lambda r: r.get("rows_written", 0))


def measured_seconds(w: Work, timings: dict) -> float:
    """The recorded seconds of a plan line: its stage's events for its setting, scorer or predictor
    (a predictor's are summed; the judge is timed inside its predictor's, so 0)."""
    field_of = {"generation": "compressor", "scoring": "scorer", "prediction": "predictor"}
    if w.stage not in field_of:
        return 0.0
    return sum(
        e["seconds"]
        for e in timings.get("events", [])
        if e.get("stage") == w.stage
        and e.get(field_of[w.stage]) == w.who
        and e.get("dataset") == w.dataset
        and e.get("seed", w.seed) == w.seed
    )


def rates_from_timings(
    *folders: str | Path, tokenizers: bool = True, plans: Sequence[Plan] | None = None
) -> dict[str, Throughput]:
    """Rates from recorded runs: each (model, dtype, stage)'s seconds over its planned tokens, pooled
    over the runs given.

    The tokens are the plan of each run's own config (``prompt + scored + DECODE_WEIGHT x new``, a
    generated token weighing :data:`~mi_utils.throughput.DECODE_WEIGHT` prompt tokens); ``decode`` is
    ``prefill / DECODE_WEIGHT``. Keys are ``model@dtype/stage``. ``tokenizers``: as :func:`~mi_utils.planning.plan`.
    ``plans``: each folder's plan of its config when already made (with any rates: only its tokens are
    read), in the order of ``folders``; planned here when ``None``.

    Raises:
      ValueError: ``plans`` does not give one plan per folder.
    """
    if plans is not None and len(plans) != len(folders):
        raise ValueError(f"plans gives {len(plans)} plan(s) for {len(folders)} folder(s); give one per folder or None")
    sums: dict[str, list[float]] = {}
    for n, folder in enumerate(folders):
        cfg, timings = recorded_run(folder)
        specs = {(s.model, s.backend, s.dtype): s for s in cfg.model_specs()}
        for w in (plan(cfg, tokenizers=tokenizers) if plans is None else plans[n]).work:
            secs = measured_seconds(w, timings)
            if secs <= 0 or None in (w.prompt_tokens, w.new_tokens, w.scored_tokens):
                continue
            acc = sums.setdefault(rate_key(w.model, w.dtype, w.stage), [0.0, 0.0, 0.0])
            acc[0] += w.prompt_tokens + w.scored_tokens + DECODE_WEIGHT * w.new_tokens
            acc[1] += secs
            acc[2] = model_size(specs[(w.model, w.backend, w.dtype)])[0] or 0.0
    names = ", ".join(Path(f).name for f in folders)
    return {
        k: Throughput(tok / s, tok / s / DECODE_WEIGHT, f"rate of recorded run(s) {names}", params or None)
        for k, (tok, s, params) in sums.items()
    }


def check_plan(
    target: str | Path, rates: dict[str, Throughput], calibration: str = "", *, planned: Plan | None = None
) -> dict[str, Any]:
    """The plan of a recorded run's config against what that run did: rows, continuations scored,
    samples generated, and the estimated seconds (with ``rates``, e.g. another run's) over the recorded
    total. ``planned``: the target config's plan when already made (costed here again with ``rates``);
    planned here when ``None``.

    Returns:
      a flat record: ``target``, ``calibration``, ``rows_planned`` / ``rows_written``,
      ``continuations``, ``samples``, ``estimate_s``, ``measured_s``, ``ratio`` (estimate / measured;
      ``None`` when a line's time is unknown) and ``lines_unknown``.
    """
    cfg, timings = recorded_run(target)
    p = plan(cfg, rates=rates) if planned is None else planned.costed(rates)
    known, unknown = p.known_seconds()
    measured = float(timings["total_s"])
    return {
        "target": Path(target).name,
        "calibration": calibration,
        "rows_planned": p.rows,
        "rows_written": int(timings.get("rows_written", 0)) + int(timings.get("rows_reused", 0)),
        "continuations": sum(w.sequences for w in p.work if w.stage == "scoring"),
        "samples": sum(w.sequences for w in p.work if w.stage == "generation"),
        "estimate_s": round(known, 1),
        "measured_s": round(measured, 1),
        "ratio": round(known / measured, 3) if not unknown else None,
        "lines_unknown": unknown,
    }
