"""Golden tests: prefix-reuse scoring equals a plain full-sequence forward pass (float32)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import REPO
from tolerances import LOGPROB_PER_TOKEN

TOL = LOGPROB_PER_TOKEN  # nats per token, float32 (tests/tolerances.py)

pytestmark = pytest.mark.slow


def _passages() -> list[dict]:
    with open(REPO / "data" / "public_domain_passages.jsonl", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _pairs(backend, n_prefixes: int = 3):
    """Real passages as prefixes; summaries of different lengths (cross pairs included)."""
    from mi_utils.prompts import scoring_continuation, scoring_prefix

    ps = _passages()[:n_prefixes]
    prefixes = [backend.encode(scoring_prefix(p["context"], p["query"])) for p in ps]
    conts = [backend.encode(scoring_continuation(p["context"][: 60 + 70 * k])) for k, p in enumerate(ps)] + [
        backend.encode(scoring_continuation("Liberty.")),
        backend.encode(" x"),
    ]
    # every continuation under every prefix, interleaved so prefixes are not contiguous
    return [(pre, c) for c in conts for pre in prefixes]


def _max_diff(a, b) -> float:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.shape == y.shape and x.dtype == np.float64
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


@pytest.fixture(scope="module")
def naive_reference(hf_backend):
    """The pairs and their full-forward scores, computed once for every strategy compared with them."""
    pairs = _pairs(hf_backend)
    return pairs, hf_backend.score(pairs, strategy="naive")


@pytest.mark.parametrize("strategy", ["packed", "crop", "batch", "copy"])
def test_prefix_reuse_equals_full_forward(hf_backend, naive_reference, strategy):
    pairs, ref = naive_reference
    lengths = {len(c) for _, c in pairs}
    assert len(lengths) >= 4 and 1 in lengths  # different lengths, a single-token one, padding
    got = hf_backend.score(pairs, strategy=strategy)
    assert _max_diff(got, ref) < TOL


def test_naive_matches_unbatched_forward(hf_backend):
    """The reference itself: batch with right padding equals one sequence at a time."""
    import torch

    pairs = _pairs(hf_backend, n_prefixes=2)[:4]
    ref = hf_backend.score(pairs, strategy="naive")
    m = hf_backend.model
    for (p, c), r in zip(pairs, ref):
        ids = torch.tensor([p + c])
        with torch.no_grad():
            lp = torch.log_softmax(m(ids).logits[0].float(), -1)
        want = lp[len(p) - 1 : len(p) + len(c) - 1].gather(-1, torch.tensor(c)[:, None])[:, 0].double().numpy()
        assert np.abs(want - r).max() < TOL


@pytest.mark.parametrize("strategy,attr", [("batch", "batch_size"), ("packed", "pack_tokens")])
def test_chunk_size_does_not_change_scores(hf_backend, strategy, attr):
    """Small batches / packs (several forwards per prefix, cache rolled back between) agree."""
    pairs = _pairs(hf_backend, n_prefixes=1)
    a = hf_backend.score(pairs, strategy=strategy)
    old = getattr(hf_backend, attr)
    try:
        setattr(hf_backend, attr, 2 if attr == "batch_size" else 40)
        b = hf_backend.score(pairs, strategy=strategy)
    finally:
        setattr(hf_backend, attr, old)
    assert _max_diff(a, b) < TOL


def test_bad_pairs_are_refused(hf_backend):
    with pytest.raises(ValueError, match="empty continuation"):
        hf_backend.score([([1, 2], [])])
    with pytest.raises(ValueError, match="empty prefix"):
        hf_backend.score([([], [1, 2])])


def test_gemma_sliding_window_scoring_is_exact_past_the_window():
    """Gemma 3 has 512-token sliding-window layers: the copy strategy stays exact past them."""
    from mi_utils.backends.hf import HFBackend
    from mi_utils.prompts import scoring_continuation

    b = HFBackend("gemma3-270m", dtype="float32")
    assert b.sliding_window and b.strategy == "copy"
    for forced in ("crop", "packed", "batch"):  # none of them is valid for a trimmed sliding-window cache
        with pytest.raises(ValueError, match=f"sliding-window attention layers: strategy '{forced}'"):
            HFBackend(b.model, b.tokenizer, strategy=forced)
        with pytest.raises(ValueError, match="use strategy='copy'"):
            b.score([([2, 10, 11], [12, 13])], strategy=forced)
        with pytest.raises(ValueError, match="sliding-window"):
            b.score_behind_prefix([2, 10, 11], [[12, 13]], strategy=forced)
    text = " ".join(p["context"] for p in _passages())
    prefix = b.bos_ids + b.encode(text)
    window = b.model.config.sliding_window
    assert len(prefix) > window + 50
    conts = [b.encode(scoring_continuation(p["context"][:200])) for p in _passages()[:3]]
    pairs = [(prefix, c) for c in conts]
    assert _max_diff(b.score(pairs), b.score(pairs, strategy="naive")) < TOL
