"""Shared test settings: offline hub, deterministic threads, a shared model fixture."""

from __future__ import annotations

import os
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Real data sets beside the checkout (``$MI_UTILS_SHARED_DATA`` or ``../shared/data``)."""
    return Path(os.environ.get("MI_UTILS_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def hf_backend():
    """The packaged SmolLM2-135M-Instruct in float32, loaded once per session."""
    from mi_utils.backends.hf import HFBackend

    return HFBackend("smollm2-135m-instruct", dtype="float32")
