"""``configs/paper_grid.yaml`` builds every backend it names and reaches its first request.

The servers are stubbed (no GPU, no network): ``/v1/models`` answers for every URL with the model
the config puts there, and the first generation or scoring request stops the run. Tokenizers,
model configs and the five data sets are stand-ins. What is real is everything between the
YAML and the wire: parsing and validation, backend construction from each spec (URLs,
tokenizer, API key variable), the runner's pre-flight (roles, configs, parameter counts), the data
set loop and the request the first compressor receives. A grid that is broken in any of these
fails here, in CI, rather than on rented GPUs.
"""

from __future__ import annotations

import pytest

from conftest import REPO
from fakes import FakeTokenizer

CONFIG = REPO / "configs" / "paper_grid.yaml"


class FirstRequest(Exception):
    """Raised by the stubbed servers at the first POST."""

    def __init__(self, url: str, path: str, payload: dict):
        super().__init__(f"{url}{path}")
        self.url, self.path, self.payload = url, path, payload


LLAMA = {
    "model_type": "llama",
    "vocab_size": 128256,
    "hidden_size": 2048,
    "num_hidden_layers": 16,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "intermediate_size": 8192,
    "tie_word_embeddings": True,
}


def _records(task: str, n: int = 3):
    from mi_utils.data import Record

    kw = (
        {"options": ("alpha", "beta", "gamma", "delta", "epsilon"), "answer": "beta"}
        if task == "multiple_choice"
        else {"answer": "a reference answer"}
    )
    return [
        Record(
            id=f"{task}-{i}",
            context=f"Report {i}. The value is {i * 7}. More text follows here.",
            query="What is the value?",
            task=task,
            dataset=task,
            **kw,
        )
        for i in range(n)
    ]


@pytest.fixture
def stubbed(monkeypatch):
    from mi_utils import data, models
    from mi_utils.backends import http
    from mi_utils.experiment import load_config

    cfg = load_config(CONFIG)
    served: dict[str, str] = {}
    for spec in [*cfg.compressors, *cfg.predictors, *cfg.scorers]:
        for url in spec.urls or []:
            assert served.setdefault(url.rstrip("/"), spec.model) == spec.model, f"{url} serves two models"
    gets: list[str] = []

    def request(self, method, path, payload=None, *, url=None, retries=None):
        base = url or self.urls[0]
        if method == "GET" and path == "/v1/models":
            gets.append(base)
            return {"data": [{"id": served[base], "root": served[base], "max_model_len": 131072}]}
        raise FirstRequest(base, path, payload)

    monkeypatch.setattr(http.ServerPool, "request", request)
    monkeypatch.setattr(models, "load_tokenizer", lambda name: FakeTokenizer())
    monkeypatch.setattr(models, "load_model_config", lambda name: dict(LLAMA))
    monkeypatch.setattr(models, "generation_eos_ids", lambda name: [2])
    tasks = {
        "longhealth": "multiple_choice",
        "financebench": "free_form",
        "qasper": "free_form",
        "wildchat": "perplexity",
        "fineweb": "perplexity",
    }
    for name, task in tasks.items():
        monkeypatch.setitem(data.DATASETS, name, lambda task=task, **kw: _records(task))
    return cfg, served, gets


def test_paper_grid_builds_every_backend_and_reaches_the_first_request(stubbed, tmp_path):
    from mi_utils.backends import OpenAIChatBackend, VLLMBackend
    from mi_utils.experiment import ModelCache, run

    cfg, served, gets = stubbed
    cache = ModelCache()
    with pytest.raises(FirstRequest) as first:
        run(cfg, out_dir=tmp_path, progress=False, limit=3, models=cache)
    # pre-flight built every backend the grid names: each server was asked what it serves
    assert set(gets) == set(served)
    built = {spec_key[1]: b for spec_key, b in cache._models.items()}
    names = (
        {c.model for c in cfg.compressors if c.method is None}
        | {p.model for p in cfg.predictors}
        | {s.model for s in cfg.scorers}
        | {cfg.judge.model}
    )
    assert set(built) == names
    assert isinstance(built["gpt-4o"], OpenAIChatBackend) and isinstance(built["gpt-4o-mini"], OpenAIChatBackend)
    assert all(isinstance(built[m], VLLMBackend) for m in served.values())
    # the first request: the first LM compressor (after the LM-free settings) summarising record 0
    req = first.value
    first_lm = next(c for c in cfg.compressors if c.method is None)
    assert req.url == first_lm.urls[0] and req.path == "/v1/completions"
    p = req.payload
    rec = _records("multiple_choice")[0]
    from mi_utils.prompts import compression_messages

    assert p["model"] == first_lm.model and p["prompt"] == FakeTokenizer().apply_chat_template(
        compression_messages(rec.context, rec.query)
    )
    assert p["n"] == cfg.M and p["max_tokens"] == first_lm.max_new_tokens
    assert (p["temperature"], p["top_k"], p["top_p"], p["repetition_penalty"], p["min_p"]) == (1.0, -1, 1.0, 1.0, 0.0)
    assert not (tmp_path / "rows.jsonl").exists()


def test_paper_grid_config_is_the_papers_grid():
    """The grid itself (ten LM compressors on vLLM, the five data sets, GPT-4o generating only), and a
    chat API named as its scorer refused when the config is parsed, before anything loads."""
    import yaml

    from mi_utils.experiment import load_config, parse_config

    cfg = load_config(CONFIG)
    lm = {c.model for c in cfg.compressors if c.method is None}
    assert len(lm) == 10 and all(c.backend == "vllm" and c.urls for c in cfg.compressors if c.method is None)
    assert {"Qwen/Qwen2.5-14B-Instruct", "meta-llama/Llama-3.1-8B-Instruct", "google/gemma-3-12b-it"} <= lm
    assert [d.name for d in cfg.datasets] == ["longhealth", "financebench", "qasper", "wildchat", "fineweb"]
    gpt = next(p for p in cfg.predictors if p.model == "gpt-4o")
    assert gpt.handles("free_form") and not gpt.handles("perplexity")

    data = yaml.safe_load(CONFIG.read_text())
    data["scorers"] = [{"model": "gpt-4o", "backend": "openai"}]
    with pytest.raises(ValueError, match=r"scorers\[0\]\.backend 'openai' cannot be a scorer"):
        parse_config(data)
