"""The config schema (mi_utils.config): pydantic underneath, the project's messages on top.

The shipped configs parse; one table of bad fields, each with the message that names it (ranges,
choices, types refused rather than coerced); every bad field named at once; plain-data round trips.
"""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from mi_utils.config import CompressorConfig, ExperimentConfig, load_config, parse_config

from conftest import REPO, smoke_config

CONFIGS = REPO / "configs"


def _set(d: dict, path: list, value) -> dict:
    """A copy of config ``d`` with the field at ``path`` (keys and list indices) set to ``value``."""
    d = copy.deepcopy(d)
    node = d
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    return d


@pytest.mark.parametrize("name", ["default", "smoke", "paper_grid", "grid_cpu"])
def test_shipped_configs_parse(name):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    kinds = {s.kind for s in cfg.settings()}
    assert {"control", "extractive", "lm", "full"} <= kinds
    assert cfg.scorers and cfg.predictors


def test_default_config_has_the_baselines():
    cfg = load_config(CONFIGS / "default.yaml")
    methods = {c.method for c in cfg.compressors}
    assert {"shared_prefix", "first_k", "bm25_top_k", "random_k", "full"} <= methods
    ids = [s.id for s in cfg.settings()]
    assert "smollm2" in ids and "smollm2-1sent" in ids
    assert all(s.score_mi for s in cfg.settings() if s.kind != "full")


#: One bad field each -> the message that names it (the field, what is allowed, what was given):
#: range and choice checks, then types refused rather than coerced.
BAD_FIELDS = [
    (["compressors", 2, "temperature"], -0.5, r"compressors\[2\]\.temperature must be >= 0"),
    (
        ["compressors", 2, "temprature"],
        1.0,
        r"compressors\[2\]\.temprature is not a known key \(did you mean 'temperature'\?\)",
    ),
    (["seed"], 1, r"^seed is not a known key \(did you mean 'seeds'\?\)"),
    (["compressors", 2, "top_p"], 0.0, r"compressors\[2\]\.top_p must be in \(0, 1\]"),
    (
        ["compressors", 2, "sentences"],
        [None, 0],
        r"compressors\[2\]\.sentences\[1\] must be null or an integer >= 1",
    ),
    (["compressors", 2, "max_new_tokens"], "20", r"compressors\[2\]\.max_new_tokens must be an integer"),
    (["compressors", 1, "k"], 0, r"compressors\[1\]\.k must be an integer >= 1"),
    (["compressors", 1, "temperature"], 1.0, r"compressors\[1\]\.temperature applies only to LM compressors"),
    (["compressors", 1, "method"], "bm26_top_k", r"compressors\[1\]\.method must be one of"),
    (["compressors", 2, "backend"], "vllm", r"compressors\[2\]\.urls is required for backend 'vllm'"),
    (["predictors", 0, "mode"], "guess", r"predictors\[0\]\.mode must be one of \['choice', 'generate'\]"),
    (["predictors", 0, "backend"], "openai", r"predictors\[0\]\.mode 'choice' needs log-probs"),
    (
        ["scorers", 0, "backend"],
        "openai",
        r"scorers\[0\]\.backend 'openai' cannot be a scorer: it is a generator only \(a chat API returns no "
        r"log-probs for prompt tokens and has no local tokenizer\); use one of \['hf', 'vllm', 'sglang'\]",
    ),
    (["compressors", 2, "backend"], "openai", r"compressors\[2\]\.backend 'openai' cannot be a compressor"),
    (
        ["scorers", 0, "backend"],
        "tgi",
        r"scorers\[0\]\.backend must be one of \['hf', 'vllm', 'sglang', 'openai'\]",
    ),
    (["scorers", 0, "prompt"], "self", r"scorers\[0\]\.prompt must be one of \['proxy', 'own'\]"),
    (["datasets", 0, "name"], "synthetic_clinicl", r"datasets\[0\]\.name must be one of"),
    (["datasets", 0, "limit"], 1, r"datasets\[0\]\.limit must be >= 2"),
    (["N"], 1, r"^N must be >= 2"),
    (["seeds"], [0, 0], r"^seeds lists a seed twice"),
    (["conditioning"], "joint", r"^conditioning must be 'shared' or 'paired'"),
    (["flops_convention"], "code", r"^flops_convention must be 'paper_text' or 'authors_code', got 'code'$"),
    (["compressors"], [], r"^compressors must be a non-empty list"),
    (["predictors", 0, "dtype"], "fp32", r"predictors\[0\]\.dtype must be float32"),
    (["N"], "8", r"^N must be an integer, got '8'$"),
    (["N"], True, r"^N must be an integer, got True$"),
    (["n_boot"], 2.5, r"^n_boot must be an integer, got 2.5$"),
    (["compressors", 2, "temperature"], "hot", r"compressors\[2\]\.temperature must be a number, got 'hot'"),
    (["compressors", 3, "score_mi"], "yes", r"compressors\[3\]\.score_mi must be true or false, got 'yes'"),
    (["compressors", 2, "model"], None, r"compressors\[2\]\.model must not be null"),
    (["judge"], 5, r"^judge must be a mapping of keys to values, got int"),
    (["predictors"], {"model": "x"}, r"^predictors must be a list, got a mapping"),
    (
        ["predictors", 0, "tasks"],
        ["free_form", "essay"],
        r"predictors\[0\]\.tasks\[1\] must be multiple_choice, free_form or perplexity, got 'essay'",
    ),
    (["datasets", 0, "kwargs"], ["path"], r"datasets\[0\]\.kwargs must be a mapping, got a list"),
    (["threads"], 0, r"^threads must be >= 1 or null, got 0"),
    (["compressors", 2, "urls"], "http://127.0.0.1:8000", r"compressors\[2\]\.urls is only for vllm/sglang"),
    (["compressors", 2, "max_new_tokens"], 0, r"compressors\[2\]\.max_new_tokens must be >= 1, got 0"),
    (
        ["compressors", 2, "rounds"],
        0,
        r"compressors\[2\]\.rounds must be >= 1 \(1 = compress once, no refinement\)",
    ),
    (["compressors", 2, "rounds"], True, r"compressors\[2\]\.rounds must be an integer, got True"),
    (["predictors", 0, "max_context_tokens"], 0, r"predictors\[0\]\.max_context_tokens must be >= 1 or null"),
]


@pytest.mark.parametrize("path, value, message", BAD_FIELDS)
def test_bad_configs_name_the_field(path, value, message):
    with pytest.raises(ValueError, match=message):
        parse_config(_set(smoke_config(), path, value))


def test_bad_config_file_names_file_and_field(tmp_path):
    bad = _set(smoke_config(), ["compressors", 2, "temperature"], -1)
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(bad))
    with pytest.raises(ValueError, match=r"bad\.yaml: compressors\[2\]\.temperature must be >= 0"):
        load_config(p)


def test_duplicate_ids_and_missing_prices_are_refused():
    cfg = smoke_config()
    cfg["compressors"].append({"method": "bm25_top_k", "k": 1})
    with pytest.raises(ValueError, match=r"compressors\[4\] has the id 'bm25_top1' of compressors\[1\]"):
        parse_config(cfg)
    cfg = smoke_config()
    cfg["predictors"].append({"model": "gpt-5-imaginary", "backend": "openai", "mode": "generate"})
    with pytest.raises(ValueError, match=r"predictors\[1\]\.model 'gpt-5-imaginary' has no API price"):
        parse_config(cfg)
    cfg["prices"] = {"gpt-5-imaginary": [1.0, 2.0]}
    assert parse_config(cfg).predictors[1].handles("multiple_choice")


def test_every_bad_field_is_named_at_once():
    d = smoke_config()
    d["N"] = 1
    d["compressors"][2]["temperature"] = -1
    d["predictors"][0]["mode"] = "guess"
    d["scorers"][0]["dtype"] = "fp8"
    with pytest.raises(ValueError) as e:
        parse_config(d)
    lines = str(e.value).splitlines()
    assert len(lines) == 4, lines
    assert any(line.startswith("N must be >= 2") for line in lines)
    assert any(line.startswith("compressors[2].temperature must be >= 0 (0 = greedy), got -1.0") for line in lines)
    assert any(
        line.startswith("predictors[0].mode must be one of ['choice', 'generate'], got 'guess'") for line in lines
    )
    assert any(
        line.startswith("scorers[0].dtype must be float32, bfloat16, float16 or auto, got 'fp8'") for line in lines
    )


def test_unknown_keys_get_a_hint_and_the_allowed_list():
    d = smoke_config()
    d["predictors"][0]["rulee"] = "sum"
    with pytest.raises(
        ValueError,
        match=r"predictors\[0\]\.rulee is not a known key \(did you mean 'rule'\?\); "
        r"allowed: \[.*'rule'.*\]",
    ):
        parse_config(d)
    with pytest.raises(ValueError, match=r"^the config must be a mapping"):
        parse_config(["N", 4])


def test_single_values_where_lists_are_expected():
    d = smoke_config()
    d["seeds"] = 3
    d["scorers"][0].update(backend="vllm", urls="http://127.0.0.1:8000")
    cfg = parse_config(d)
    assert cfg.seeds == [3] and cfg.scorers[0].urls == ["http://127.0.0.1:8000"]


def test_financebench_mc_dataset_parses_from_yaml():
    raw = yaml.safe_load(
        "datasets:\n  - name: financebench-mc\n    limit: 16\n"
        "    kwargs: {max_context_tokens: 900, seed: 1, n_options: 5}\n"
    )
    cfg = parse_config({**smoke_config(), **raw})
    (d,) = cfg.datasets
    assert d.key == "financebench_mc" and d.limit == 16
    assert d.kwargs == {"max_context_tokens": 900, "seed": 1, "n_options": 5}
    assert d.id.startswith("financebench-mc-")


def test_integers_given_for_floats_become_floats():
    """Row and store keys hash the config: ``temperature: 1`` and ``1.0`` must key the same work."""
    d = smoke_config()
    d["compressors"][2]["temperature"] = 1
    d["compressors"][2]["top_p"] = 1
    c = parse_config(d).compressors[2]
    assert type(c.temperature) is float and type(c.top_p) is float
    assert c.model_dump()["temperature"] == 1.0


def test_to_dict_is_plain_data_and_parses_back(tmp_path):
    for name in ("smoke", "default", "grid_cpu", "paper_grid", "vllm_smoke"):
        cfg = load_config(REPO / "configs" / f"{name}.yaml")
        data = json.loads(json.dumps(cfg.to_dict()))
        assert data["name"] == cfg.name and len(data["compressors"]) == len(cfg.compressors)
        # what a YAML file says parses to the same config as the file itself
        raw = yaml.safe_load((REPO / "configs" / f"{name}.yaml").read_text())
        assert parse_config(raw) == cfg
        assert isinstance(cfg, ExperimentConfig)


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(CONFIGS.glob("*.yaml")) if "datasets" in yaml.safe_load(p.read_text())],
    ids=lambda p: p.stem,
)
def test_every_config_round_trips_through_its_dump(path):
    """``to_dict`` writes every field (a run's ``config.json``); ``from_dict`` reads it back to the same
    config, though ``parse_config`` refuses the dump (a method compressor's written-out default temperature)."""
    cfg = load_config(path)
    data = json.loads(json.dumps(cfg.to_dict()))
    assert ExperimentConfig.from_dict(data) == cfg
    assert ExperimentConfig.from_dict(data).to_dict() == cfg.to_dict()
    if any(c.method is not None for c in cfg.compressors):
        with pytest.raises(ValueError, match="applies only to LM compressors"):
            parse_config(data)


def test_lm_only_fields_are_refused_on_methods_by_what_was_given():
    """Defaults do not count as given: a method compressor carries temperature 1.0 but never set it."""
    c = CompressorConfig.model_validate({"method": "first_k", "k": 8})
    assert c.temperature == 1.0 and c.kind == "extractive"
    with pytest.raises(ValueError, match="top_p applies only to LM compressors"):
        parse_config({**smoke_config(), "compressors": [{"method": "first_k", "k": 8, "top_p": 1.0}]})
