"""The config schema (mi_utils.config): pydantic underneath, the project's messages on top.

tests/test_experiment.py checks one message per bad field; these check what the schema adds:
every bad field named at once, types refused rather than coerced, literals and typed ranges, and
plain-data round trips.
"""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from mi_utils.config import CompressorConfig, ExperimentConfig, load_config, parse_config

from conftest import REPO


def _base() -> dict:
    return yaml.safe_load((REPO / "configs" / "smoke.yaml").read_text())


def test_every_bad_field_is_named_at_once():
    d = _base()
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


@pytest.mark.parametrize(
    "path, value, message",
    [
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
    ],
)
def test_types_are_refused_not_coerced(path, value, message):
    d = copy.deepcopy(_base())
    node = d
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value
    with pytest.raises(ValueError, match=message):
        parse_config(d)


def test_unknown_keys_get_a_hint_and_the_allowed_list():
    d = _base()
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
    d = _base()
    d["seeds"] = 3
    d["scorers"][0].update(backend="vllm", urls="http://127.0.0.1:8000")
    cfg = parse_config(d)
    assert cfg.seeds == [3] and cfg.scorers[0].urls == ["http://127.0.0.1:8000"]


def test_financebench_mc_dataset_parses_from_yaml():
    raw = yaml.safe_load(
        "datasets:\n  - name: financebench-mc\n    limit: 16\n"
        "    kwargs: {max_context_tokens: 900, seed: 1, n_options: 5}\n"
    )
    cfg = parse_config({**_base(), **raw})
    (d,) = cfg.datasets
    assert d.key == "financebench_mc" and d.limit == 16
    assert d.kwargs == {"max_context_tokens": 900, "seed": 1, "n_options": 5}
    assert d.id.startswith("financebench-mc-")


def test_integers_given_for_floats_become_floats():
    """Row and store keys hash the config: ``temperature: 1`` and ``1.0`` must key the same work."""
    d = _base()
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


def test_lm_only_fields_are_refused_on_methods_by_what_was_given():
    """Defaults do not count as given: a method compressor carries temperature 1.0 but never set it."""
    c = CompressorConfig.model_validate({"method": "first_k", "k": 8})
    assert c.temperature == 1.0 and c.kind == "extractive"
    with pytest.raises(ValueError, match="top_p applies only to LM compressors"):
        parse_config({**_base(), "compressors": [{"method": "first_k", "k": 8, "top_p": 1.0}]})
