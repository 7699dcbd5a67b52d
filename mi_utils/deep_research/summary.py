"""The per-setting summary of a Deep Research run: cost and RACE score, and both as fractions of the reference.

:func:`summarise` reduces the run's rows (one per task and setting, :attr:`DeepResearchResult.rows`)
to one line per setting, the numbers behind the paper's Fig. 7 (score against API cost).
"""

from __future__ import annotations

__all__ = ["summarise"]


def summarise(rows, reference: str = "baseline"):
    """One line per setting: tasks, failures, mean API cost and RACE score, and both as fractions of the reference.

    Columns: ``n_tasks``, ``n_ok``, ``n_failed``, ``api_cost_usd`` (mean per task, failed tasks
    included: their money is spent), ``cost_fraction`` (of the reference setting's mean cost),
    ``race_total`` (mean absolute score, 0-10, over scored tasks), ``score_fraction`` (of the
    reference's mean ``race_total``), ``race_relative`` (mean pairwise score against the
    reference; 0.5 = parity), ``extraction_rate`` (mean share of sources marked relevant),
    ``report_tokens``, ``seconds`` (pipeline seconds per task).
    """
    import numpy as np
    import pandas as pd

    df = rows.copy()
    for col in ("race_total", "race_relative", "extraction_rate", "report_tokens"):
        if col not in df:
            df[col] = np.nan
    secs = [c for c in ("seconds_plan", "seconds_extract", "seconds_synthesise") if c in df]
    df["seconds"] = df[secs].fillna(0).sum(axis=1) if secs else np.nan
    g = df.groupby("setting", sort=False)
    out = pd.DataFrame(
        {
            "n_tasks": g.size(),
            "n_ok": g["status"].apply(lambda s: int((s == "ok").sum())),
            "n_failed": g["status"].apply(lambda s: int((s != "ok").sum())),
            "api_cost_usd": g["api_cost_usd"].mean() if "api_cost_usd" in df else np.nan,
            "race_total": g["race_total"].apply(lambda s: pd.to_numeric(s, errors="coerce").mean()),
            "race_relative": g["race_relative"].apply(lambda s: pd.to_numeric(s, errors="coerce").mean()),
            "extraction_rate": g["extraction_rate"].apply(lambda s: pd.to_numeric(s, errors="coerce").mean()),
            "report_tokens": g["report_tokens"].apply(lambda s: pd.to_numeric(s, errors="coerce").mean()),
            "seconds": g["seconds"].mean(),
        }
    )
    if reference in out.index:
        ref_cost, ref_score = out.loc[reference, "api_cost_usd"], out.loc[reference, "race_total"]
        out["cost_fraction"] = out["api_cost_usd"] / ref_cost if ref_cost and ref_cost > 0 else np.nan
        out["score_fraction"] = out["race_total"] / ref_score if ref_score and ref_score > 0 else np.nan
    else:
        out["cost_fraction"] = np.nan
        out["score_fraction"] = np.nan
    cols = [
        "n_tasks",
        "n_ok",
        "n_failed",
        "api_cost_usd",
        "cost_fraction",
        "race_total",
        "score_fraction",
        "race_relative",
        "extraction_rate",
        "report_tokens",
        "seconds",
    ]
    return out[cols]
