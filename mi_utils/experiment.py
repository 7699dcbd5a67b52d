"""The experiment runner: a config in, one tidy results table out (``python -m mi_utils run``).

What lives here: :func:`run`, the runner (it orders the stages), and :class:`ModelCache` (backends
built from the config's model specs; their configs and parameter counts for FLOPs are read by
:meth:`mi_utils.results.ModelMeta.read`). The config schema
is :mod:`mi_utils.config`; the row columns, row building, ``summary.csv`` and ``timings.json`` are
:mod:`mi_utils.results`; their public names are re-exported here so that
``from mi_utils.experiment import load_config, run`` keeps working.

For every data set and seed of the config, :func:`run` orders the stages (each stage's logic is
in its module; the runner passes it stores and settings, and writes rows)::

    load records                                   data.load_dataset
    compress (every compressor setting)            compress.compress_records / refine_records (rounds > 1,
                                                   in order) / extractive.extractive_summaries (LM-free
                                                   methods, their registry); costs.compression_flops
      -> score (all settings in one matrix)        score.score_matrix / own_scoring_exact
      -> estimate I(X;Z|Q) per setting            estimate.estimate_settings (estimators.estimate_mi /
                                                   loo_pointwise_mi / upper_is_bound)
      -> usable information (choice predictors)    predict.choice_outcome (no-summary pass),
                                                   information.cross_fitted_usable_information
      -> predict, aggregate and evaluate           predict.predictor_texts / predict_outcome (choice_outcome /
                                                   generate_outcome: vote, evaluate.mc_correct / normalized_match /
                                                   judge_answers; evaluate.perplexity_outcome)
      -> row                                       results.row_key / build_row from the stage outputs
                                                   (RunContext, Compression, ModelUse, MIResult, the outcome)
and appends one row per (record, configuration) to ``<out>/rows.jsonl`` the moment the row
exists; ``summary.csv`` (one line per configuration) is written at the end, and the run's
seconds per stage are appended to ``timings.json``.

Scoring is shared: the summaries of *all* compressor settings of a (data set, seed) are scored
in one :func:`~mi_utils.score.score_matrix` call, so each of the ``N^2`` scoring prefixes
(context ``x_l`` with query ``q_i``) is encoded once for every compressor instead of once per
compressor (about 6x less prefill work for the default config). The price: the score store is
keyed by the whole set of summaries, so adding a compressor to a config re-scores that data
set and seed.

Resuming: every stage writes to a JSONL store keyed by everything that determines its output
(``<out>/stores/``), and finished rows are keyed too. Rerunning an interrupted run with the same
config loads the finished summaries, scores, predictions and rows instead of recomputing them;
a (data set, seed) group whose rows are all present is skipped without loading any model.
Rows written before a column existed are upgraded in the run's table (not in ``rows.jsonl``):
``round`` 1, ``compressor_base`` from the row's setting
(:func:`~mi_utils.config_columns.upgrade_rows`), ``item_type`` from the loaded record.
One run writes a folder at a time: :func:`run` holds the folder's lock (:func:`mi_utils.locking.folder_lock`)
from before its first write to its return, and a second run on the same folder stops at once with
:class:`~mi_utils.locking.LockedError`, naming the process that holds it.

Before the first unit of work the runner checks every model the config names (pre-flight):
each backend is built (a server must answer and serve the named model), must fill the role it
has in the config (:data:`~mi_utils.backends.registry.BACKEND_ROLES`; the config validator already
refused a chat API as scorer by name), and every local or served model's config must be readable
(FLOPs and parameter counts are never NaN in a finished row; set ``hf_config`` or ``params`` when
the model name alone does not lead to its ``config.json``). A broken grid fails there, not hours in.

What an MI row estimates is in its ``mi_estimand`` column (:data:`~mi_utils.results.ESTIMANDS`;
see :mod:`mi_utils.score` for ``conditioning``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .backends.base import SCORER, require_role
from .backends.registry import build_backend
from .compress import Summary, compress_records, extractive_summaries, refine_records
from .config import (
    CompressorSetting,
    DatasetConfig,
    ExperimentConfig,
    ModelSpec,
    PredictorConfig,
    ScorerConfig,
    load_config,
    parse_config,
    short_name,
    slug,
)
from .config_columns import upgrade_rows
from .costs import DEFAULT_PRICES, PriceTable, compression_flops
from .estimate import MIResult, estimate_settings
from .information import cross_fitted_usable_information
from .locking import folder_lock
from .predict import choice_outcome, predict_outcome, predictor_texts
from .results import (
    CONFIG_COLUMNS,
    ESTIMANDS,
    MI_REQUIRED,
    REQUIRED_NUMERIC,
    ROW_COLUMNS,
    Compression,
    CompressionCost,
    ModelMeta,
    ModelUse,
    RunContext,
    RunResult,
    StageTimer,
    append_timings,
    build_row,
    item_type,
    row_key,
    summarize,
)
from .score import own_scoring_exact, score_matrix
from .store import JsonlStore

__all__ = [  # the config and results names users import from here (their homes: config, results)
    "ExperimentConfig",
    "load_config",
    "parse_config",
    "RunResult",
    "ROW_COLUMNS",
    "REQUIRED_NUMERIC",
    "MI_REQUIRED",
    "CONFIG_COLUMNS",
    "summarize",
    "ModelCache",
    "make_backend",
    "run",
]

log = logging.getLogger(__name__)


# =============================================================================== models
class ModelCache:
    """Loaded backends, one per ``(backend, model, dtype, urls, ...)``, reused across settings.

    Args:
      factory: builds a backend from a :class:`ModelSpec` (default: :func:`make_backend`);
        tests pass a wrapper that counts calls.
    """

    def __init__(self, factory: Callable[[ModelSpec], Any] | None = None) -> None:
        self.factory = factory or make_backend
        self._models: dict[tuple, Any] = {}
        self._tokenizers: dict[str, Any] = {}
        self.load_seconds = 0.0

    def get(self, spec: ModelSpec) -> Any:
        """The backend for ``spec``, loading it on first use."""
        key = spec.cache_key()
        if key not in self._models:
            t = time.perf_counter()
            self._models[key] = self.factory(spec)
            dt = time.perf_counter() - t
            self.load_seconds += dt
            log.info("loaded %s (%s, %s) in %.1f s", spec.model, spec.backend, spec.dtype, dt)
        return self._models[key]

    def tokenizer(self, name: str) -> Any:
        """A tokenizer by name: a loaded scorer's of that model when there is one, else loaded by name."""
        if name not in self._tokenizers:
            loaded = next((b for k, b in self._models.items() if k[1] == name and SCORER in b.roles), None)
            if loaded is not None:
                self._tokenizers[name] = loaded.tokenizer
            else:
                from .models import load_tokenizer

                self._tokenizers[name] = load_tokenizer(name)
        return self._tokenizers[name]


def make_backend(spec: ModelSpec) -> Any:
    """Build the backend a :class:`ModelSpec` names: its registry entry's class, ``from_spec(spec)``
    (:func:`mi_utils.backends.registry.build_backend`)."""
    return build_backend(spec)


# ================================================================================= run
def run(
    config: ExperimentConfig | str | Path,
    out_dir: str | Path | None = None,
    progress: bool = True,
    *,
    limit: int | None = None,
    models: ModelCache | None = None,
    on_start: Callable[[ExperimentConfig], Any] | None = None,
) -> RunResult:
    """Run an experiment (resumably) and write its tables.

    Args:
      config: a config or the path of its YAML file.
      out_dir: results folder (default: ``<output_dir>/<name>``).
      progress: show progress bars.
      limit: override N for every data set (a quick look at a big config).
      models: a :class:`ModelCache` to reuse loaded models across runs (or to inject backends).
      on_start: called with the config once the folder's lock is held, before any work (the command
        line prints its estimate there: :mod:`mi_utils.planning`).

    Returns:
      A :class:`RunResult`; the tables are on disk as well.

    Raises:
      ValueError: a bad config, or a data set with fewer than 2 records.
      LockedError: another run is writing to ``out_dir`` (:mod:`mi_utils.locking`; the message
        names its process); nothing has been written.
    """
    cfg = config if isinstance(config, ExperimentConfig) else load_config(config)
    if limit is not None and limit < 2:
        raise ValueError(f"limit must be >= 2, got {limit}")
    out = Path(out_dir) if out_dir is not None else Path(cfg.output_dir) / cfg.name
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out):  # one run per folder: a second one stops here, naming this one
        if on_start is not None:
            on_start(cfg)
        return _run_locked(cfg, out, progress, limit, models)


def _run_locked(
    cfg: ExperimentConfig, out: Path, progress: bool, limit: int | None, models: ModelCache | None
) -> RunResult:
    """:func:`run`'s body, with the folder's lock held."""
    (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
    if cfg.threads is not None:
        import torch

        torch.set_num_threads(cfg.threads)
    runner = _Runner(cfg, out, progress, limit, models or ModelCache())
    timings_path = out / "timings.json"
    started, t0, loaded0 = time.time(), time.perf_counter(), runner.models.load_seconds
    error = None
    try:
        runner.run()
    except BaseException as e:  # an interrupted run still records where its time went
        error = f"{type(e).__name__}: {e}"
        raise
    finally:
        total = time.perf_counter() - t0
        stages = {k: round(v, 3) for k, v in runner.timer.stages.items()}
        stages["load_models"] = round(runner.models.load_seconds - loaded0, 3)
        timings = {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
            "total_s": round(total, 3),
            "stages_s": stages,
            "rows_written": runner.rows_written,
            "rows_reused": runner.rows_reused,
            "error": error,
            "events": runner.timer.events,
        }
        append_timings(timings_path, timings)
        log.info(
            "run %s: %.1f s (%s); %d rows written, %d reused%s",
            cfg.name,
            total,
            ", ".join(f"{k} {v:.1f} s" for k, v in stages.items()),
            runner.rows_written,
            runner.rows_reused,
            f"; stopped by {error}" if error else "",
        )
    rows = runner.frame()
    summary = summarize(rows)
    summary_path = out / "summary.csv"
    summary.to_csv(summary_path, index=False)
    return RunResult(out, runner.rows.path, summary_path, timings_path, rows, summary, timings)


class _Runner:
    def __init__(self, cfg: ExperimentConfig, out: Path, progress: bool, limit: int | None, models: ModelCache):
        self.cfg, self.out, self.progress, self.limit, self.models = cfg, out, progress, limit, models
        self.rows = JsonlStore(out / "rows.jsonl")
        self.timer = StageTimer()
        self.keys: list[str] = []  # this config's row keys, in order
        self.rows_written = 0
        self._existing = set(self.rows.keys())  # rows finished by an earlier (interrupted) run
        self.prices = PriceTable({**DEFAULT_PRICES, **cfg.prices})
        self._meta: dict[tuple, ModelMeta] = {}
        self._outcomes: dict[tuple, dict] = {}
        self._item_types: dict[tuple[str, str], str | None] = {}  # (data set, record id) -> item_type
        self._preflighted = False

    # ------------------------------------------------------------------ helpers
    def store(self, dataset: DatasetConfig, name: str) -> JsonlStore:
        return JsonlStore(self.out / "stores" / dataset.id / f"{slug(name)}.jsonl")

    def prediction_store(self, dataset: DatasetConfig, pred: PredictorConfig) -> JsonlStore:
        """The store of a predictor's outcomes (option scores, replies, verdicts, perplexities)."""
        return self.store(dataset, f"predictions-{pred.backend}-{short_name(pred.model)}-{pred.dtype}")

    def model_meta(self, spec: ModelSpec) -> ModelMeta:
        """:meth:`ModelMeta.read` of a model, memoised for the run (raises as that does)."""
        key = spec.cache_key()
        if key not in self._meta:
            self._meta[key] = ModelMeta.read(spec)
        return self._meta[key]

    def preflight(self) -> None:
        """Build every backend the config names, check its roles and read every model config.

        Runs once, before the first unit of work, so that a server that is down, serves another
        model or a model whose config cannot be read stops the run before anything is computed.

        Raises:
          ValueError: a backend lacks a role it is used in, or a model's config cannot be read.
          ServerError: a server does not answer or serves another model (from the backend).
        """
        if self._preflighted:
            return
        with self.timer.stage("preflight"):
            for path, spec, needs in self.cfg.model_uses():
                try:
                    self.model_meta(spec)
                except ValueError as e:
                    raise ValueError(f"{path}: {e}") from None
                backend = self.models.get(spec)
                for role in needs:
                    try:
                        require_role(backend, role, path)
                    except TypeError as e:
                        raise ValueError(str(e)) from None
        self._preflighted = True

    def reference_tokenizer(self) -> Any:
        """The tokenizer of LM-free summaries: ``tokenizer`` when set, else the first scorer's (or
        the first scoring predictor's)."""
        ref = self.cfg.reference_tokenizer()
        if ref is None:
            raise ValueError("extractive compressors need a tokenizer: set 'tokenizer' in the config")
        return self.models.tokenizer(ref) if isinstance(ref, str) else self.models.get(ref).tokenizer

    @property
    def rows_reused(self) -> int:
        """Rows of this config that an earlier run had already written."""
        return sum(k in self._existing for k in self.keys)

    def frame(self):
        import pandas as pd

        wanted = set(self.keys)
        by_key = {r["key"]: r for r in self.rows.rows() if r.get("key") in wanted}
        rows = [dict(by_key[k]) for k in self.keys if k in by_key]
        for r in rows:  # rows written before the ``item_type`` column existed: the loaded record's
            if "item_type" not in r:
                r["item_type"] = self._item_types.get((r.get("dataset"), r.get("record_id")))
        df = pd.DataFrame(rows)
        if df.empty:
            return pd.DataFrame(columns=list(ROW_COLUMNS))
        return upgrade_rows(df.reindex(columns=list(ROW_COLUMNS)))  # rows written before round / compressor_base

    # ---------------------------------------------------------------------- run
    def run(self) -> None:
        for ds in self.cfg.datasets:
            records = self.load_records(ds)
            for seed in self.cfg.seeds:
                self.run_group(ds, records, seed)

    def load_records(self, ds: DatasetConfig) -> list:
        from .data import load_dataset

        N = self.cfg.n_records(ds, self.limit)
        with self.timer.stage("load_data", dataset=ds.name):
            records = load_dataset(ds.name, **ds.loader_kwargs(N))
        if len(records) < N:
            log.warning("%s has %d records, fewer than N=%d; using all of them", ds.name, len(records), N)
        records = list(records[:N])
        if len(records) < 2:
            raise ValueError(f"data set {ds.name!r} gave {len(records)} record(s); the estimator needs >= 2")
        if len({r.task for r in records}) != 1:
            raise ValueError(f"data set {ds.name!r} mixes tasks {sorted({r.task for r in records})}; one per data set")
        ids = [r.id for r in records]
        if len(set(ids)) != len(ids):
            raise ValueError(f"data set {ds.name!r} has duplicate record ids; rows could not be told apart")
        self._item_types.update({(ds.name, r.id): item_type(r) for r in records})
        return records

    def run_group(self, ds: DatasetConfig, records: list, seed: int) -> None:
        cfg, N, task = self.cfg, len(records), records[0].task
        settings = cfg.settings_for(task)
        keys = {
            (s.id, i, pi, si): row_key(cfg, ds, N, seed, s, p, sc, r.id)
            for s in settings
            for i, r in enumerate(records)
            for pi, si, p, sc in cfg.combos(s, task)
        }
        self.keys.extend(keys.values())
        if all(k in self.rows for k in keys.values()):
            log.info("%s seed=%d: all %d rows present; skipped", ds.name, seed, len(keys))
            return
        self.preflight()

        # 1. compress: every setting (finished summaries come from the store)
        summaries: dict[str, list[list[Summary]]] = {}
        costs: dict[str, list[dict]] = {}
        for s in tqdm(settings, desc=f"compress {ds.name} seed={seed}", disable=not self.progress):
            summaries[s.id], costs[s.id] = self.compress(ds, records, s, seed, summaries.get(s.previous))

        # 2. score all scored settings in one matrix per scorer, 3. estimate MI per setting
        scored = [s for s in settings if s.score_mi]
        mi: dict[tuple[str, str], dict] = {}
        for sc in cfg.scorers:
            mine = [s for s in scored if sc.scores(s)]
            if mine:
                mi.update(self.score_and_estimate(ds, records, seed, mine, summaries, sc))

        # 4. usable information about the answer (choice predictors on multiple-choice records):
        #    every setting's option scores plus a no-summary pass, cross-fitted calibration
        usable: dict[tuple[str, str], dict] = {}
        if task == "multiple_choice":
            for pred in cfg.predictors_for(task):
                if pred is not None and pred.mode == "choice":
                    usable.update(self.usable_information(ds, records, settings, summaries, pred))

        # 5. predict + evaluate, one row per record as soon as it exists
        for s in settings:
            self.predict_rows(ds, records, seed, s, summaries[s.id], costs[s.id], mi, keys, usable)

    # --------------------------------------------------------------- compress
    def compress(self, ds: DatasetConfig, records: list, s: CompressorSetting, seed: int, previous=None):
        """Summaries of every record, and per-summary compressor costs (``previous``: the summaries
        a refinement round rewrites, those of setting ``s.previous``; its costs are this round's)."""
        M = s.n_samples(self.cfg.M)
        if s.kind != "lm":
            with self.timer.stage("extractive", dataset=ds.name, seed=seed, compressor=s.id):
                tok = self.reference_tokenizer()
                sums = extractive_summaries(records, s.config.method, s.config.k, tok, M=M, seed=seed)
            return sums, [[CompressionCost.free()] * len(row) for row in sums]
        spec = s.config
        backend = self.models.get(spec)
        meta = self.model_meta(spec)
        store = self.store(ds, f"summaries-{spec.backend}-{short_name(spec.model)}-{spec.dtype}")
        with self.timer.stage("generation", dataset=ds.name, seed=seed, compressor=s.id):
            if s.round > 1:
                sums = refine_records(
                    backend, records, previous, s.sampling(M, seed), round=s.round, sentences=s.sentences,
                    store=store, progress=self.progress,
                )  # fmt: skip
            else:
                sums = compress_records(
                    backend, records, M, s.sampling(M, seed), sentences=s.sentences, store=store, progress=self.progress
                )
        flops = compression_flops(
            meta.config,
            sums,
            [r.id for r in records],
            params=meta.params,
            convention=self.cfg.flops_convention,
            compressor=s.id,
        )
        out = [[CompressionCost(f, z.prompt_tokens) for f, z in zip(fr, row)] for fr, row in zip(flops, sums)]
        return sums, out

    # ------------------------------------------------------------------ score
    def estimand(self, records) -> str:
        """What this data set's MI rows estimate (``mi_estimand``)."""
        if len({r.query for r in records}) == 1:
            return ESTIMANDS["one_question"]
        return ESTIMANDS[self.cfg.conditioning]

    def score_and_estimate(
        self, ds, records, seed, settings, summaries, sc: ScorerConfig
    ) -> dict[tuple[str, str], MIResult]:
        """Score every scored setting's summaries in one matrix and estimate MI per setting.

        Returns:
          ``{(setting id, scorer id): MIResult}``: the estimate, per-record contributions, the
          self-identification rate, scored token counts, the rate (bits per compressor token) and
          whether the leave-one-out value is an upper bound.
        """
        cfg = self.cfg
        scorer = self.models.get(sc)
        contexts, queries = [r.context for r in records], [r.query for r in records]
        blocks, zs = [], [[] for _ in records]
        for s in settings:
            start = len(zs[0])
            for i, row in enumerate(summaries[s.id]):
                zs[i].extend(row)
            blocks.append((s, start, len(zs[0])))
        estimand = self.estimand(records)
        if estimand != ESTIMANDS["one_question"]:
            log.warning(
                "%s: every record has its own question, so the MI estimate is %s, not I(X;Z|Q) "
                "(see mi_utils.score); a data set with one shared question gives I(X;Z|Q)",
                ds.name,
                estimand,
            )
        store = self.store(
            ds,
            f"scores-{sc.backend}-{short_name(sc.model)}-{sc.dtype}"
            + ("" if sc.prompt == "proxy" else f"-{sc.prompt}"),
        )
        with self.timer.stage("scoring", dataset=ds.name, seed=seed, scorer=sc.id):
            logp, lengths = score_matrix(
                scorer,
                contexts,
                queries,
                zs,
                conditioning=cfg.conditioning,
                prompt=sc.prompt,
                store=store,
                tag=f"{ds.id}|{sc.backend}|{sc.dtype}",
                progress=self.progress,
            )
        exact = (
            own_scoring_exact(scorer, contexts, queries, zs) if sc.prompt == "own" else np.zeros(lengths.shape, bool)
        )
        with self.timer.stage("estimation", dataset=ds.name, seed=seed, scorer=sc.id):
            results = estimate_settings(
                logp, lengths, exact, blocks, summaries, sc,
                n_boot=cfg.n_boot, seed=seed, conditioning=cfg.conditioning, estimand=estimand,
            )  # fmt: skip
        return {(sid, sc.id): r for sid, r in results.items()}

    # ---------------------------------------------------------------- predict
    def usable_information(self, ds, records, settings, summaries, pred: PredictorConfig) -> dict:
        """Cross-fitted usable information (bits) of every (setting, record) for one predictor.

        Needs every setting's option scores (from the prediction store when they exist) and the
        predictor's no-summary pass; see :func:`mi_utils.information.cross_fitted_usable_information`.
        The summed option log-probs are used whatever ``rule`` ranks the options (a sum is a
        log-likelihood; a per-token mean is not).
        """
        backend = self.models.get(pred)
        store = self.prediction_store(ds, pred)
        with self.timer.stage("prediction", dataset=ds.name, predictor=pred.id):
            scores = {
                s.id: [
                    np.asarray(self.predict_one(ds, rec, summaries[s.id][i], s, pred)["option_logprobs"])
                    for i, rec in enumerate(
                        tqdm(records, desc=f"predict {s.id} ({pred.id})", disable=not self.progress)
                    )
                ]
                for s in settings
            }
            base = [choice_outcome(backend, rec, [""], rule=pred.rule, store=store) for rec in records]  # no summary
        with self.timer.stage("usable_information", dataset=ds.name, predictor=pred.id):
            correct = [list(rec.options).index(rec.answer) for rec in records]
            cf = cross_fitted_usable_information(scores, [b["option_logprobs"][0] for b in base], correct)
        out = {}
        for s in settings:
            for i, b in enumerate(base):
                out[(s.id, pred.id, i)] = {
                    **cf.record(s.id, i),
                    "baseline_option_logprobs": b["option_logprobs"][0],
                    "baseline_correct": b["correct_sum"],
                }
        return out

    def predict_rows(
        self,
        ds,
        records,
        seed,
        s: CompressorSetting,
        sums: list[list[Summary]],
        costs: list[list[CompressionCost]],
        mi: dict[tuple[str, str], MIResult],
        keys: dict,
        usable: dict | None = None,
    ) -> None:
        """Predict, evaluate and write the rows of one setting, each the moment it exists."""
        combos = self.cfg.combos(s, records[0].task)
        comp_meta = self.model_meta(s.config) if s.kind == "lm" else None
        context = RunContext(self.cfg.name, ds.name, seed, len(records), self.cfg.conditioning, self.cfg.n_boot)
        for pi, pred in enumerate(self.cfg.predictors_for(records[0].task)):
            mine = [(si, sc) for p, si, _, sc in combos if p == pi]
            todo = [i for i in range(len(records)) if any(keys[(s.id, i, pi, si)] not in self.rows for si, _ in mine)]
            if not todo:
                continue
            predictor = ModelUse(pred, self.model_meta(pred)) if pred is not None else None
            name = pred.id if pred is not None else None
            with self.timer.stage("prediction", dataset=ds.name, seed=seed, compressor=s.id, predictor=name):
                for i in tqdm(todo, desc=f"predict {s.id} ({name})", disable=not self.progress):
                    rec = records[i]
                    outcome = self.predict_one(ds, rec, sums[i], s, pred) if pred is not None else {}
                    if pred is not None and usable and (s.id, pred.id, i) in usable:
                        outcome = {**outcome, **usable[(s.id, pred.id, i)]}
                    for si, sc in mine:
                        key = keys[(s.id, i, pi, si)]
                        if key in self.rows:
                            continue
                        row = self.make_row(
                            context,
                            rec,
                            i,
                            Compression(s, sums[i], costs[i], comp_meta),
                            predictor=predictor,
                            scorer=ModelUse(sc, self.model_meta(sc)) if sc else None,
                            mi=mi.get((s.id, sc.id)) if sc else None,
                            outcome=outcome,
                        )
                        self.rows.append({"key": key, **row})
                        self.rows_written += 1

    def make_row(self, *args: Any, **kwargs: Any) -> dict:
        """One row from the stage outputs (:func:`mi_utils.results.build_row`; the hook a test interrupts)."""
        return build_row(*args, **kwargs)

    def predict_one(
        self, ds: DatasetConfig, rec, sums: list[Summary], s: CompressorSetting, pred: PredictorConfig
    ) -> dict:
        """Prediction outcome of one record from its summaries (memoised for this run)."""
        memo = (ds.id, rec.id, s.id, pred.id, tuple(z.text for z in sums))
        if memo not in self._outcomes:
            self._outcomes[memo] = self._predict_one(ds, rec, sums, s, pred)
        return self._outcomes[memo]

    def _predict_one(
        self, ds: DatasetConfig, rec, sums: list[Summary], s: CompressorSetting, pred: PredictorConfig
    ) -> dict:
        backend, j = self.models.get(pred), self.cfg.judge
        texts = predictor_texts(
            backend, [z.text for z in sums], pred, full_context=s.kind == "full", reference=self.reference_tokenizer
        )
        return predict_outcome(
            backend,
            rec,
            texts,
            self.prediction_store(ds, pred),
            pred,
            self.prices,
            dataset=ds.name,
            judge=j,
            judge_backend=self.models.get(j) if j is not None else None,
        )
