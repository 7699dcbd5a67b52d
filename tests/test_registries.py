"""Backends and LM-free methods by name: a new one is one class or function plus one registry line.

The user's path end to end (register, write a config that names it, ``experiment.run``), the
registries' own checks, the config's messages for unknown names, and the old import paths.
"""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from test_experiment import FakeBackend, FakeTokenizer, _records, _write_tiny_llama_config

from mi_utils.backends import registry
from mi_utils.backends.registry import BACKENDS, backend_entry, build_backend, register_backend
from mi_utils.config import CompressorConfig, parse_config
from mi_utils.experiment import run
from mi_utils.extractive import METHODS, extractive_summaries, method_entry, register_method

from conftest import REPO


class RegisteredFake(FakeBackend):
    """A backend that exists only in this test: built by the runner from its registry entry."""

    built: list = []

    @classmethod
    def from_spec(cls, spec):
        cls.built.append((spec.backend, spec.model))
        return cls(spec.model, FakeTokenizer())


class NoFromSpec:
    roles = frozenset({"generator"})


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


def test_reading_the_registries_imports_no_torch():
    code = (
        "import sys, mi_utils.backends.registry, mi_utils.config, mi_utils.extractive;"
        "from mi_utils.config import parse_config;"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
