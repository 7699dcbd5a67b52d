#!/usr/bin/env python
"""Start a local vLLM OpenAI server (CPU build in .venv-vllm by default) and keep it running.

Run with the project's main interpreter; the server itself runs in the vLLM environment::

    bash scripts/setup_vllm.sh                        # once: creates .venv-vllm
    python scripts/vllm_server.py                     # smollm2-135m-instruct, float32, free port
    python scripts/vllm_server.py --port 8000 --model smollm2-135m-instruct --served-model-name smollm2

It prints the URL and a ready-to-paste ``VLLMBackend(...)`` line, then waits until Ctrl-C (or
SIGTERM) and stops the server's whole process group. ``--replicas N`` starts N servers on
consecutive free ports (data-parallel replicas; on a CPU machine each competes for the same cores).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mi_utils.backends.vllm import DEFAULT_VLLM_PYTHON, launch_vllm_server


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="smollm2-135m-instruct", help="packaged name, local folder or hub id")
    ap.add_argument("--served-model-name", default=None, help="name clients pass as model= (default: --model)")
    ap.add_argument("--python", default=DEFAULT_VLLM_PYTHON, help="interpreter that has vllm installed")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=None, help="default: a free port")
    ap.add_argument("--replicas", type=int, default=1, help="servers to start (ports --port, --port+1, ...)")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--max-model-len", type=int, default=2048)
    ap.add_argument("--kv-cache-gib", type=int, default=1, help="VLLM_CPU_KVCACHE_SPACE (CPU build)")
    ap.add_argument("--no-enforce-eager", action="store_true", help="allow graph capture / compilation")
    ap.add_argument("--log-dir", default=None, help="server logs go here (default: temporary files)")
    ap.add_argument("--startup-timeout", type=float, default=600.0)
    ap.add_argument("extra", nargs=argparse.REMAINDER, help="after --: more vLLM server flags")
    args = ap.parse_args(argv)
    extra = args.extra[1:] if args.extra[:1] == ["--"] else args.extra

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    with contextlib.ExitStack() as stack:
        servers = []
        for r in range(args.replicas):
            log = Path(args.log_dir) / f"vllm-{r}.log" if args.log_dir else None
            srv = stack.enter_context(
                launch_vllm_server(
                    args.model,
                    python=args.python,
                    served_model_name=args.served_model_name,
                    host=args.host,
                    port=(args.port + r) if args.port else None,
                    dtype=args.dtype,
                    max_model_len=args.max_model_len,
                    enforce_eager=not args.no_enforce_eager,
                    kv_cache_gib=args.kv_cache_gib,
                    extra_args=extra,
                    startup_timeout=args.startup_timeout,
                    log_path=log,
                )
            )
            print(f"vLLM replica {r} ready at {srv.url} in {srv.startup_s:.0f} s (log: {srv.log_path})", flush=True)
            servers.append(srv)
        urls = [s.url for s in servers]
        print(
            "\nfrom mi_utils.backends.vllm import VLLMBackend\n"
            f"backend = VLLMBackend({urls if len(urls) > 1 else urls[0]!r}, {servers[0].model!r}, "
            f"tokenizer={servers[0].model_path!r})\n\nCtrl-C stops the server(s).",
            flush=True,
        )
        try:
            while all(s.process.poll() is None for s in servers):
                time.sleep(1)
        except KeyboardInterrupt:
            print("stopping...", flush=True)
            return 0
        dead = [s for s in servers if s.process.poll() is not None]
        for s in dead:
            print(f"server at {s.url} exited with code {s.process.returncode}; log:\n{s.log_tail()}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
