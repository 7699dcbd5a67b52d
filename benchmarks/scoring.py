"""Scoring speed: naive re-encoding vs prefix reuse, against the model's plain forward throughput.

Workload (issue #4): N=16 contexts of ~2,000 tokens of real text, M=4 summaries of ~100 tokens
each, every summary scored under every context (N*N*M = 1,024 pairs), packaged SmolLM2-135M on
CPU. Everything runs in one process, so the ratios compare like with like.

* naive: each (context, summary) pair re-encoded from scratch (what lm-evaluation-harness and
  minicons do), batch 2, right-padded; timed on a random sample of pairs and extrapolated
  linearly (all pairs have the same shape, so the per-pair cost is uniform; the full job would
  take ~45 minutes here).
* reuse strategies: ``HFBackend.score_behind_prefix`` for all 64 summaries behind each of
  ``--contexts`` contexts (prefill included), extrapolated to 16 contexts.
* ceiling: plain batched forward of 2 x 2,000 tokens with ``logits_to_keep=1``.

Last line: ``speedup_vs_naive=<x> fraction_of_forward=<y>`` for the backend's default CPU strategy, where
y = (prefill tokens + summary tokens) per second of the reuse scorer / plain forward tokens per
second. Text: FinanceBench filing pages from the team data folder (``$MI_UTILS_TEAM_DATA``) when present (real 10-K
text), else the bundled public-domain passages repeated (noted in the output).

Usage: python benchmarks/scoring.py [--contexts 2] [--naive-pairs 4] [--dtype float32]

Run it on an otherwise idle machine: with 2 cores, any other busy process makes torch's
threads wait on each other and every number (ratios included) degrades several-fold.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
P_TOKENS, N_CTX, M = 2000, 16, 4


def real_text_contexts(tok, n: int) -> tuple[list[list[int]], str]:
    from mi_utils.paths import team_data_dir

    team = team_data_dir()  # None only outside a clone with $MI_UTILS_TEAM_DATA unset
    pages = team / "financebench" / "financebench_doc_pages.jsonl.gz" if team is not None else None
    texts, source = [], ""
    if pages is not None and pages.exists():
        with gzip.open(pages, "rt", encoding="utf-8") as f:
            docs = [json.loads(line) for line in f]
        docs = [d for d in docs if d["num_pages"] >= 30]
        random.Random(0).shuffle(docs)
        texts = ["\n".join(d["pages"][10:40]) for d in docs[:n]]
        source = "FinanceBench 10-K pages (team data folder)"
    if len(texts) < n:
        with open(REPO / "data" / "public_domain_passages.jsonl", encoding="utf-8") as f:
            base = " ".join(json.loads(line)["context"] for line in f)
        texts += [base * 6] * (n - len(texts))
        source = source or "bundled public-domain passages (team data folder not found)"
    ids = [tok(t, add_special_tokens=False)["input_ids"][:P_TOKENS] for t in texts]
    assert all(len(x) == P_TOKENS for x in ids)
    return ids, source


def summaries_from(tok, ctx: list[int], rng: random.Random) -> list[list[int]]:
    out = []
    for _ in range(M):
        start = rng.randrange(0, len(ctx) - 160)
        text = " " + tok.decode(ctx[start : start + 150]).strip()
        out.append(tok(text, add_special_tokens=False)["input_ids"][: rng.randint(90, 110)])
    return out


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--contexts", type=int, default=2, help="contexts timed per reuse strategy (of 16)")
    ap.add_argument("--naive-pairs", type=int, default=4, help="random pairs timed for the naive scorer")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument(
        "--strategies", default="crop,packed,batch", help="the backend's default strategy gives the last line"
    )
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from mi_utils.backends.hf import HFBackend

    b = HFBackend("smollm2-135m-instruct", dtype=args.dtype)
    ctx, source = real_text_contexts(b.tokenizer, N_CTX)
    rng = random.Random(0)
    summ = [s for c in ctx for s in summaries_from(b.tokenizer, c, rng)]  # 64 summaries
    summary_tokens = sum(len(s) for s in summ)
    useful = N_CTX * P_TOKENS + N_CTX * summary_tokens
    print(
        f"text: {source}; {N_CTX} contexts x {P_TOKENS} tokens, {len(summ)} summaries "
        f"({summary_tokens} tokens, mean {summary_tokens / len(summ):.1f}); dtype {b.dtype}; "
        f"threads {torch.get_num_threads()}"
    )
    print(f"useful tokens for the full job: {useful:,}")

    # ceiling: plain batched forward; the first full-size forwards of a process are slow
    # (allocation), so warm up at full size and keep the best of several runs.
    x = torch.tensor(ctx[:2])
    with torch.inference_mode():
        ceiling = max(x.numel() / timed(lambda: b.model(input_ids=x, logits_to_keep=1))[0] for _ in range(3))

    # naive: random pairs among the contexts timed below (so they double as a correctness
    # check of every reuse strategy), extrapolated to all 1,024 pairs
    pairs_all = [(c, s) for c in range(N_CTX) for s in range(len(summ))]
    timed_pairs = [(c, s) for c, s in pairs_all if c < args.contexts]
    sample = random.Random(1).sample(timed_pairs, args.naive_pairs)
    pairs = [(ctx[c], summ[s]) for c, s in sample]
    old = b.batch_size
    b.batch_size = 2
    dt_naive, ref = timed(lambda: b.score(pairs, strategy="naive"))
    b.batch_size = old
    naive_full = dt_naive / len(pairs) * len(pairs_all)

    rows = [("plain forward (ceiling)", f"{ceiling:,.0f} tok/s", "", "", "")]
    rows.append(
        (
            "naive re-encoding",
            f"{len(pairs) * (P_TOKENS + 100) / dt_naive:,.0f} tok/s (own)",
            f"{naive_full:,.0f} s",
            "1.0x",
            f"{useful / naive_full / ceiling:.3f}",
        )
    )
    headline = None
    for strat in args.strategies.split(","):
        b.score_behind_prefix(ctx[0], summ[:4], strategy=strat)  # warm-up at this shape
        total, check = 0.0, []
        for c in range(args.contexts):
            dt, lps = timed(lambda c=c, strat=strat: b.score_behind_prefix(ctx[c], summ, strategy=strat))
            total += dt
            check.extend(lps)
        full = total / args.contexts * N_CTX
        speedup = naive_full / full
        frac = useful / full / ceiling
        # correctness on the sampled pairs whose context was timed
        err = f"{max(np.abs(check[c * len(summ) + s] - r).max() for (c, s), r in zip(sample, ref)):.1e}"
        rows.append(
            (
                f"reuse: {strat}",
                f"{useful / full:,.0f} tok/s",
                f"{full:,.0f} s",
                f"{speedup:.1f}x",
                f"{frac:.3f}  (max |diff| vs naive {err})",
            )
        )
        if strat == b.strategy or headline is None:
            headline = (speedup, frac)
    print()
    print(f"{'method':<26}{'throughput':<24}{'full job':<12}{'speedup':<10}fraction_of_forward")
    for r in rows:
        print(f"{r[0]:<26}{r[1]:<24}{r[2]:<12}{r[3]:<10}{r[4]}")
    print(f"speedup_vs_naive={headline[0]:.2f} fraction_of_forward={headline[1]:.3f}")


if __name__ == "__main__":
    sys.exit(main())
