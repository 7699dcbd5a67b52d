"""``compress.score_matrix`` itself, with a fake scorer whose log-probs are a known function.

Checks the index orientation (``logp[i, j, l] = log p(z_ij | x_l, q)``), which query each
conditioning uses, the store (reuse, resume, keys), and the self-scoring prompt (prefix, ids,
stop token, exactness).
"""

from __future__ import annotations

import numpy as np
import pytest

from mi_utils.backends.base import hash_ids
from mi_utils.compress import Summary, own_continuation, own_scoring_exact, score_matrix
from mi_utils.prompts import compression_messages, scoring_continuation, scoring_prefix
from mi_utils.store import JsonlStore

EOS = 3


def f(context: list[int], token: int) -> float:
    """The fake model: log p(token | context), a known function of both."""
    return -(0.01 + ((sum(context) * 7 + len(context) * 3 + token * 11) % 53) / 10.0)


class FakeScorer:
    """Characters as token ids (BOS 1, EOS 3); a one-line chat template."""

    model_name = "fake-scorer"
    tokenizer_name = "fake-tok"
    roles = frozenset({"generator", "scorer"})
    bos_ids = [1]
    eos_ids = [EOS, 4]

    def __init__(self):
        self.calls: list[list[tuple[list[int], list[int]]]] = []

    def encode(self, text, special=False):
        return [ord(c) + 10 for c in text]

    def encode_chat(self, messages):
        return [2] + self.encode("|".join(m["content"] for m in messages)) + [2]

    def score(self, pairs):
        self.calls.append([(list(p), list(c)) for p, c in pairs])
        return [np.array([f(list(p) + list(c[:k]), t) for k, t in enumerate(c)]) for p, c in pairs]

    @property
    def pairs_scored(self) -> int:
        return sum(len(c) for c in self.calls)


def expected(prefix, cont) -> float:
    return float(sum(f(list(prefix) + list(cont[:k]), t) for k, t in enumerate(cont)))


CONTEXTS = ["alpha text", "beta words here", "gamma"]
QUERIES = ["q one?", "q two?", "q three?"]
SUMMARIES = [["a1", "a22"], ["b1", "b22"], ["c1", "c22"]]


def proxy_prefix(sc, l, q):
    return sc.bos_ids + sc.encode(scoring_prefix(CONTEXTS[l], q))


@pytest.mark.parametrize("conditioning", ["shared", "paired"])
def test_orientation_and_which_query_each_conditioning_uses(conditioning):
    sc = FakeScorer()
    logp, lengths = score_matrix(sc, CONTEXTS, QUERIES, SUMMARIES, conditioning=conditioning, progress=False)
    assert logp.shape == (3, 2, 3) and lengths.shape == (3, 2)
    for i in range(3):
        for j in range(2):
            cont = sc.encode(scoring_continuation(SUMMARIES[i][j]))
            assert lengths[i, j] == len(cont)
            for l in range(3):
                q = QUERIES[i] if conditioning == "shared" else QUERIES[l]  # summary's own question vs context's
                assert logp[i, j, l] == pytest.approx(expected(proxy_prefix(sc, l, q), cont), abs=1e-12), (i, j, l)
    # the two conditionings differ off the diagonal only
    other = score_matrix(
        FakeScorer(),
        CONTEXTS,
        QUERIES,
        SUMMARIES,
        conditioning="paired" if conditioning == "shared" else "shared",
        progress=False,
    )[0]
    diag = np.arange(3)
    np.testing.assert_allclose(other[diag, :, diag], logp[diag, :, diag])
    assert not np.allclose(other, logp)


def test_one_shared_query_string_and_summary_objects():
    sc = FakeScorer()
    by_text, _ = score_matrix(sc, CONTEXTS, "one question?", SUMMARIES, progress=False)
    objs = [[Summary(f"r{i}", j, t, len(t), "c") for j, t in enumerate(row)] for i, row in enumerate(SUMMARIES)]
    by_obj, _ = score_matrix(FakeScorer(), CONTEXTS, ["one question?"] * 3, objs, progress=False)
    np.testing.assert_array_equal(by_text, by_obj)
    # one unit of work per context: every summary behind it, with one prefix
    assert len(sc.calls) == 3 and all(len(call) == 6 and len({tuple(p) for p, _ in call}) == 1 for call in sc.calls)


def test_store_reuse_and_resume(tmp_path):
    path = tmp_path / "scores.jsonl"
    first = FakeScorer()
    logp, _ = score_matrix(first, CONTEXTS, QUERIES, SUMMARIES, store=path, tag="t", progress=False)
    assert first.pairs_scored == 3 * 3 * 2 and len(JsonlStore(path).keys()) == 3
    again = FakeScorer()
    logp2, _ = score_matrix(again, CONTEXTS, QUERIES, SUMMARIES, store=path, tag="t", progress=False)
    assert again.calls == [] and np.array_equal(logp, logp2)
    # a resumed run scores only the contexts missing from the store
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:1]) + "\n")
    resumed = FakeScorer()
    logp3, _ = score_matrix(resumed, CONTEXTS, QUERIES, SUMMARIES, store=path, tag="t", progress=False)
    assert len(resumed.calls) == 2 and np.array_equal(logp, logp3)
    # anything that changes the scores changes the key: another summary, tag, conditioning or prompt
    for kw in ({"summaries": [["a1", "a2X"], *SUMMARIES[1:]]}, {"tag": "u"}, {"conditioning": "paired"}):
        sc = FakeScorer()
        score_matrix(
            sc, CONTEXTS, QUERIES, kw.pop("summaries", SUMMARIES), store=path, **{"tag": "t", **kw}, progress=False
        )
        assert len(sc.calls) == 3, kw


def _lm_summary(i, j, text, *, ids, stop, reason="stop", tokenizer="fake-tok", sentences=None, sc=None, query=None):
    sc = sc or FakeScorer()
    prompt = sc.encode_chat(compression_messages(CONTEXTS[i], query or QUERIES[i], sentences=sentences))
    return Summary(
        f"r{i}",
        j,
        text,
        len(ids),
        "fake",
        token_ids=ids,
        sampling={"temperature": 1.0},
        finish_reason=reason,
        sentences=sentences,
        stop_token=stop,
        prompt_tokens=len(prompt),
        prompt_hash=hash_ids(prompt),
        tokenizer=tokenizer,
        sampling_effective={"temperature": 1.0, "top_k": 0, "top_p": 1.0},
    )


def test_own_prompt_scores_sampled_ids_with_their_stop_token():
    sc = FakeScorer()
    sums = [
        [_lm_summary(0, 0, "x", ids=[50, 51], stop=4), _lm_summary(0, 1, "y", ids=[52], stop=None, reason="length")],
        [_lm_summary(1, 0, "z", ids=[], stop=EOS, sentences=2), Summary("r1", 1, "plain text", 2, "first_k:2")],
        [_lm_summary(2, 0, "w", ids=[53], stop=EOS, tokenizer="other-tok"), _lm_summary(2, 1, "v", ids=[54], stop=EOS)],
    ]
    # ids as sampled, stop token when it stopped; text + the scorer's first EOS otherwise
    assert own_continuation(sc, sums[0][0]) == [50, 51, 4]
    assert own_continuation(sc, sums[0][1]) == [52]
    assert own_continuation(sc, sums[1][0]) == [EOS]  # stopped at once: the EOS is the whole sample
    assert own_continuation(sc, sums[1][1]) == sc.encode("plain text") + [EOS]
    assert own_continuation(sc, sums[2][0]) == sc.encode("w") + [EOS]  # another tokenizer's ids are not reused
    logp, lengths = score_matrix(sc, CONTEXTS, QUERIES, sums, prompt="own", progress=False)
    assert lengths.tolist() == [[3, 1], [1, 11], [2, 2]]
    for i in range(3):
        for j in range(2):
            z = sums[i][j]
            for l in range(3):
                prefix = sc.encode_chat(compression_messages(CONTEXTS[l], QUERIES[i], sentences=z.sentences))
                assert logp[i, j, l] == pytest.approx(expected(prefix, own_continuation(sc, z)), abs=1e-12)
    exact = own_scoring_exact(sc, CONTEXTS, QUERIES, sums)
    assert exact.tolist() == [[True, True], [True, False], [False, True]]
    # a prompt that differs from the one the compressor saw (another question) is not exact
    moved = [[_lm_summary(0, 0, "x", ids=[50], stop=4, query="another?")], [sums[1][0]], [sums[2][1]]]
    assert own_scoring_exact(sc, CONTEXTS, QUERIES, moved).tolist() == [[False], [True], [True]]


def test_bad_input_is_refused_by_name():
    sc = FakeScorer()
    with pytest.raises(ValueError, match="at least 2 contexts"):
        score_matrix(sc, CONTEXTS[:1], "q", [["a"]], progress=False)
    with pytest.raises(ValueError, match="N x M"):
        score_matrix(sc, CONTEXTS, "q", [["a"], ["b", "c"], ["d"]], progress=False)
    with pytest.raises(ValueError, match="prompt must be one of"):
        score_matrix(sc, CONTEXTS, "q", SUMMARIES, prompt="self", progress=False)

    class ChatAPI:
        model_name, roles = "gpt", frozenset({"generator"})

    with pytest.raises(TypeError, match="cannot score prompts for MI scoring"):
        score_matrix(ChatAPI(), CONTEXTS, "q", SUMMARIES, progress=False)


def test_compress_re_exports_the_score_stage():
    """The scoring names moved to ``mi_utils.score`` (the summary record to ``mi_utils.summaries``);
    ``mi_utils.compress`` still gives the very same objects."""
    import mi_utils.compress as compress
    import mi_utils.score as score
    import mi_utils.summaries as summaries

    for name in score.__all__:
        assert getattr(compress, name) is getattr(score, name), name
        assert name in compress.__all__
    for name in summaries.__all__:
        assert getattr(compress, name) is getattr(summaries, name), name
    assert compress.Summary.__module__ == "mi_utils.summaries"
    assert not hasattr(compress, "_exact_ids")  # the scoring internals live in score only
