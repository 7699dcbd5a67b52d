"""Modules that say they import no model code do not: one subprocess per module group (a fresh interpreter).

One table for what used to be five copies of the same subprocess test: each case imports some
modules, touches the names a user calls, and lists the modules that must then be absent from
``sys.modules``.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO

MODEL_CODE = ("torch", "transformers")

#: id -> (code that imports and touches the modules, modules that must stay unimported)
CASES = {
    # The analysis fits alone pull in no plotting either.
    "analysis-fits": (
        "import mi_utils.analysis as a; a.fit_scaling; a.scaling_ratios; a.fit_rate_distortion; "
        "a.partial_correlation; a.meta_analysis; import mi_utils.analysis.meta as m; m.per_group_slopes; "
        "a.simulate_grid; a.rank_factors; a.mixed_effects; a.load_results; a.paper_reported",
        (*MODEL_CODE, "matplotlib"),
    ),
    # Every analysis module and the plotting helpers run on tables alone.
    "analysis-and-plotting": (
        "import importlib, mi_utils.analysis as a, mi_utils.plotting; "
        "[importlib.import_module('mi_utils.analysis.' + m) for m in "
        "('scaling', 'gains', 'rate_distortion', 'correlation', 'factors', 'mixed', 'meta', 'information', 'simulate', 'tables')]; "
        "[importlib.import_module('mi_utils.plotting.' + m) for m in ('style', 'marks', 'figures')]; "
        "[getattr(a, n) for n in a.__all__]",
        (*MODEL_CODE, "mi_utils.backends", "mi_utils.experiment"),
    ),
    # Parameter and FLOP counts from a config dict need neither torch nor accelerate.
    "costs": (
        "import mi_utils.costs as c; c.count_params(c.config_dict({'model_type': 'llama', 'vocab_size': 8, "
        "'hidden_size': 4, 'num_hidden_layers': 1, 'num_attention_heads': 2}))",
        (*MODEL_CODE, "accelerate"),
    ),
    "estimators-and-channels": ("import mi_utils.estimators, mi_utils.channels", MODEL_CODE),
    # Reading the backend and method registries (and parsing a config) imports no torch.
    "registries-and-config": (
        "import mi_utils.backends.registry, mi_utils.config, mi_utils.extractive; "
        "from mi_utils.config import parse_config",
        ("torch",),
    ),
    # The module docstrings say so: the data loaders (no `datasets` either), the model registry, prices.
    "data-models-prices": (
        "import mi_utils.data, mi_utils.models, mi_utils.prices; mi_utils.data.DATASETS; mi_utils.models.PACKAGED",
        (*MODEL_CODE, "datasets"),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_module_imports_no_model_code(case):
    code, forbidden = CASES[case]
    script = f"import sys; {code}; print(sorted(m for m in {forbidden!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", f"{case} imported {out.stdout.strip()}"
