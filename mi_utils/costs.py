"""Compute costs (FLOPs) and parameter counts of compressor/predictor calls; importing it imports no torch.

FLOPs follow the paper's accounting (Kaplan et al. 2020, forward pass). Two conventions
(:data:`FLOPS_CONVENTIONS`, the ``convention`` keyword of :func:`flops_per_token` and
:func:`flops_per_generation`, ``flops_convention`` in an experiment config):

* ``"paper_text"`` (the default): the formula as the paper's text writes it. Generating
  ``n_output_tokens`` tokens with ``n_ctx`` tokens of context costs::

      (2 * params + 2 * n_layer * n_ctx * d_attn) * n_output_tokens

  where ``d_attn = num_attention_heads * head_dim`` (``hidden_size`` when there is no
  ``head_dim``): the attention term counts the ``q . k`` products (``d_attn`` multiply-adds per
  attended token and layer).
* ``"authors_code"``: the formula as the authors' code computes it, with the number of attention
  heads where the text has ``d_attn``::

      (2 * params + 2 * n_layer * n_ctx * num_attention_heads) * n_output_tokens

  Its context term is ``head_dim`` times smaller (64x for SmolLM2-135M: 9 heads instead of
  ``d_attn = 576``). Use it to reproduce FLOPs as the authors' code produced them. The text's
  ``d_attn`` stays the default: it is Kaplan et al.'s count (one multiply-add per attention
  dimension, not per head), and nothing in the paper says the head count is meant.

``params`` is passed in or counted from the config by :func:`count_params` (the same under both
conventions). A mixture of experts (Qwen3-30B-A3B, Mixtral, ...) costs what a token passes through:
:func:`active_params` replaces ``params`` by the total less the routed experts it does not use
(:func:`moe_shape` reads them from the config), so a 30.5B-parameter model with 3.3B active parameters
costs like a 3.3B dense one per token.

Parameter counts: :func:`estimate_params` is a closed-form count, exact for the llama family
(:data:`FORMULA_MODEL_TYPES`); :func:`count_params_empty` counts any architecture transformers knows
by building it on empty (meta-device) weights with accelerate; :func:`count_params` picks the
formula when it applies and empty weights otherwise. Only :func:`count_params_empty` (and so
:func:`count_params` and :func:`param_count` of an architecture the formula does not know) imports
torch, transformers and accelerate, lazily; :func:`model_config_of` reads a config through
:func:`mi_utils.models.load_model_config` (transformers for a hub id).

Dollar costs (:class:`PriceTable`, :func:`api_cost`, USD per 1M input / output tokens; local
models cost 0) live in :mod:`mi_utils.prices` and are re-exported here.

A model spec's inputs to these counts, read without loading weights: :func:`model_config_of` (its
config) and :func:`param_count` (``params``, the packaged registry, or counted from the config).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .prices import DEFAULT_PRICES, Price, PriceNotFoundError, PriceTable, api_cost, default_price_table

__all__ = [
    "model_config_of",
    "param_count",
    "config_dict",
    "FORMULA_MODEL_TYPES",
    "estimate_params",
    "count_params_empty",
    "count_params",
    "attention_dim",
    "moe_shape",
    "active_params",
    "FLOPS_CONVENTIONS",
    "attention_width",
    "flops_per_token",
    "flops_per_generation",
    "compression_flops",
    "Price",
    "PriceTable",
    "PriceNotFoundError",
    "DEFAULT_PRICES",
    "default_price_table",
    "api_cost",
]

_ALIASES = {
    "num_hidden_layers": ("num_hidden_layers", "n_layer", "num_layers"),
    "hidden_size": ("hidden_size", "n_embd", "d_model"),
    "num_attention_heads": ("num_attention_heads", "n_head", "num_heads"),
}


# --------------------------------------------------------------------------- FLOPs


def config_dict(config: Any) -> dict[str, Any]:
    """A model config as a plain dict, unwrapping a nested ``text_config`` (multimodal models).

    Args:
        config: A transformers ``PretrainedConfig``, a dict (``config.json`` contents) or the
            path of a ``config.json`` file.

    Returns:
        The (text) config as a dict.

    Raises:
        TypeError: If ``config`` is none of the above.
    """
    if isinstance(config, (str, Path)):
        config = json.loads(Path(config).read_text(encoding="utf-8"))
    if hasattr(config, "to_dict"):
        d = dict(config.to_dict())
    elif isinstance(config, Mapping):
        d = dict(config)
    else:
        raise TypeError(f"config must be a PretrainedConfig, a dict or a config.json path, not {type(config).__name__}")
    text = d.get("text_config")
    if isinstance(text, Mapping) and "num_hidden_layers" not in d:
        merged = dict(text)
        merged.setdefault("tie_word_embeddings", d.get("tie_word_embeddings"))
        return merged
    return d


def _get(d: Mapping[str, Any], key: str) -> int:
    for k in _ALIASES.get(key, (key,)):
        if d.get(k) is not None:
            return int(d[k])
    raise KeyError(f"model config lacks {key!r} (tried {_ALIASES.get(key, (key,))}); pass a complete config.json")


def _reason(e: Exception) -> str:
    """An exception's message (a KeyError's own, not its repr)."""
    return str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)


def _head_dim(d: Mapping[str, Any]) -> int:
    if d.get("head_dim"):
        return int(d["head_dim"])
    return _get(d, "hidden_size") // _get(d, "num_attention_heads")


def attention_dim(config: Any) -> int:
    """``d_attn = num_attention_heads * head_dim`` (``hidden_size`` if no ``head_dim``).

    Args:
        config: Config object, dict or ``config.json`` path.

    Returns:
        The attention dimension.
    """
    d = config_dict(config)
    if not d.get("head_dim"):
        return _get(d, "hidden_size")
    return _get(d, "num_attention_heads") * int(d["head_dim"])


def estimate_params(config: Any) -> int:
    """Parameter count of a llama-style decoder from its config.

    The count is exact for the llama family (Llama, Mistral, SmolLM2, Qwen2, Qwen3, Gemma3 text):

    * embeddings ``V * H`` (+ an untied ``lm_head`` ``V * H`` unless ``tie_word_embeddings``;
      a dict without that key counts as tied, the transformers default);
    * per layer: attention ``q, o: H * n_heads * head_dim`` and ``k, v: H * n_kv_heads * head_dim``
      (grouped-query attention), biases when ``attention_bias`` (Qwen2: q, k, v biases always),
      ``q_norm``/``k_norm`` (``head_dim`` each) for Qwen3 and Gemma3;
      gated MLP ``3 * H * intermediate_size`` (+ biases when ``mlp_bias``);
      RMSNorm weights ``2 * H`` (Gemma3: ``4 * H``);
    * a final norm ``H``.

    For other architectures (GPT-2, MoE, Mamba, ...) it is only an approximation: use
    :func:`count_params`, which counts those on empty weights.

    Args:
        config: Config object, dict or ``config.json`` path.

    Returns:
        The estimated number of parameters.
    """
    d = config_dict(config)
    mtype = str(d.get("model_type") or "")
    V, H, L = _get(d, "vocab_size"), _get(d, "hidden_size"), _get(d, "num_hidden_layers")
    n_h = _get(d, "num_attention_heads")
    n_kv = int(d.get("num_key_value_heads") or n_h)
    hd = _head_dim(d)
    inter = int(d.get("intermediate_size") or d.get("n_inner") or 4 * H)

    attn = 2 * H * n_h * hd + 2 * H * n_kv * hd
    if d.get("attention_bias"):
        attn += n_h * hd + 2 * n_kv * hd + H
    elif mtype == "qwen2":
        attn += n_h * hd + 2 * n_kv * hd
    if mtype.startswith(("qwen3", "gemma3")):
        attn += 2 * hd
    mlp = 3 * H * inter + (2 * inter + H if d.get("mlp_bias") else 0)
    norms = (4 if mtype.startswith("gemma3") else 2) * H
    tied = d.get("tie_word_embeddings")
    tied = True if tied is None else bool(tied)
    return V * H * (1 if tied else 2) + L * (attn + mlp + norms) + H


#: ``model_type`` values whose parameter count :func:`estimate_params` gets exactly (the llama family;
#: ``gemma3`` covers the text part of a multimodal Gemma 3 config).
FORMULA_MODEL_TYPES = frozenset({"llama", "mistral", "qwen2", "qwen3", "gemma3", "gemma3_text"})


def count_params_empty(config: Any) -> int:
    """Parameter count of any transformers causal LM, built from its config on empty weights.

    The model is instantiated with ``AutoModelForCausalLM.from_config`` inside
    ``accelerate.init_empty_weights()``: every tensor lives on the meta device, so no memory is
    allocated and nothing is downloaded. Tied embeddings count once (the input embedding and an
    ``lm_head`` tied to it are one parameter when ``tie_word_embeddings``), as in
    :func:`estimate_params` and the packaged registry (SmolLM2-135M: 134,515,008). Counts are cached
    per config.

    Args:
        config: Config object, dict or ``config.json`` path; it needs a ``model_type`` that
            transformers knows (a nested ``text_config`` is counted on its own, as in :func:`config_dict`).

    Returns:
        The number of parameters.

    Raises:
        ImportError: If transformers or accelerate (and torch) are not installed.
        ValueError: If the config has no ``model_type`` or transformers cannot build a causal LM from it.
    """
    d = config_dict(config)
    if not d.get("model_type"):
        raise ValueError(
            "counting parameters on empty weights needs the config's model_type; pass a complete config.json"
        )
    return _count_params_empty(json.dumps(d, sort_keys=True, default=str))


@functools.lru_cache(maxsize=64)
def _count_params_empty(config_json: str) -> int:
    try:
        from accelerate import init_empty_weights
        from transformers import AutoConfig, AutoModelForCausalLM
    except ImportError as e:
        raise ImportError(
            f"counting parameters on empty weights needs transformers and accelerate ({e}); "
            "install them or pass params="
        ) from e
    d = json.loads(config_json)
    model_type = d.pop("model_type")
    try:
        cfg = AutoConfig.for_model(model_type, **d)
        with init_empty_weights():
            model = AutoModelForCausalLM.from_config(cfg)
    except (KeyError, ValueError, TypeError) as e:
        why = _reason(e).split(". Should contain")[0]  # not the list of every model_type transformers knows
        raise ValueError(f"transformers cannot build a causal LM of model_type {model_type!r}: {why}") from e
    model.tie_weights()  # init_empty_weights skips the tying of post_init: tie so shared weights count once
    return int(sum(p.numel() for p in model.parameters()))  # parameters() yields a tied weight once


def count_params(config: Any) -> float:
    """Parameter count from a config: the llama-family formula where it is exact, else empty weights.

    :func:`estimate_params` when ``model_type`` is in :data:`FORMULA_MODEL_TYPES` (or absent: a
    hand-written llama-style dict); :func:`count_params_empty` for every other architecture, and
    for a llama-family config the formula cannot read.

    Args:
        config: Config object, dict or ``config.json`` path.

    Returns:
        The number of parameters (a float, like the ``params`` of the FLOPs functions).

    Raises:
        TypeError: If ``config`` is not a config, dict or path.
        ValueError: If neither way gives a count; the message names the fix (set ``params``,
            complete the config or install transformers and accelerate).
    """
    d = config_dict(config)
    model_type = str(d.get("model_type") or "")
    reason = "the llama-family formula does not know it"
    if not model_type or model_type in FORMULA_MODEL_TYPES:
        try:
            return float(estimate_params(d))
        except (KeyError, ValueError) as e:
            if not model_type:
                raise ValueError(f"cannot count parameters: {_reason(e)}, or set params") from None
            reason = f"the llama-family formula cannot read the config ({_reason(e)})"
    try:
        return float(count_params_empty(d))
    except (ImportError, ValueError) as e:
        raise ValueError(
            f"cannot count the parameters of a {model_type!r} model: {reason} and counting on empty "
            f"weights failed ({e}); set params (or install transformers and accelerate)"
        ) from None


def moe_shape(config: Any) -> dict[str, int] | None:
    """The mixture-of-experts shape of a config, or ``None`` for a dense model.

    Reads the routed experts (``num_experts`` / ``num_local_experts`` / ``n_routed_experts``), the
    experts per token (``num_experts_per_tok``), each expert's MLP width (``moe_intermediate_size``,
    else ``intermediate_size`` as in Mixtral) and which layers are sparse (``decoder_sparse_step``
    and ``mlp_only_layers`` as in Qwen2/3-MoE, ``first_k_dense_replace`` as in DeepSeek; default all).

    Returns:
      ``{"experts", "per_token", "expert_params", "moe_layers"}`` where ``expert_params`` is one
      expert's gated MLP (``3 * hidden_size * width``).
    """
    d = config_dict(config)
    experts = d.get("num_experts") or d.get("num_local_experts") or d.get("n_routed_experts")
    per_token = d.get("num_experts_per_tok")
    if not experts or not per_token:
        return None
    H, L = _get(d, "hidden_size"), _get(d, "num_hidden_layers")
    width = int(d.get("moe_intermediate_size") or _get(d, "intermediate_size"))
    step = int(d.get("decoder_sparse_step") or 1)
    dense = set(d.get("mlp_only_layers") or ()) | set(range(int(d.get("first_k_dense_replace") or 0)))
    moe_layers = sum(1 for i in range(L) if i not in dense and (i + 1) % step == 0)
    return {
        "experts": int(experts),
        "per_token": int(per_token),
        "expert_params": 3 * H * width,
        "moe_layers": moe_layers,
    }


def active_params(config: Any, params: int | float | None = None) -> float:
    """Parameters a token passes through: all of them for a dense model; for a mixture of experts, the
    total less the routed experts a token does not use (``(experts - per_token) * expert_params`` in
    every sparse layer). Shared experts, attention, embeddings and routers count in full, as in the
    dense count.

    Args:
        config: Config object, dict or ``config.json`` path.
        params: Total parameter count (default: :func:`count_params` of ``config``).
    """
    d = config_dict(config)
    total = count_params(d) if params is None else float(params)
    moe = moe_shape(d)
    if moe is None:
        return total
    return total - moe["moe_layers"] * (moe["experts"] - moe["per_token"]) * moe["expert_params"]


#: The FLOPs conventions: the paper's text (``d_attn``) and the authors' code (the head count).
FLOPS_CONVENTIONS = ("paper_text", "authors_code")


# ------------------------------------------------------------------- a model spec's config
# What the runner reads for FLOPs and parameter counts before loading any weights. ``spec`` is a
# :class:`mi_utils.config.ModelSpec` (``model``, ``tokenizer``, ``hf_config``, ``params``, ``backend``).
def model_config_of(spec: Any) -> dict:
    """The config of the model a spec names (for FLOPs and parameter counts), without loading weights.

    Tried in order: ``hf_config`` when set (only it); else ``model`` (a packaged name, folder or hub
    id) and then ``tokenizer`` (a served model's ``model`` is often just its served name).

    Raises:
      ValueError: no source could be read; the message names ``hf_config``.
    """
    from .models import ModelNotAvailableError, load_model_config

    sources = [spec.hf_config] if spec.hf_config else [s for s in (spec.model, spec.tokenizer) if s]
    errors = []
    for source in sources:
        try:
            return config_dict(load_model_config(source))
        except (ModelNotAvailableError, OSError, ValueError) as e:
            errors.append(f"{source!r}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    raise ValueError(
        f"the config of model {spec.model!r} ({spec.backend}) cannot be read ({'; '.join(errors)}); "
        "FLOPs and parameter counts need it: set hf_config to its config.json, a folder or a hub id "
        "(or params)"
    )


def param_count(spec: Any, cfg: dict | None) -> float:
    """Parameters of a model: ``params`` when set, the packaged registry, else counted from its config
    (:func:`mi_utils.costs.count_params`: the llama-family formula, or any architecture on empty weights).

    Raises:
      ValueError: none of these gives a count (the message names ``params``).
    """
    from .models import PACKAGED

    if spec.params is not None:
        return float(spec.params)
    if spec.model in PACKAGED:
        return float(PACKAGED[spec.model].params)
    if cfg is not None:
        try:
            return count_params(cfg)
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"cannot count the parameters of {spec.model!r} from its config ({e}); set params"
            ) from None
    raise ValueError(f"no parameter count for {spec.model!r}: set params (or hf_config)")


def attention_width(config: Any, convention: str = "paper_text") -> int:
    """The factor of ``n_ctx`` in the attention term: ``d_attn`` (``"paper_text"``) or
    ``num_attention_heads`` (``"authors_code"``); see the module docstring.

    Raises:
        ValueError: On an unknown convention.
    """
    if convention == "paper_text":
        return attention_dim(config)
    if convention == "authors_code":
        return _get(config_dict(config), "num_attention_heads")
    raise ValueError(f"convention must be one of {list(FLOPS_CONVENTIONS)}, got {convention!r}")


def flops_per_token(
    config: Any, n_ctx: int = 0, *, params: int | float | None = None, convention: str = "paper_text"
) -> float:
    """Forward-pass FLOPs of one token: ``2 * params + 2 * n_layer * n_ctx * d_attn``.

    Args:
        config: Config object, dict or ``config.json`` path.
        n_ctx: Tokens of context attended to.
        params: Total parameter count (default: :func:`count_params` of ``config``); a mixture of
            experts counts its active parameters (:func:`active_params`).
        convention: ``"paper_text"`` (``d_attn``, the default) or ``"authors_code"``
            (``num_attention_heads`` in place of ``d_attn``); see the module docstring.

    Returns:
        FLOPs per generated (or scored) token.

    Raises:
        ValueError: If ``n_ctx`` is negative, the convention is unknown, or ``params`` is None and
            the config's parameters cannot be counted.
    """
    if n_ctx < 0:
        raise ValueError(f"n_ctx must be >= 0, got {n_ctx}")
    d = config_dict(config)
    width = attention_width(d, convention)
    n = active_params(d, params)
    return float(2 * n + 2 * _get(d, "num_hidden_layers") * n_ctx * width)


def flops_per_generation(
    config: Any,
    n_ctx: int,
    n_output_tokens: int,
    *,
    params: int | float | None = None,
    convention: str = "paper_text",
) -> float:
    """The paper's cost of one generation: ``(2*params + 2*n_layer*n_ctx*d_attn) * n_output_tokens``.

    Args:
        config: Config object, dict or ``config.json`` path.
        n_ctx: Context length (prompt tokens) the outputs attend to.
        n_output_tokens: Generated tokens.
        params: Parameter count (default: :func:`count_params` of ``config``).
        convention: ``"paper_text"`` (``d_attn``, the default) or ``"authors_code"``
            (``num_attention_heads`` in place of ``d_attn``); see the module docstring.

    Returns:
        Forward-pass FLOPs.

    Raises:
        ValueError: If a count is negative or the convention is unknown.
    """
    if n_output_tokens < 0:
        raise ValueError(f"n_output_tokens must be >= 0, got {n_output_tokens}")
    return flops_per_token(config, n_ctx, params=params, convention=convention) * n_output_tokens


# --------------------------------------------------------------------------- dollars


def compression_flops(
    config: Any,
    summaries: Sequence[Sequence[Any]],
    record_ids: Sequence[str],
    *,
    params: float | None,
    convention: str = "paper_text",
    compressor: str = "",
) -> list[list[float]]:
    """FLOPs of every sampled summary (:func:`flops_per_generation` of its prompt and output tokens).

    Args:
      config: the compressor's model config; summaries: ``summaries[i][j]`` with ``prompt_tokens``
        and ``n_tokens`` (:class:`mi_utils.compress.Summary`); record_ids: record ``i``'s id (messages).
      params, convention: as for :func:`flops_per_generation`; compressor: its name (messages).

    Raises:
      ValueError: a summary without a prompt token count (its FLOPs cannot be computed).
    """
    out = []
    for rid, row in zip(record_ids, summaries):
        for z in row:
            if z.prompt_tokens is None:
                raise ValueError(
                    f"compressor {compressor!r} reported no prompt token count for record {rid!r}; "
                    "its FLOPs cannot be computed"
                )
        out.append(
            [
                flops_per_generation(config, z.prompt_tokens, z.n_tokens, params=params, convention=convention)
                for z in row
            ]
        )
    return out
