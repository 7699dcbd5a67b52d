"""Tests for mi_utils.costs: parameter estimate, FLOPs formula, prices."""

from __future__ import annotations

import json
import sys

import pytest

from mi_utils import costs
from mi_utils.costs import (
    DEFAULT_PRICES,
    Price,
    PriceNotFoundError,
    PriceTable,
    api_cost,
    attention_dim,
    count_params,
    count_params_empty,
    estimate_params,
    flops_per_generation,
    flops_per_token,
)

# HuggingFaceTB/SmolLM2-135M config.json (public); its real count is 134,515,008.
SMOLLM2_135M = {
    "model_type": "llama",
    "vocab_size": 49152,
    "hidden_size": 576,
    "intermediate_size": 1536,
    "num_hidden_layers": 30,
    "num_attention_heads": 9,
    "num_key_value_heads": 3,
    "head_dim": 64,
    "attention_bias": False,
    "mlp_bias": False,
    "tie_word_embeddings": True,
}
TINY = dict(
    vocab_size=101,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
)


@pytest.mark.parametrize(
    "family, extra",
    [
        ("llama", {}),  # untied (LlamaConfig default), GQA
        ("llama", dict(tie_word_embeddings=True, attention_bias=True, mlp_bias=True, head_dim=12)),
        ("llama", dict(num_key_value_heads=4)),  # plain multi-head attention
        ("qwen2", {}),
        ("qwen3", dict(head_dim=16)),
        ("gemma3", dict(head_dim=16)),
    ],
)
def test_estimate_params_exact(family, extra):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("torch")
    cfg_cls, model_cls = {
        "llama": ("LlamaConfig", "LlamaForCausalLM"),
        "qwen2": ("Qwen2Config", "Qwen2ForCausalLM"),
        "qwen3": ("Qwen3Config", "Qwen3ForCausalLM"),
        "gemma3": ("Gemma3TextConfig", "Gemma3ForCausalLM"),
    }[family]
    config = getattr(transformers, cfg_cls)(**{**TINY, **extra})
    model = getattr(transformers, model_cls)(config)
    real = sum(p.numel() for p in model.parameters())
    assert estimate_params(config) == real
    assert estimate_params(config.to_dict()) == real
    assert estimate_params(json.loads(config.to_json_string())) == real


def test_estimate_params_smollm2_135m(tmp_path):
    assert estimate_params(SMOLLM2_135M) == 134_515_008
    p = tmp_path / "config.json"
    p.write_text(json.dumps(SMOLLM2_135M))
    assert estimate_params(p) == 134_515_008
    untied = {**SMOLLM2_135M, "tie_word_embeddings": False}
    assert estimate_params(untied) == 134_515_008 + 49152 * 576
    nested = {
        "model_type": "x",
        "tie_word_embeddings": True,
        "text_config": {k: v for k, v in SMOLLM2_135M.items() if k != "tie_word_embeddings"},
    }
    assert estimate_params(nested) == 134_515_008


def test_flops_formula_by_hand():
    n_params, L, d_attn = 134_515_008, 30, 9 * 64
    assert attention_dim(SMOLLM2_135M) == d_attn
    assert flops_per_token(SMOLLM2_135M) == 2 * n_params
    assert flops_per_token(SMOLLM2_135M, 1000) == 2 * n_params + 2 * L * 1000 * d_attn
    assert flops_per_generation(SMOLLM2_135M, 1000, 50) == 50 * (2 * n_params + 2 * L * 1000 * d_attn)
    assert flops_per_generation(SMOLLM2_135M, 1000, 50, params=1e9) == 50 * (2e9 + 2 * L * 1000 * d_attn)
    assert flops_per_generation(SMOLLM2_135M, 1000, 0) == 0
    with pytest.raises(ValueError):
        flops_per_token(SMOLLM2_135M, -1)
    with pytest.raises(ValueError):
        flops_per_generation(SMOLLM2_135M, 10, -1)


def test_flops_conventions_paper_text_and_authors_code_by_hand():
    """The paper's text multiplies the context term by d_attn; the authors' code by the head count."""
    # typed here: 4 layers, 8 heads of head_dim 48, so d_attn = 8 * 48 = 384 (not hidden_size 256)
    cfg = {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 8, "head_dim": 48}
    P, n_ctx, n_out = 1_000_000, 100, 10
    # paper_text, per token: 2*P + 2*n_layer*n_ctx*d_attn = 2,000,000 + 2*4*100*384 = 2,000,000 + 307,200
    assert flops_per_token(cfg, n_ctx, params=P) == 2_307_200
    assert flops_per_token(cfg, n_ctx, params=P, convention="paper_text") == 2_307_200
    # authors_code, per token: 2*P + 2*n_layer*n_ctx*n_heads = 2,000,000 + 2*4*100*8 = 2,000,000 + 6,400
    assert flops_per_token(cfg, n_ctx, params=P, convention="authors_code") == 2_006_400
    # per generation: times n_out = 10 tokens
    assert flops_per_generation(cfg, n_ctx, n_out, params=P) == 23_072_000
    assert flops_per_generation(cfg, n_ctx, n_out, params=P, convention="authors_code") == 20_064_000
    # without context both are 2*P per token: the conventions differ only in the attention term
    assert flops_per_token(cfg, 0, params=P, convention="authors_code") == flops_per_token(cfg, 0, params=P) == 2e6
    # no head_dim: d_attn = hidden_size = 256 -> 2*4*100*256 = 204,800; the head count is still 8
    plain = {"hidden_size": 256, "num_hidden_layers": 4, "num_attention_heads": 8}
    assert flops_per_token(plain, n_ctx, params=P) == 2_204_800
    assert flops_per_token(plain, n_ctx, params=P, convention="authors_code") == 2_006_400
    # counted parameters are the same under both: SmolLM2-135M, n_ctx 1000, 50 tokens differ by
    # 2 * 30 layers * 1000 * (576 - 9) * 50 = 1,701,000,000
    text = flops_per_generation(SMOLLM2_135M, 1000, 50)
    code = flops_per_generation(SMOLLM2_135M, 1000, 50, convention="authors_code")
    assert text - code == 1_701_000_000
    assert code == 50 * (2 * 134_515_008 + 2 * 30 * 1000 * 9)
    assert costs.FLOPS_CONVENTIONS == ("paper_text", "authors_code")
    with pytest.raises(ValueError, match=r"convention must be one of \['paper_text', 'authors_code'\], got 'code'"):
        flops_per_generation(cfg, n_ctx, n_out, params=P, convention="code")


def test_attention_dim_variants():
    # no head_dim: d_attn = hidden_size; GPT-2 style key names
    assert attention_dim({"hidden_size": 64, "num_attention_heads": 4}) == 64
    gpt2 = {"n_layer": 2, "n_embd": 64, "n_head": 4}
    assert flops_per_token(gpt2, 10, params=100) == 2 * 100 + 2 * 2 * 10 * 64
    # head_dim * heads != hidden (Gemma-style)
    assert attention_dim({"hidden_size": 640, "num_attention_heads": 4, "head_dim": 256}) == 1024
    with pytest.raises(KeyError, match="num_hidden_layers"):
        flops_per_token({"hidden_size": 8}, params=1)
    with pytest.raises(TypeError):
        estimate_params(42)


def test_flops_accepts_pretrained_config():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.LlamaConfig(**{k: v for k, v in SMOLLM2_135M.items() if k != "model_type"})
    assert flops_per_generation(cfg, 512, 8) == flops_per_generation(SMOLLM2_135M, 512, 8)


# --------------------------------------------------------------------------- empty-weights counts


def _empty_weights_deps():
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    pytest.importorskip("torch")
    return transformers


def test_packaged_smollm2_count_on_empty_weights_matches_formula_and_registry():
    _empty_weights_deps()
    from mi_utils.models import PACKAGED

    assert count_params_empty(SMOLLM2_135M) == estimate_params(SMOLLM2_135M) == 134_515_008
    assert PACKAGED["smollm2-135m-instruct"].params == 134_515_008  # tied embeddings count once, everywhere
    untied = {**SMOLLM2_135M, "tie_word_embeddings": False}
    assert count_params_empty(untied) == estimate_params(untied) == 134_515_008 + 49152 * 576
    assert count_params(SMOLLM2_135M) == 134_515_008.0


@pytest.mark.parametrize("extra", [{}, dict(tie_word_embeddings=True, attention_bias=True, mlp_bias=True, head_dim=12)])
def test_empty_weights_count_equals_formula_on_llama(extra):
    transformers = _empty_weights_deps()
    config = transformers.LlamaConfig(**{**TINY, **extra})
    assert count_params_empty(config) == estimate_params(config)
    assert count_params_empty(config.to_dict()) == estimate_params(config)


@pytest.mark.parametrize(
    "cfg_cls, model_cls, kwargs",
    [
        (
            "GPT2Config",
            "GPT2LMHeadModel",
            dict(n_layer=2, n_embd=32, n_head=4, n_positions=64, bos_token_id=0, eos_token_id=0),
        ),
        ("MambaConfig", "MambaForCausalLM", dict(hidden_size=32, state_size=4, num_hidden_layers=2)),
        (
            "PhiConfig",
            "PhiForCausalLM",
            dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4),
        ),
    ],
)
def test_architecture_the_formula_does_not_know_is_counted_on_empty_weights(cfg_cls, model_cls, kwargs, tmp_path):
    transformers = _empty_weights_deps()
    config = getattr(transformers, cfg_cls)(vocab_size=101, **kwargs)  # built in-process: no hub
    real = sum(p.numel() for p in getattr(transformers, model_cls)(config).parameters())
    assert count_params_empty(config) == real
    assert count_params(config) == float(real)
    path = tmp_path / "config.json"
    path.write_text(config.to_json_string())
    assert count_params(path) == float(real)
    if cfg_cls == "GPT2Config":  # the formula alone would be wrong here
        assert estimate_params(config) != real


def test_count_params_error_names_the_fix():
    _empty_weights_deps()
    with pytest.raises(ValueError, match=r"'no_such_arch'.*set params") as info:
        count_params({"model_type": "no_such_arch", "hidden_size": 8})
    assert len(str(info.value)) < 600  # not transformers' list of every model type
    with pytest.raises(ValueError, match="vocab_size.*set params"):
        count_params({"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2})
    with pytest.raises(ValueError, match="model_type"):
        count_params_empty({"hidden_size": 8})
    with pytest.raises(TypeError):
        count_params(42)


def test_count_params_without_transformers_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "accelerate", None)  # import accelerate -> ImportError
    costs._count_params_empty.cache_clear()
    with pytest.raises(ValueError, match="install transformers and accelerate"):
        count_params({"model_type": "gpt2", "n_layer": 1, "n_embd": 8, "n_head": 2, "vocab_size": 11})
    assert count_params(SMOLLM2_135M) == 134_515_008.0  # the formula needs neither


def test_flops_default_params_count_other_architectures():
    transformers = _empty_weights_deps()
    config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=4, n_positions=64, vocab_size=101)
    n = count_params(config)
    assert flops_per_token(config, 10) == 2 * n + 2 * 2 * 10 * 32


# --------------------------------------------------------------------------- prices


def test_default_prices_and_api_cost():
    assert DEFAULT_PRICES["gpt-4o"] == (2.50, 10.00)
    assert DEFAULT_PRICES["gpt-4o-mini"] == Price(0.15, 0.60)
    assert api_cost("gpt-4o", 1_000_000, 1_000_000) == pytest.approx(12.50)
    assert api_cost("gpt-4o", 2000, 300) == pytest.approx(2000 * 2.5e-6 + 300 * 10e-6)
    assert api_cost("gpt-4o-mini", 1_000_000, 0) == pytest.approx(0.15)
    assert api_cost("gpt-4o-2024-08-06", 1_000_000, 0) == pytest.approx(2.50), "dated snapshot -> base price"
    assert api_cost("gpt-4o-mini-2024-07-18", 0, 1_000_000) == pytest.approx(0.60)
    with pytest.raises(ValueError):
        api_cost("gpt-4o", -1, 0)


def test_local_models_cost_zero():
    assert api_cost("Qwen/Qwen2.5-7B-Instruct", 10**6, 10**6, local=True) == 0.0
    table = PriceTable(DEFAULT_PRICES).mark_local("my-local-llama")
    assert table.cost("my-local-llama", 10**6, 10**6) == 0.0 and table.is_local("my-local-llama")
    assert api_cost("my-local-llama", 5, 5, prices=table) == 0.0
    assert api_cost("smollm2-135m-instruct", 10**6, 10**6) == 0.0, "packaged models are local"
    assert PriceTable(include_packaged=False).local_models == set()


def test_unknown_model_error_names_the_fix():
    with pytest.raises(PriceNotFoundError) as e:
        api_cost("claude-x", 1, 1)
    msg = str(e.value)
    assert "claude-x" in msg and "mark_local" in msg and "local=True" in msg and "table[" in msg
    assert isinstance(e.value, KeyError)


def test_price_table_is_editable_and_isolated():
    t = costs.default_price_table()
    t["gpt-4o"] = (5.0, 15.0)
    t["custom"] = {"input": 1, "output": 2}
    assert api_cost("gpt-4o", 10**6, 0, prices=t) == 5.0 and t["custom"] == (1.0, 2.0)
    assert costs.default_price_table()["gpt-4o"] == (2.5, 10.0), "defaults untouched"
    assert DEFAULT_PRICES["gpt-4o"] == (2.5, 10.0)
    assert api_cost("x", 10**6, 10**6, prices={"x": (1, 1)}) == 2.0
    del t["custom"]
    assert "custom" not in t and len(t) == 2
    with pytest.raises(ValueError, match=">= 0"):
        t["neg"] = (-1, 0)
    with pytest.raises(ValueError, match="input"):
        t["bad"] = {"in": 1}
    with pytest.raises(ValueError):
        t["bad"] = 3.0


def test_price_overrides_from_yaml_and_json(tmp_path):
    y = tmp_path / "prices.yaml"
    y.write_text("prices:\n  gpt-4o: {input: 3.0, output: 12.0}\n  new-model: [0.5, 1.5]\nlocal_models: [my-llama]\n")
    t = PriceTable.from_file(y)
    assert t["gpt-4o"] == (3.0, 12.0) and t["new-model"] == (0.5, 1.5) and t["gpt-4o-mini"] == (0.15, 0.6)
    assert t.cost("my-llama", 10, 10) == 0.0
    j = tmp_path / "prices.json"
    j.write_text(json.dumps({"only-this": {"input": 1, "output": 4}}))  # bare mapping = prices
    t2 = PriceTable.from_file(j, defaults=False)
    assert list(t2) == ["only-this"]
    roundtrip = tmp_path / "rt.json"
    roundtrip.write_text(json.dumps(t.to_dict()))
    t3 = PriceTable.from_file(roundtrip, defaults=False)
    assert dict(t3) == dict(t) and t3.local_models >= {"my-llama"}
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ValueError):
        PriceTable.from_file(tmp_path / "bad.json")
    with pytest.raises(FileNotFoundError):
        PriceTable.from_file(tmp_path / "missing.yaml")


# Qwen3-30B-A3B's config.json (the fields the counts read), as published
QWEN3_30B_A3B = {
    "model_type": "qwen3_moe",
    "vocab_size": 151936,
    "hidden_size": 2048,
    "num_hidden_layers": 48,
    "num_attention_heads": 32,
    "num_key_value_heads": 4,
    "head_dim": 128,
    "intermediate_size": 6144,
    "moe_intermediate_size": 768,
    "num_experts": 128,
    "num_experts_per_tok": 8,
    "decoder_sparse_step": 1,
    "mlp_only_layers": [],
    "tie_word_embeddings": False,
}


def test_moe_flops_count_the_active_parameters():
    from mi_utils.costs import active_params, moe_shape

    # by hand: embeddings 2 * V * H (untied); per layer attention q, o 2 * 2048 * 4096, k, v 2 * 2048 * 512,
    # q/k norms 2 * 128, router 2048 * 128, experts 128 * 3 * 2048 * 768, norms 2 * 2048; final norm 2048
    attn = 2 * 2048 * 4096 + 2 * 2048 * 512 + 2 * 128
    expert = 3 * 2048 * 768
    per_layer_total = attn + 2048 * 128 + 128 * expert + 2 * 2048
    total = 2 * 151936 * 2048 + 48 * per_layer_total + 2048
    assert total == 30_532_122_624  # the published 30.5B
    active = total - 48 * (128 - 8) * expert
    assert active == 3_353_032_704  # the published 3.3B activated
    assert moe_shape(QWEN3_30B_A3B) == {"experts": 128, "per_token": 8, "expert_params": expert, "moe_layers": 48}
    assert active_params(QWEN3_30B_A3B, params=total) == active
    # FLOPs per token: 2 * active + 2 * n_layer * n_ctx * d_attn (d_attn = 32 * 128)
    assert flops_per_token(QWEN3_30B_A3B, 1000, params=total) == 2 * active + 2 * 48 * 1000 * 4096
    dense = {k: v for k, v in QWEN3_30B_A3B.items() if k not in ("num_experts", "num_experts_per_tok")}
    assert moe_shape(dense) is None and active_params(dense, params=7e9) == 7e9


def test_moe_sparse_layers_follow_the_config():
    from mi_utils.costs import moe_shape

    every_other = {**QWEN3_30B_A3B, "decoder_sparse_step": 2, "mlp_only_layers": [1]}
    assert moe_shape(every_other)["moe_layers"] == 23  # layers 1, 3, ..., 47 are sparse; 1 is dense
    mixtral = {
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_local_experts": 8,
        "num_experts_per_tok": 2,
        "intermediate_size": 14336,
    }
    assert moe_shape(mixtral) == {"experts": 8, "per_token": 2, "expert_params": 3 * 4096 * 14336, "moe_layers": 32}
    deepseek = {
        "hidden_size": 7168,
        "num_hidden_layers": 61,
        "n_routed_experts": 256,
        "num_experts_per_tok": 8,
        "moe_intermediate_size": 2048,
        "first_k_dense_replace": 3,
    }
    assert moe_shape(deepseek)["moe_layers"] == 58
