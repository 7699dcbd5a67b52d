"""Backends and LM-free methods by name: a new one is one class or function plus one registry line.

The user's path end to end (register, write a config that names it, ``experiment.run``), the
backends' flags (a fake paid API and a fake in-process backend are treated as ``openai`` and ``hf``
are, so no module may ask for a backend by its name), the registries' own checks, the config's
messages for unknown names, and the old import paths.
"""

from __future__ import annotations

import math
import re

import pytest
from test_experiment import FakeBackend, FakeTokenizer, _records, _write_tiny_llama_config

from mi_utils import results
from mi_utils.backends import registry
from mi_utils.backends.registry import BACKENDS, backend_entry, build_backend, register_backend
from mi_utils.config import CompressorConfig, PredictorConfig, parse_config
from mi_utils.evaluate import perplexity_outcome
from mi_utils.experiment import run
from mi_utils.extractive import METHODS, extractive_summaries, method_entry, register_method
from mi_utils.planning import plan
from mi_utils.registry import Registry
from mi_utils.throughput import model_size

from tolerances import EXACT


class RegisteredFake(FakeBackend):
    """A backend that exists only in this test: built by the runner from its registry entry."""

    built: list = []

    @classmethod
    def from_spec(cls, spec):
        cls.built.append((spec.backend, spec.model))
        return cls(spec.model, FakeTokenizer())


class NoFromSpec:
    roles = frozenset({"generator"})


class PricedAPI(FakeBackend):
    """A paid chat API that exists only in this test: generation only, each reply's usage reported
    (100 prompt and 10 output tokens), nothing local (the fake judge agrees with every answer)."""

    roles = frozenset({"generator"})

    @classmethod
    def from_spec(cls, spec):
        return cls(spec.model, FakeTokenizer(), api=True, judge="judge" in spec.model)


def last_k(records, k, tokenizer, rngs):
    """The last ``k`` tokens of each context (the new method of the test)."""
    return [tokenizer.decode(tokenizer(r.context)["input_ids"][-k:]) for r in records]


@pytest.fixture
def fake_backend():
    RegisteredFake.built = []
    register_backend("fake", RegisteredFake.__module__, "RegisteredFake", ("generator", "scorer"))
    yield BACKENDS["fake"]
    BACKENDS.pop("fake")


@pytest.fixture
def flagged_backends():
    """``fakeapi``: a paid API (``priced``); ``fakelocal``: weights in this process (``in_process``)."""
    RegisteredFake.built = []
    register_backend("fakeapi", __name__, "PricedAPI", ("generator",), priced=True)
    register_backend("fakelocal", __name__, "RegisteredFake", ("generator", "scorer"), in_process=True)
    yield BACKENDS["fakeapi"], BACKENDS["fakelocal"]
    BACKENDS.pop("fakeapi")
    BACKENDS.pop("fakelocal")


@pytest.fixture
def new_method():
    register_method("last_k", last_k, kind="extractive", takes_k=True)
    yield METHODS["last_k"]
    METHODS.pop("last_k")


@pytest.fixture
def fake_records(monkeypatch):
    from mi_utils import data

    monkeypatch.setitem(data.DATASETS, "fake_free", lambda **kw: _records("free_form"))


def _config(tmp_path, compressors, backend="fake") -> dict:
    _write_tiny_llama_config(tmp_path)
    hf = str(tmp_path / "config.json")
    return {
        "name": "registered",
        "N": 4,
        "M": 2,
        "n_boot": 0,
        "datasets": [{"name": "fake_free"}],
        "compressors": compressors,
        "predictors": [{"model": "fake-pred", "backend": backend, "mode": "generate", "hf_config": hf}],
        "scorers": [{"model": "fake-lm", "backend": backend, "hf_config": hf}],
    }


# ====================================================================== the user's path
def test_a_registered_backend_runs_an_experiment_from_its_config(tmp_path, fake_backend, fake_records):
    hf = str(tmp_path / "config.json")
    lm = {"model": "fake-lm", "backend": "fake", "hf_config": hf, "max_new_tokens": 8}
    cfg = parse_config(_config(tmp_path, [lm, {"method": "shared_prefix"}]))
    df = run(cfg, out_dir=tmp_path / "out", progress=False).rows  # no model factory: the registry builds
    assert sorted(set(RegisteredFake.built)) == [("fake", "fake-lm"), ("fake", "fake-pred")]
    assert len(df) == 4 * 2 and set(df.compressor) == {"fake-lm", "shared_prefix"}
    assert {*df.predictor_backend, *df.scorer_backend, *df.compressor_backend.dropna()} == {"fake"}
    lm_rows = df[df.compressor == "fake-lm"]
    assert lm_rows.correct.all()  # the fake compressor copies the fact, the fake predictor echoes it
    assert all(math.isfinite(x) and x > 0 for x in lm_rows.mi_bits)  # the records' summaries differ


def test_a_registered_method_runs_from_its_config(tmp_path, fake_backend, new_method, fake_records):
    c = CompressorConfig.model_validate({"method": "last_k", "k": 2})
    (setting,) = c.settings()
    assert (c.kind, setting.id, setting.n_samples(5), setting.score_mi) == ("extractive", "last2", 1, True)
    cfg = parse_config(_config(tmp_path, [{"method": "last_k", "k": 2}, {"method": "constant"}]))
    df = run(cfg, out_dir=tmp_path / "out", progress=False).rows
    mine = df[df.compressor == "last2"]
    assert len(mine) == 4 and set(mine.compressor_kind) == {"extractive"} and set(mine.k) == {2}
    # each summary is its record's last two words: "Remark i."
    assert [t for texts in mine.summary_texts for t in texts] == [f"Remark {i}." for i in range(4)]
    assert all(math.isfinite(x) for x in mine.mi_bits)
    assert set(df[df.compressor == "constant"].compressor_kind) == {"control"}


def test_a_sampled_method_draws_M_summaries_with_the_run_seed():
    def any_sentence(records, k, tokenizer, rngs):
        return [rng.choice(r.context.split(". ")) for r, rng in zip(records, rngs)]

    register_method("any_sentence", any_sentence, kind="extractive", takes_k=False, sampled=True)
    try:
        c = CompressorConfig.model_validate({"method": "any_sentence"})
        assert c.settings()[0].n_samples(3) == 3 and c.settings()[0].id == "any_sentence"
        out = extractive_summaries(_records("free_form"), "any_sentence", None, FakeTokenizer(), M=3, seed=7)
        assert [len(row) for row in out] == [3] * 4 and {z.seed for row in out for z in row} == {7}
        again = extractive_summaries(_records("free_form"), "any_sentence", None, FakeTokenizer(), M=3, seed=7)
        assert [[z.text for z in row] for row in out] == [[z.text for z in row] for row in again]
    finally:
        METHODS.pop("any_sentence")


# ============================================== flags: what a backend is, never its name
#: The fake API's prices: USD per 1M input and output tokens.
API_PRICES = {"fake-api": [2.0, 8.0], "fake-api-judge": [1.0, 4.0]}


def _api_config(tmp_path, backend="fakeapi", **over) -> dict:
    """A run whose predictor and judge are the paid API and whose scorer is ``backend``."""
    hf = str(tmp_path / "config.json")
    cfg = _config(tmp_path, [{"method": "shared_prefix"}, {"method": "constant"}], backend="fakelocal")
    cfg["predictors"] = [{"model": "fake-api", "backend": backend, "mode": "generate", "params": 7e9}]
    cfg["judge"] = {"model": "fake-api-judge", "backend": backend}
    cfg["scorers"] = [{"model": "fake-lm", "backend": "fakelocal", "hf_config": hf, "dtype": "bfloat16"}]
    cfg["prices"] = API_PRICES
    return {**cfg, **over}


def test_a_priced_backend_costs_api_prices_and_takes_params_from_its_spec(
    tmp_path, flagged_backends, fake_records, monkeypatch
):
    read = results.model_config_of

    def never_an_apis_config(spec):
        assert spec.backend != "fakeapi", "an API model's config was read"
        return read(spec)

    monkeypatch.setattr(results, "model_config_of", never_an_apis_config)
    df = run(parse_config(_api_config(tmp_path)), out_dir=tmp_path / "out", progress=False).rows
    assert len(df) == 4 * 2 and set(df.predictor_backend) == {"fakeapi"}
    assert (df.predictor_params == 7e9).all()  # from the spec; its config is never read
    # per summary (M of them): one predictor call and one judge call, each 100 prompt + 10 output tokens
    (pin, pout), (jin, jout) = API_PRICES["fake-api"], API_PRICES["fake-api-judge"]
    per_summary = (100 * pin + 10 * pout) / 1e6 + (100 * jin + 10 * jout) / 1e6
    assert all(math.isclose(c, per_summary * m, rel_tol=EXACT[0], abs_tol=EXACT[1]) for c, m in zip(df.cost_usd, df.M))
    assert (df.cost_usd > 0).all() and df.correct.all()  # the fake judge agrees
    # without params an API model has no parameter count (an unknown, not a config to read)
    spec = PredictorConfig.model_validate({"model": "fake-api", "backend": "fakeapi", "mode": "generate"})
    meta = results.ModelMeta.read(spec)
    assert (meta.params, meta.config) == (None, None)


def test_a_priced_predictor_needs_a_price(tmp_path, flagged_backends, fake_records):
    with pytest.raises(ValueError, match=r"predictors\[0\]\.model 'fake-api' has no API price; add it under 'prices'"):
        parse_config(_api_config(tmp_path, prices={}))


def test_a_priced_backend_is_planned_as_an_api(tmp_path, flagged_backends, fake_records):
    hf = str(tmp_path / "config.json")
    lm = {"model": "fake-lm", "backend": "fakelocal", "hf_config": hf, "max_new_tokens": 8}
    p = plan(parse_config(_api_config(tmp_path, compressors=[lm, {"method": "constant"}])), tokenizers=False)
    (pred,) = [w for w in p.work if w.stage == "prediction"]
    # one request per prompt: M = 2 LM summaries and one constant per record (a local model: 2 calls a record)
    assert pred.calls == pred.sequences == 4 * (2 + 1)
    (pin, pout) = API_PRICES["fake-api"]
    want = (pred.prompt_tokens * pin + pred.new_tokens * pout) / 1e6
    assert math.isclose(pred.usd, want, rel_tol=EXACT[0], abs_tol=EXACT[1]) and pred.usd > 0
    assert pred.seconds is None and "time of an API is not estimated" in pred.note
    loads = {d["backend"]: d for d in p.loads}
    assert loads["fakeapi"]["action"] == "API client" and loads["fakeapi"]["weights_gb"] is None
    assert (
        loads["fakelocal"]["action"] == "load weights in this process" and loads["fakelocal"]["weights_gb"] is not None
    )
    # its size never comes from a config, even one that is here: the name, else params, else unknown
    spec = PredictorConfig.model_validate(
        {"model": "fake-api", "backend": "fakeapi", "mode": "generate", "hf_config": hf}
    )
    size, why = model_size(spec)
    assert size is None and "set params" in why
    local = PredictorConfig.model_validate({"model": "fake-api", "backend": "fakelocal", "hf_config": hf})
    assert model_size(local)[1] == "config.json"


def test_an_in_process_backend_records_its_dtype(tmp_path, flagged_backends, fake_backend, fake_records):
    df = run(parse_config(_api_config(tmp_path)), out_dir=tmp_path / "out", progress=False).rows
    assert set(df.dtype) == {"bfloat16"}  # the scorer's: the only model in this process
    cfg = _config(tmp_path, [{"method": "constant"}], backend="fake")  # registered without the flag
    df = run(parse_config(cfg), out_dir=tmp_path / "plain", progress=False).rows
    assert df.dtype.isna().all()


def test_calibrate_times_only_in_process_models(tmp_path, flagged_backends, fake_records, monkeypatch):
    from mi_utils import experiment
    from mi_utils.throughput import calibrate

    class Built(Exception):
        pass

    def spy(spec):  # stands in for loading: which model would calibrate time?
        raise Built(spec.backend)

    monkeypatch.setattr(experiment, "make_backend", spy)
    with pytest.raises(Built, match="^fakelocal$"):  # the API predictor comes first and is skipped
        calibrate(parse_config(_api_config(tmp_path)))


def test_a_backend_without_the_scorer_role_cannot_score_perplexity(tmp_path, flagged_backends):
    pred = PredictorConfig.model_validate({"model": "fake-api", "backend": "fakeapi", "mode": "generate"})
    (rec,) = _records("perplexity")[:1]
    with pytest.raises(ValueError, match=r"backend 'fakeapi'\) is not a scorer and cannot score the reference"):
        perplexity_outcome(None, rec, ["a summary"], None, pred)


def test_the_project_backends_flags():
    flags = {n: (e.priced, e.in_process, e.server) for n, e in BACKENDS.items()}
    assert flags == {
        "hf": (False, True, False),
        "vllm": (False, False, True),
        "sglang": (False, False, True),
        "openai": (True, False, False),
    }
    with pytest.raises(ValueError, match="priced .* and in_process .* exclude each other"):
        register_backend("new", "x", "Y", ("generator",), priced=True, in_process=True)
    assert "new" not in BACKENDS


# ========================================================================= unknown names
def test_config_lists_registered_backends_for_an_unknown_one(tmp_path, fake_backend, fake_records):
    with pytest.raises(ValueError) as e:
        parse_config(_config(tmp_path, [{"method": "constant"}], backend="faek"))
    lines = str(e.value).splitlines()
    want = "must be one of ['hf', 'vllm', 'sglang', 'openai', 'fake'] (registered in mi_utils.backends.registry)"
    assert lines == [f"predictors[0].backend {want}, got 'faek'", f"scorers[0].backend {want}, got 'faek'"]


def test_config_lists_registered_methods_for_an_unknown_one(tmp_path, new_method, fake_records):
    with pytest.raises(ValueError, match=r"compressors\[0\]\.method must be one of \[.*'full', 'last_k'\]"):
        parse_config(_config(tmp_path, [{"method": "lats_k", "k": 2}], backend="hf"))
    with pytest.raises(ValueError, match=r"compressors\[0\]\.k must be an integer >= 1 for method 'last_k'"):
        parse_config(_config(tmp_path, [{"method": "last_k"}], backend="hf"))
    with pytest.raises(ValueError, match=r"compressors\[0\]\.k does not apply to method 'constant'"):
        parse_config(_config(tmp_path, [{"method": "constant", "k": 2}], backend="hf"))


def test_registry_lookups_name_the_registered_entries():
    with pytest.raises(ValueError, match=r"unknown backend 'nope'; registered backends: \['hf', 'vllm'"):
        backend_entry("nope")
    with pytest.raises(ValueError, match=r"unknown extractive method 'nope'; choose from \["):
        method_entry("nope")
    with pytest.raises(ValueError, match="unknown extractive method 'nope'"):
        extractive_summaries(_records("free_form"), "nope", 1, FakeTokenizer())
    with pytest.raises(ValueError, match="k must be >= 1 for method 'first_k'"):
        extractive_summaries(_records("free_form"), "first_k", 0, FakeTokenizer())


def test_both_registries_share_one_helper():
    assert isinstance(BACKENDS, Registry) and isinstance(METHODS, Registry)
    assert isinstance(BACKENDS, dict) and isinstance(METHODS, dict)  # tests add and pop entries as in a dict
    with pytest.raises(ValueError, match="a backend name must be a non-empty string, got ''"):
        register_backend("", "x", "Y", ("scorer",))
    with pytest.raises(ValueError, match="a method name must be a non-empty string other than 'lm', got 'lm'"):
        register_method("lm", last_k, kind="extractive", takes_k=True)
    with pytest.raises(ValueError, match=r"\(add one with mi_utils\.backends\.registry\.register_backend\)$"):
        backend_entry(None)
    names = sorted(METHODS)
    with pytest.raises(ValueError, match=re.escape(f"choose from {names} (add one with mi_utils.extractive.")):
        method_entry("nope")
    own = Registry("widget", adder="my.add_widget")
    assert own.add("a", 1) == 1 and own.lookup("a") == 1 and own == {"a": 1}
    with pytest.raises(ValueError, match="widget 'a' is already registered; pass replace=True"):
        own.add("a", 2)
    assert own.add("a", 2, replace=True) == 2
    with pytest.raises(
        ValueError, match=re.escape("unknown widget 'b'; registered widgets: ['a'] (add one with my.add_widget)")
    ):
        own.lookup("b")


def test_registering_refuses_bad_entries():
    with pytest.raises(ValueError, match="'hf' is already registered; pass replace=True"):
        register_backend("hf", "x", "Y", ("scorer",))
    with pytest.raises(ValueError, match="roles must be a non-empty subset"):
        register_backend("new", "x", "Y", ("critic",))
    with pytest.raises(ValueError, match="'constant' is already registered"):
        register_method("constant", last_k, kind="control", takes_k=False)
    with pytest.raises(ValueError, match=r"kind must be one of \['extractive', 'control', 'full'\]"):
        register_method("new", last_k, kind="lm", takes_k=True)
    assert "new" not in BACKENDS and "new" not in METHODS


def test_building_a_broken_entry_names_it(monkeypatch):
    spec = type("Spec", (), {"backend": "broken"})()
    monkeypatch.setitem(BACKENDS, "broken", registry.BackendEntry("broken", "mi_utils.nowhere", "X", frozenset()))
    with pytest.raises(ImportError, match=r"backend 'broken' is registered as mi_utils\.nowhere\.X"):
        build_backend(spec)
    entry = registry.BackendEntry("broken", __name__, "NoFromSpec", frozenset({"generator"}))
    monkeypatch.setitem(BACKENDS, "broken", entry)
    with pytest.raises(TypeError, match="has no from_spec"):
        build_backend(spec)


# ============================================================== the project's own entries
def test_every_registered_class_builds_from_a_spec_and_has_its_entrys_roles():
    for name, entry in BACKENDS.items():
        cls = entry.load()
        assert cls.roles == entry.roles == registry.BACKEND_ROLES[name] and callable(cls.from_spec), name
    assert registry.server_backends() == ("vllm", "sglang")


def test_old_import_paths_keep_working():
    import mi_utils.backends as backends
    import mi_utils.backends.vllm as vllm
    import mi_utils.backends.vllm_server as vllm_server
    from mi_utils import compress, config
    from mi_utils.backends.base import BACKEND_ROLES

    assert vllm.launch_vllm_server is backends.launch_vllm_server is vllm_server.launch_vllm_server
    assert BACKEND_ROLES is backends.BACKEND_ROLES is registry.BACKEND_ROLES
    assert tuple(BACKENDS) == config.BACKENDS and tuple(METHODS) == config.METHODS
    assert set(compress.CONTROLS) == {"shared_prefix", "constant"}
    assert set(compress.EXTRACTIVE) == set(METHODS) - {"full"}
    for name in config.__all__:
        assert getattr(config, name) is not None
