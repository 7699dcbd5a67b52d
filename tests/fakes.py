"""Fakes shared by the server-backend and HTTP tests (a plain module: ``from fakes import ...``).

* :class:`JSONServer`: a threaded HTTP server on 127.0.0.1 that records every request and answers
  JSON; a ``script`` of canned answers (status, body, headers) is served first. The vLLM and
  SGLang fakes and the shared HTTP layer's tests build on it.
* :class:`FakeTokenizer`: characters <-> ids (offset 10), a one-line chat template, EOS = 2.
* :class:`FakeResponse` / :class:`FakeSession`: a ``requests``-like session for clients that
  accept ``session=`` (no socket at all).
* :class:`FakeLM`, :class:`WordTokenizer`, :func:`fake_records`, :func:`fake_model_cache`: the
  runner's fake models and data (``mi_utils.experiment.run`` end to end without a model), with
  :data:`TINY_LLAMA`, the config their FLOPs and parameter counts are read from.
* :class:`CharLM`: an in-process character LM in both roles: it "compresses" by a rule (copy the
  document's start, or write a constant) and scores with a bigram copy model, so a copied summary is
  far likelier under its own document; it counts its calls and can simulate an interruption.
  :func:`write_documents`, :func:`rank_fakes` and :func:`rank_settings` set up a ranking on them
  (tests/test_rank.py, tests/test_explore.py), with :data:`RANK_TINY_LLAMA` for their FLOPs.
* :data:`PAIRS`, :func:`expected_logprobs`, :func:`check_local_tokenizer` and
  :func:`check_server_scorer`: the checks every server scorer backend must pass against its fake.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple

import numpy as np
import pytest

from mi_utils.backends.base import Generation

EOS = 2

Step = tuple  # (status, body) or (status, body, headers); body None answers non-JSON text


class Request(NamedTuple):
    """One request a :class:`JSONServer` received."""

    method: str
    path: str
    body: Any
    headers: dict


class JSONServer:
    """A threaded JSON-over-HTTP server on 127.0.0.1 (started at once; ``close()`` or ``with``).

    Args:
      script: answers served first, in order, to the requests :meth:`scripted` accepts.

    Attributes:
      requests: every :class:`Request` (``method, path, body, headers``), in arrival order.
      url: ``http://127.0.0.1:<port>``.
    """

    def __init__(self, script: list[Step] | None = None) -> None:
        self.script = list(script or [])
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep pytest output clean
                pass

            def _handle(self, method):
                body = None
                if method == "POST":
                    body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with server.lock:
                    server.requests.append(Request(method, self.path, body, dict(self.headers)))
                status, obj, *rest = server.answer(method, self.path, body)
                data = b"oops" if obj is None else json.dumps(obj).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **(rest[0] if rest else {})}.items():
                    self.send_header(k, str(v))
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def __enter__(self) -> JSONServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def scripted(self, method: str, path: str) -> bool:
        """Whether this request may be answered from the script (default: every request)."""
        return True

    def next_step(self, method: str, path: str) -> Step | None:
        """The next scripted answer for this request, or ``None`` when the script is done."""
        with self.lock:
            if self.script and self.scripted(method, path):
                return self.script.pop(0)
        return None

    def answer(self, method: str, path: str, body: Any) -> Step:
        """The scripted answer, else :meth:`respond`'s."""
        return self.next_step(method, path) or self.respond(method, path, body)

    def respond(self, method: str, path: str, body: Any) -> Step:
        """The normal answer (override): here ``200 {"ok": true, "path": path}``."""
        return 200, {"ok": True, "path": path}

    def posts(self, path: str) -> list[Request]:
        """The recorded POSTs to ``path``."""
        return [r for r in self.requests if r[0] == "POST" and r[1] == path]


class FakeTokenizer:
    """Characters <-> ids (offset 10); a one-line chat template; EOS = 2."""

    chat_template = "fake"
    eos_token_id = EOS

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": ([1] if add_special_tokens else []) + [ord(ch) + 10 for ch in text]}

    def apply_chat_template(self, messages, add_generation_prompt=True, tokenize=True):
        text = "".join(f"<{m['role']}>{m['content']}" for m in messages)
        return self(text + ("<assistant>" if add_generation_prompt else ""))["input_ids"]

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(i - 10) for i in ids if not (skip_special_tokens and i < 10))


class CharLM:
    """A character LM filling both roles (tokenizer :class:`FakeTokenizer`; see the module docstring).

    Args:
      name: its model name; rule: ``"copy"`` (the first ``n_chars`` characters of the document) or
        ``"constant"`` (:attr:`CONSTANT`) when generating.
    """

    roles = frozenset({"generator", "scorer"})
    tokenizer_name = "fake-chars"
    bos_ids = [1]
    eos_ids = [EOS]
    CONSTANT = "Nothing to report here."
    VOCAB = 256

    def __init__(self, name: str, rule: str = "copy", n_chars: int = 40) -> None:
        self.model_name, self.rule, self.n_chars = name, rule, n_chars
        self.tokenizer = FakeTokenizer()
        self.calls = {"generate": 0, "score": 0}
        self.fail_on_score_call: int | None = None

    def encode(self, text: str) -> list[int]:
        return self.tokenizer(text)["input_ids"]

    def encode_chat(self, messages) -> list[int]:
        return self.tokenizer.apply_chat_template(messages)

    def generate(self, prompts, params):
        from mi_utils.backends.base import Generation

        self.calls["generate"] += len(prompts)
        out = []
        for messages in prompts:
            content = messages[-1]["content"]
            doc = content.split("Text:\n", 1)[1].split("\n\nYour summary", 1)[0]
            text = doc[: self.n_chars].strip() if self.rule == "copy" else self.CONSTANT
            prompt_ids = self.encode_chat(messages)
            effective = {"temperature": 1.0, "top_k": 0, "top_p": 1.0}
            out.append(
                [
                    Generation(
                        text,
                        self.encode(text),
                        prompt_ids,
                        params,
                        j,
                        "stop",
                        {"seed": params.seed},
                        EOS,
                        effective=effective,
                    )
                    for j in range(params.n)
                ]
            )
        return out

    def score(self, pairs):
        self.calls["score"] += 1
        if self.fail_on_score_call is not None and self.calls["score"] >= self.fail_on_score_call:
            self.fail_on_score_call = None
            raise KeyboardInterrupt("simulated interruption while scoring")
        out = []
        for prefix, cont in pairs:
            seq, lps = list(prefix), []
            for t in cont:  # bigram copy model: p(t | prev) from the counts of (prev, t) seen so far
                prev = seq[-1]
                follows = [b for a, b in zip(seq, seq[1:]) if a == prev]
                p_copy = follows.count(t) / len(follows) if follows else 0.0
                lps.append(float(np.log(0.9 * p_copy + 0.1 / self.VOCAB)))
                seq.append(t)
            out.append(np.array(lps))
        return out


WORDS = "amber birch cedar delta ember fjord garnet harbor indigo juniper kelp lagoon meadow nectar onyx prairie"
#: A llama-shaped config for FLOPs of fake LM compressors (with a parameter count of 1000).
RANK_TINY_LLAMA = {"num_hidden_layers": 2, "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 16}


def write_documents(folder, n: int = 4):
    """``n`` text files (``doc0.txt``...) whose words do not overlap, so a copied summary identifies its document."""
    folder.mkdir(parents=True, exist_ok=True)
    words = WORDS.split()
    for i in range(n):
        mine = words[i * 4 : i * 4 + 4]
        (folder / f"doc{i}.txt").write_text(" ".join(mine * 6) + ".\n", encoding="utf-8")
    return folder


def rank_fakes():
    """``({name: CharLM}, new_cache)``: a copier, a constant writer and a scorer, and ModelCaches serving them."""
    from mi_utils.experiment import ModelCache

    lms = {
        "copier": CharLM("copier", "copy"),
        "parrot": CharLM("parrot", "constant"),
        "fake-scorer": CharLM("fake-scorer"),
    }
    return lms, (lambda: ModelCache(lambda spec: lms[spec.model]))


def rank_settings(**kw):
    """RankSettings over the fakes (two LMs and two LM-free cuts, M=2), ``kw`` overriding."""
    from mi_utils.rank import RankSettings

    base = dict(compressors=("copier", "parrot", "constant", "first_k:12"), scorer="fake-scorer", M=2, n_boot=50)
    return RankSettings(**{**base, **kw})


class FakeResponse:
    """What a ``requests`` response offers a client: ``status_code``, ``text``, ``headers``, ``json()``."""

    def __init__(self, status: int, body: Any, headers: dict | None = None) -> None:
        self.status_code = status
        self._body = body
        self.headers = dict(headers or {})
        self.text = json.dumps(body) if not isinstance(body, str) else body

    def json(self):
        if isinstance(self._body, str):
            raise ValueError("not json")
        return self._body


class FakeSession:
    """A ``requests``-like session answering ``post`` with the given responses in turn (the last repeats)."""

    def __init__(self, *responses: FakeResponse) -> None:
        self.responses = list(responses)
        self.requests: list[dict] = []

    def post(self, url, json=None, timeout=None, headers=None):
        self.requests.append({"url": url, "json": json, "headers": headers})
        return self.responses[min(len(self.requests), len(self.responses)) - 1]


# ------------------------------------------------------------------ scoring checks
PAIRS = [
    ([1, 50, 60, 70], [80, 90]),
    ([1, 50, 60, 70], [81]),
    ([1, 51], [80, 90, 100, 110]),
    ([3], [4, 5, 6]),
    ([1, 50, 60, 70], [90, 80]),
]


def expected_logprobs(logprob: Callable[[list[int], int], float], prefix, cont) -> np.ndarray:
    """What a fake server with per-token ``logprob(context, token)`` returns for ``cont`` after ``prefix``."""
    ids = list(prefix) + list(cont)
    return np.array([logprob(ids[: len(prefix) + k], t) for k, t in enumerate(cont)])


def check_server_scorer(backend, expected: Callable[[Any, Any], np.ndarray]) -> None:
    """The scale-out path: every caller that needs a scorer works against a server backend.

    Args:
      backend: a scorer backend talking to a fake server, with :class:`FakeTokenizer`.
      expected: ``(prefix, continuation) -> log-probs`` the fake server gives.
    """
    from mi_utils.compress import score_matrix, scoring_token_pairs
    from mi_utils.evaluate import reference_token_pairs
    from mi_utils.predict import choice_token_pairs, choose_option

    contexts, summaries = ["ctx one", "ctx two"], [["s1"], ["s22"]]
    logp, lengths = score_matrix(backend, contexts, "q?", summaries, progress=False)
    prefix, conts = scoring_token_pairs(backend, contexts, ["q?", "q?"], summaries)
    for i in range(2):
        for l in range(2):
            assert logp[i, 0, l] == pytest.approx(expected(prefix(l, i), conts[i][0]).sum())
    assert lengths.tolist() == [[3], [4]]  # " s1", " s22"
    p, cs = choice_token_pairs(backend, "summary", "q?", ["yes", "no"])
    got = choose_option(backend, "summary", "q?", ["yes", "no"])
    assert got.sum_logprobs.tolist() == pytest.approx([expected(p, c).sum() for c in cs])
    ((rp, rc),) = reference_token_pairs(backend, ["summary"], "q?", "ans")
    assert rp[0] == 1 and rc == backend.encode(" ans")  # the tokenizer's BOS starts the plain-text prefix


def check_local_tokenizer(backend) -> None:
    """encode / BOS / EOS / chat template come from the served model's tokenizer (a fake one), run here."""
    tok = FakeTokenizer()
    assert backend.encode("ab") == [ord("a") + 10, ord("b") + 10] == tok("ab")["input_ids"]
    assert backend.encode("ab", special=True) == [1] + backend.encode("ab")
    assert backend.bos_ids == [1] and backend.eos_ids == [EOS]
    msgs = [{"role": "user", "content": "hi"}]
    assert backend.encode_chat(msgs) == tok.apply_chat_template(msgs)
    assert backend.tokenizer_name == backend.model_name  # a tokenizer object: named after the model


# ============================================================ fake models for the runner
TINY_LLAMA = {
    "model_type": "llama", "vocab_size": 1000, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 4, "intermediate_size": 128, "tie_word_embeddings": True,
}  # fmt: skip


def write_tiny_llama_config(folder) -> None:
    """A config.json the fake models' FLOPs and parameter counts are read from."""
    (folder / "config.json").write_text(json.dumps(TINY_LLAMA))


class WordTokenizer:
    """Whitespace tokenizer with the two calls the extractive compressors make."""

    def __init__(self):
        self.vocab: dict[str, int] = {}
        self.words: list[str] = []

    def _id(self, w):
        if w not in self.vocab:
            self.vocab[w] = len(self.words)
            self.words.append(w)
        return self.vocab[w]

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [self._id(w) for w in text.split(" ")]}

    def decode(self, ids, **kw):
        return " ".join(self.words[i] for i in ids)


class FakeLM:
    """Deterministic stand-in for a runner's model: summaries copy the context's fact sentence,
    refinements (round > 1) append " Again." to the summary they refine; predictors echo the summary."""

    def __init__(self, name, tok, *, api=False, judge=False):
        self.model_name, self.tokenizer, self.api, self.judge = name, tok, api, judge
        self.tokenizer_name = name
        self.roles = frozenset({"generator"} if api else {"generator", "scorer"})
        self.bos_ids, self.eos_ids = [], [0]

    def encode(self, text, special=False):
        return self.tokenizer(text)["input_ids"]

    def encode_chat(self, messages):
        return self.encode(" ".join(m["content"] for m in messages))

    def score(self, pairs):
        return [np.array([-1.0 - 0.1 * ((sum(p) + t) % 5) for t in c]) for p, c in pairs]

    def generate(self, prompts, params):
        out = []
        for msgs in prompts:
            content = msgs[-1]["content"]
            if self.judge:
                text = '{"correct": true, "reason": "same"}'
            elif "Current summary:\n" in content:  # a refinement round: the previous summary, once more
                text = content.split("Current summary:\n", 1)[1].split("\n")[0] + " Again."
            elif "Summary:\n" in content:  # the prediction prompt: answer with the summary's first 3 words
                summary = content.split("Summary:\n", 1)[1].split("\n")[0]
                text = json.dumps({"explanation": "from the summary", "answer": " ".join(summary.split()[:3])})
            else:  # the compression prompt: copy the text's second sentence (the fact)
                text = content.split("Text:\n", 1)[1].split(". ")[1] + "."
            if self.api:
                out.append(
                    [
                        Generation(
                            text,
                            [],
                            [],
                            params,
                            j,
                            "stop",
                            {},
                            prompt_tokens=100 if j == 0 else 0,
                            output_tokens=10 if j == 0 else 0,
                        )
                        for j in range(params.n)
                    ]
                )
            else:
                out.append(
                    [
                        Generation(
                            text,
                            self.encode(text),
                            self.encode_chat(msgs),
                            params,
                            j,
                            "stop",
                            {},
                            stop_token=0,
                            effective={"temperature": params.temperature, "top_k": 0, "top_p": 1.0},
                        )
                        for j in range(params.n)
                    ]
                )
        return out


def fake_records(task):
    """Four records of ``task``, each with one fact (its answer) after a shared header."""
    from mi_utils.data import Record

    facts = ["alpha beta gamma", "delta epsilon zeta", "eta theta iota", "kappa lambda mu"]
    return [
        Record(
            id=f"{task}{i}",
            context=f"Shared report header. {f}. Filler sentence number {i}. Remark {i}.",
            query="What are the first three words?",
            answer=f,
            task=task,
            dataset=task,
        )
        for i, f in enumerate(facts)
    ]


def fake_model_cache(counts=None, judge_reply=None, tokenizer=None):
    """A :class:`~mi_utils.experiment.ModelCache` of :class:`FakeLM` s (``counts``: models built, by name).

    ``tokenizer``: a :class:`WordTokenizer` to share; its ids follow the order words are first seen,
    so runs whose scores are compared (a resumed run and its reference) share one.
    """
    from mi_utils.experiment import ModelCache

    tok = tokenizer or WordTokenizer()

    def factory(spec):
        if counts is not None:
            counts[spec.model] = counts.get(spec.model, 0) + 1
        b = FakeLM(spec.model, tok, api=spec.backend == "openai", judge=spec.model == "fake-judge")
        if judge_reply is not None and spec.model == "fake-judge":
            b.generate = lambda prompts, params: [[Generation(judge_reply, [], [], params)] for _ in prompts]
        return b

    cache = ModelCache(factory)
    cache._tokenizers["fake-tok"] = tok
    return cache
