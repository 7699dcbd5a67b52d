"""A grid's cost before it runs (``python -m mi_utils plan CONFIG``): work, tokens, loads, time, dollars.

What lives here: :func:`plan`, which turns an :class:`~mi_utils.config.ExperimentConfig` into a
:class:`Plan` without loading any model: one :class:`Work` line per stage of a model on a (data set,
seed) (the units the runner times: a compressor setting's generation, a scorer's matrix, a predictor's
answers, the judge's verdicts), the rows the run writes, the model loads, and each line's wall time
and API dollars. :func:`format_plan` is the table ``plan`` and ``run`` print; :meth:`Plan.to_dict` the
``--json``; :meth:`Plan.costed` the same plan with other rates (only seconds and dollars depend on them).

Counts follow the runner (:mod:`mi_utils.experiment`) exactly: ``N`` records per data set (fewer when
the data set has fewer), ``M`` samples per sampled setting (1 for deterministic ones), and per scorer
``N x N x M_total`` continuations behind ``N`` scoring prefixes (``N^2`` when each record has its own
question and ``conditioning`` is ``shared``; the own prompt has one prefix per conciseness setting).

Tokens: counted with the model's own tokenizer when it can be read offline (a packaged model already
prepared, a local folder, or a hub id in the local Hugging Face cache), else estimated at
:data:`CHARS_PER_TOKEN` characters per token (:func:`mi_utils.data.records.approx_token_count`); the
output says which, per model. LM summaries are counted at ``max_new_tokens`` (an upper bound: a sample
that stops early is shorter); LM-free summaries are built (they need no model) and counted. A data set
whose files are not here keeps its counts of records (assumed ``N``) but its tokens are unknown, with
the reason, unless ``context_tokens`` gives its typical context length.

Time: each line's seconds are its tokens over its model's :class:`~mi_utils.throughput.Throughput` in
that stage: ``(prompt_tokens + scored_tokens) / prefill + new_tokens / decode``. Rates come, first
found first used, from ``--throughput`` (a file or flags: how to state a GPU server's speed),
``--calibrate`` (:func:`mi_utils.throughput.calibrate`: each local model loaded once, a short prefill,
decode and scoring timed) or ``--from-timings`` (:func:`mi_utils.recorded.rates_from_timings`: a
recorded run's stage times); with none of them, the committed rates of the recorded CPU runs
(:data:`~mi_utils.throughput.DEFAULT_RATES`, written by ``scripts/plan_ratios.py``). A model without a
rate of its own is scaled by parameters from the measured ones. A model with no rate and no readable
size, or a line whose tokens are unknown, has its time marked unknown with the reason (the total says
how many lines), never a crash.
Model loads are listed, not timed (seconds each on a CPU: under 1 % of the committed runs). Dollars:
API models' (chat predictors, the judge) prompt and reply tokens at the config's
:class:`~mi_utils.costs.PriceTable` prices, replies at ``max_new_tokens`` (an upper bound); an API's
wall time is not estimated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .backends.registry import BackendEntry, backend_entry
from .config import (
    CompressorSetting,
    DatasetConfig,
    ExperimentConfig,
    ModelSpec,
    PredictorConfig,
    ScorerConfig,
)
from .costs import DEFAULT_PRICES, PriceTable
from .data import DATASET_TASKS  # each data set's task, for one whose files are not here (the loaders' table)
from .throughput import Throughput, find_rate, model_size
from .token_counts import CHARS_PER_TOKEN, NO_TOKENIZERS, CharTokenizer, TokenCounter

__all__ = [
    "CHARS_PER_TOKEN",
    "DATASET_TASKS",
    "STAGES",
    "Work",
    "Plan",
    "plan",
    "model_specs",
    "format_plan",
]

#: The stages a plan line can be (the runner's stage names; ``judge`` is timed inside ``prediction``).
STAGES = ("generation", "scoring", "prediction", "judge")


# ============================================================================ records
@dataclass
class Work:
    """One line of a plan: one model's stage on one (data set, seed).

    Attributes:
      stage: one of :data:`STAGES`. ``who``: the setting, scorer or predictor id.
      model, backend, dtype: the model that does the work (``""`` for none).
      calls: backend calls (generate calls, score calls; the runner's units of work).
      sequences: samples generated, continuations scored, or API requests.
      prompt_tokens, new_tokens, scored_tokens: prompt (prefill) tokens, generated tokens (at
        ``max_new_tokens``: an upper bound) and scored continuation tokens; ``None`` = unknown.
      usd: API dollars (0 for local models). seconds: estimated wall time (``None`` = unknown).
      note: how the tokens were counted and where the rate came from, or why something is unknown.
    """

    stage: str
    dataset: str
    seed: int
    who: str
    model: str
    backend: str
    dtype: str
    calls: int
    sequences: int
    prompt_tokens: float | None
    new_tokens: float | None
    scored_tokens: float | None
    usd: float | None = 0.0
    seconds: float | None = None
    note: str = ""


@dataclass
class Plan:
    """A config's plan: its work lines, rows, model loads and totals (see the module docstring)."""

    name: str
    datasets: list[dict]
    work: list[Work]
    rows: int
    loads: list[dict]
    tokens_note: dict[str, str] = field(default_factory=dict)
    # what costing reads (:meth:`costed`): the config and the lines before costing
    _cfg: ExperimentConfig | None = field(default=None, repr=False, compare=False)
    _uncosted: list[Work] = field(default_factory=list, repr=False, compare=False)

    def costed(self, rates: Mapping[str, Throughput]) -> Plan:
        """The same plan costed with other rates (its tokens, rows and loads do not depend on them):
        a new :class:`Plan`, this one unchanged. Each line's seconds and dollars as :func:`plan` gives them.

        Raises:
          ValueError: the plan was not made by :func:`plan` (it has no config to price with).
        """
        if self._cfg is None:
            raise ValueError("only a plan made by plan() can be costed; plan the config with plan(cfg, rates=...)")
        prices = PriceTable({**DEFAULT_PRICES, **self._cfg.prices})
        specs = {(s.model, s.backend, s.dtype): s for s in self._cfg.model_specs()}
        work = [replace(w) for w in self._uncosted]
        for w in work:
            _cost(w, specs[(w.model, w.backend, w.dtype)], prices, rates)
        return replace(self, work=work)

    def total(self, key: str, stage: str | None = None) -> float | None:
        """Sum of a :class:`Work` field over lines (of one stage); ``None`` when any line's is unknown."""
        vals = [getattr(w, key) for w in self.work if stage is None or w.stage == stage]
        return None if any(v is None for v in vals) else float(sum(vals))

    def known_seconds(self) -> tuple[float, int]:
        """Seconds of the lines whose time is known, and how many lines are unknown."""
        return (
            sum(w.seconds for w in self.work if w.seconds is not None),
            sum(w.seconds is None for w in self.work),
        )

    def to_dict(self) -> dict:
        secs, unknown = self.known_seconds()
        return {
            "name": self.name,
            "datasets": self.datasets,
            "rows": self.rows,
            "loads": self.loads,
            "tokens": self.tokens_note,
            "work": [asdict(w) for w in self.work],
            "totals": {
                "calls": sum(w.calls for w in self.work),
                "sequences": {s: sum(w.sequences for w in self.work if w.stage == s) for s in STAGES},
                "prompt_tokens": self.total("prompt_tokens"),
                "new_tokens": self.total("new_tokens"),
                "scored_tokens": self.total("scored_tokens"),
                "usd": self.total("usd"),
                "seconds": self.total("seconds"),
                "seconds_known": secs,
                "lines_unknown": unknown,
            },
        }


# ============================================================================ data
def _load_records(ds: DatasetConfig, N: int) -> tuple[list | None, str]:
    """The records the runner would use (its first ``N``), or ``(None, reason)`` when the files are not here."""
    from .data import load_dataset

    try:
        records = load_dataset(ds.name, **ds.loader_kwargs(N))
    except Exception as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        return None, f"{ds.name}: data not loaded ({first}); N={N} records assumed, tokens unknown"
    return list(records[:N]), f"{ds.name}: {min(N, len(records))} records loaded"


@dataclass
class _Data:
    """One data set as the planner sees it: records (or ``None``), the number used, its task."""

    ds: DatasetConfig
    records: list | None
    n: int
    task: str
    note: str

    @property
    def known(self) -> bool:
        """Whether its tokens can be counted: records loaded, or placeholders of a stated context length."""
        return self.records is not None


def _summaries(data: _Data, s: CompressorSetting, M: int, seed: int, ref_tok: Any) -> tuple[list | None, str]:
    """LM-free summaries' texts (built: they need no model), or ``(None, reason)``: an LM setting (its
    texts do not exist before the run), absent data, or a method that fails on these records (the run
    would stop there too)."""
    if s.kind == "lm":
        return None, ""
    if data.records is None:
        return None, "data not here"
    from .compress import extractive_summaries

    try:  # as the runner builds them (``full`` included: the registry's method returns each context)
        sums = extractive_summaries(data.records, s.config.method, s.config.k, ref_tok, M=M, seed=seed)
    except ValueError as e:
        return None, f"{s.id} fails on {data.ds.name}, so the run would stop there: {str(e).split(';')[0]}"
    return [[z.text for z in row] for row in sums], ""


def _placeholder_records(name: str, task: str, n: int, context_tokens: float) -> list:
    """Stand-in records of a stated context length (about one token per word) for absent data."""
    from .data.records import Record

    sentence = " ".join(["word"] * 19) + ". "
    context = (sentence * math.ceil(context_tokens / 20))[: int(context_tokens * 5)]
    options = ("option a", "option b", "option c", "option d", "option e") if task == "multiple_choice" else None
    return [
        Record(
            id=f"{name}-{i}",
            dataset=name,
            context=f"record {i}: {context}",
            query="What does the text say about the question asked?",
            answer=options[0] if options else "a short reference answer of a dozen words or so, as stated",
            options=options,
            task=task,
        )
        for i in range(n)
    ]


def _datasets(cfg: ExperimentConfig, limit: int | None, context_tokens: Mapping[str, float]) -> list[_Data]:
    out = []
    for ds in cfg.datasets:
        N = cfg.n_records(ds, limit)
        records, note = _load_records(ds, N)
        task = records[0].task if records else DATASET_TASKS.get(ds.key, "multiple_choice")
        stated = context_tokens.get(ds.name, context_tokens.get(ds.key))
        if records is None and stated is not None:
            records = _placeholder_records(ds.name, task, N, float(stated))
            note = f"{ds.name}: data not here; {N} placeholder records of {stated:g} context tokens (stated)"
            out.append(_Data(ds, records, N, task, note))
            continue
        out.append(_Data(ds, records, len(records) if records else N, task, note))
    return out


def _rows(cfg: ExperimentConfig, data: _Data) -> int:
    """Rows one (data set, seed) writes: every (setting, record, predictor, scorer) combination."""
    return data.n * sum(len(cfg.combos(s, data.task)) for s in cfg.settings_for(data.task))


def _line(stage, data, seed, who, spec, calls, seqs, prompt, new, scored, note) -> Work:
    return Work(
        stage,
        data.ds.name,
        seed,
        who,
        spec.model if spec else "",
        spec.backend if spec else "",
        spec.dtype if spec else "",
        calls,
        seqs,
        prompt,
        new,
        scored,
        note=note,
    )


class _Counter:
    """The token counts of one (data set, seed): what each stage of the runner reads and writes."""

    def __init__(self, cfg: ExperimentConfig, data: _Data, seed: int, toks: dict) -> None:
        self.cfg, self.data, self.seed, self.toks = cfg, data, seed, toks
        ref = cfg.reference_tokenizer()
        ref = ref.model if isinstance(ref, ModelSpec) else ref
        ref_tok = TokenCounter(ref, toks).tok if ref else None
        built = {
            s.id: _summaries(data, s, s.n_samples(cfg.M), seed, ref_tok or CharTokenizer())
            for s in cfg.settings_for(data.task)
        }
        self.texts = {k: v[0] for k, v in built.items()}
        self.why = {k: v[1] for k, v in built.items() if v[1]}

    def unknown(self, settings: Sequence[CompressorSetting]) -> str:
        """Why the tokens of these settings' summaries are unknown ("" when they are known)."""
        why = sorted({self.why[s.id] for s in settings if s.id in self.why})
        return f"; tokens unknown: {' and '.join(why)}" if why else ""

    def tokens(self, spec: ModelSpec) -> TokenCounter:
        return TokenCounter(spec.tokenizer or spec.model, self.toks)

    def summary_lengths(self, s: CompressorSetting, tk: TokenCounter, *, own: bool = False) -> list[list[float]] | None:
        """Tokens of every summary of ``s`` as a continuation (``N x n_samples``); LM: ``max_new_tokens``."""
        n, m = self.data.n, s.n_samples(self.cfg.M)
        if s.kind == "lm":
            return [[float(s.config.max_new_tokens + (1 if own else 0))] * m for _ in range(n)]
        texts = self.texts[s.id]
        if texts is None:
            return None
        from .prompts import scoring_continuation

        if own:
            return [[float(tk.text(t.strip()) + 1) for t in row] for row in texts]
        return [[float(tk.text(scoring_continuation(t))) for t in row] for row in texts]

    def generation(self, s: CompressorSetting) -> Work:
        from .prompts import compression_messages

        d, spec, m = self.data, s.config, s.n_samples(self.cfg.M)
        tk = self.tokens(spec)
        prompt = None
        if d.known:
            prompt = float(sum(tk.chat(compression_messages(r.context, r.query, s.sentences)) for r in d.records))
        new = float(d.n * m * spec.max_new_tokens)
        return _line("generation", d, self.seed, s.id, spec, d.n, d.n * m, prompt, new, 0.0, tk.how)

    def scoring(self, sc: ScorerConfig, settings: list[CompressorSetting]) -> Work:
        from .prompts import compression_messages, scoring_prefix

        d, N, tk = self.data, self.data.n, self.tokens(sc)
        own = sc.prompt == "own"
        seqs = N * N * sum(s.n_samples(self.cfg.M) for s in settings)
        prompt = scored = None
        lengths = [self.summary_lengths(s, tk, own=own) for s in settings]
        if d.known and all(x is not None for x in lengths):
            scored = float(N * sum(sum(map(sum, x)) for x in lengths))
            recs = d.records
            paired = self.cfg.conditioning == "paired"
            # distinct prefixes per score call (the backend prefills each distinct prefix once)
            qsets = [[recs[l].query] if paired else sorted({r.query for r in recs}) for l in range(N)]
            if own:
                variants = {s.sentences if s.kind == "lm" else None for s in settings}
                prompt = float(
                    sum(
                        tk.chat(compression_messages(recs[l].context, q, v))
                        for l in range(N)
                        for q in qsets[l]
                        for v in variants
                    )
                )
            else:
                prompt = float(
                    sum(tk.bos() + tk.text(scoring_prefix(recs[l].context, q)) for l in range(N) for q in qsets[l])
                )
        note = tk.how + (self.unknown(settings) if scored is None else "")
        return _line("scoring", d, self.seed, sc.id, sc, N, seqs, prompt, 0.0, scored, note)

    def summary_texts(self, s: CompressorSetting, i: int, tk: TokenCounter) -> list[str] | None:
        """Summary texts of record ``i`` where known; an LM summary is ``max_new_tokens`` filler tokens."""
        if s.kind == "lm":
            return [" ".join(["word"] * s.config.max_new_tokens)] * s.n_samples(self.cfg.M)
        texts = self.texts[s.id]
        return None if texts is None else texts[i]

    def prediction(self, pred: PredictorConfig, settings: list[CompressorSetting]) -> tuple[Work, Work | None]:
        """A predictor's answers to every setting's summaries (and the no-summary pass of usable
        information), and the judge's verdicts on them (``None`` without a judge or free-form task)."""
        from .evaluate import truncate_context
        from .prompts import JUDGE_PROMPT, choice_prediction_prefix, prediction_messages

        d, tk, task = self.data, self.tokens(pred), self.data.task
        choice = pred.mode == "choice" and task == "multiple_choice"
        baseline = choice  # usable information scores a no-summary pass too
        seqs = sum(d.n * s.n_samples(self.cfg.M) for s in settings) + (d.n if baseline else 0)
        api = backend_entry(pred.backend).priced  # a paid API: one request per prompt
        calls = d.n * (len(settings) + baseline) if not api or choice else seqs
        prompt = new = scored = None
        if d.known:
            prompt = new = scored = 0.0
            for i, r in enumerate(d.records):
                for s in [*settings, None]:
                    texts = [""] if s is None else self.summary_texts(s, i, tk)
                    if s is None and not baseline:
                        continue
                    if texts is None:
                        prompt = new = scored = None
                        break
                    cap = pred.max_context_tokens if s is not None and s.kind == "full" else None
                    if cap is not None:
                        texts = [
                            truncate_context(tk.tok, t, cap)[0] if tk.exact else t[: int(cap * CHARS_PER_TOKEN)]
                            for t in texts
                        ]
                    for t in texts:
                        if choice:
                            prompt += tk.bos() + tk.text(choice_prediction_prefix(t, r.query))
                            scored += sum(tk.text(" " + o.strip()) for o in r.options)
                        else:
                            opts = r.options if task == "multiple_choice" else None
                            prompt += tk.chat(prediction_messages(t, r.query, opts))
                            if task == "perplexity":
                                scored += tk.text(" " + str(r.answer))
                            else:
                                new += pred.max_new_tokens
                if prompt is None:
                    break
        note = tk.how + (self.unknown(settings) if prompt is None else "")
        work = _line("prediction", d, self.seed, pred.id, pred, calls, seqs, prompt, new, scored, note)
        j = self.cfg.judge
        if j is None or task != "free_form" or pred.mode != "generate":
            return work, None
        jt = self.tokens(j)
        jprompt = None
        if d.known:
            reply = " ".join(["word"] * pred.max_new_tokens)
            jprompt = float(
                sum(
                    jt.text(JUDGE_PROMPT.format(query=r.query, reference=r.answer, prediction=reply)) + 8
                    for r in d.records
                )
                * sum(s.n_samples(self.cfg.M) for s in settings)
            )
        jwork = _line(
            "judge",
            d,
            self.seed,
            f"judge of {pred.id}",
            j,
            seqs,
            seqs,
            jprompt,
            float(seqs * j.max_new_tokens),
            0.0,
            jt.how,
        )
        return work, jwork


# ============================================================================ the plan
def model_specs(cfg: ExperimentConfig) -> list[ModelSpec]:
    """Every model spec the run uses (:meth:`ExperimentConfig.model_specs`)."""
    return cfg.model_specs()


def _loads(cfg: ExperimentConfig) -> list[dict]:
    """One entry per model the run loads (the runner's ``ModelCache`` keys), with its size."""
    seen, out = set(), []
    for spec in cfg.model_specs():
        key = spec.cache_key()
        if key in seen:
            continue
        seen.add(key)
        params, how = model_size(spec)
        width = {"float32": 4, "bfloat16": 2, "float16": 2}.get(spec.dtype)
        entry = backend_entry(spec.backend)
        out.append(
            {
                "model": spec.model,
                "backend": spec.backend,
                "dtype": spec.dtype,
                "params": params,
                "params_source": how,
                "weights_gb": round(params * width / 1e9, 2) if params and width and entry.in_process else None,
                "action": _action(entry, spec),
            }
        )
    return out


def plan(
    cfg: ExperimentConfig,
    *,
    limit: int | None = None,
    rates: Mapping[str, Throughput] | None = None,
    context_tokens: Mapping[str, float] | None = None,
    tokenizers: bool = True,
) -> Plan:
    """The plan of a config: its work lines, rows, model loads, seconds and dollars; loads no model.

    Args:
      cfg: the config.
      limit: override N (as ``run --limit``).
      rates: :class:`Throughput` per model (keys as :func:`rate_key`; ``"*"`` for any model): from
        :func:`mi_utils.throughput.load_throughput`, :func:`mi_utils.throughput.calibrate`,
        :func:`mi_utils.recorded.rates_from_timings`, or :func:`mi_utils.throughput.rates_for` (the
        command line's choice, with the committed CPU rates as its default). ``plan`` itself falls back
        to nothing: without a rate a line's time is unknown. The same plan with other rates:
        :meth:`Plan.costed` (the tokens are counted once).
      context_tokens: a typical context length per data set whose files are not here (its tokens are
        otherwise unknown).
      tokenizers: read the models' tokenizers where they are here (``False``: count
        :data:`CHARS_PER_TOKEN` characters per token for every model; quicker, less exact).
    """
    toks: dict = {} if tokenizers else NO_TOKENIZERS
    work: list[Work] = []
    datasets, rows = [], 0
    for data in _datasets(cfg, limit, context_tokens or {}):
        datasets.append({"dataset": data.ds.name, "records": data.n, "task": data.task, "note": data.note})
        settings = cfg.settings_for(data.task)
        for seed in cfg.seeds:
            rows += _rows(cfg, data)
            c = _Counter(cfg, data, seed, toks)
            work += [c.generation(s) for s in settings if s.kind == "lm"]
            for sc in cfg.scorers:
                mine = [s for s in settings if sc.scores(s)]
                if mine:
                    work.append(c.scoring(sc, mine))
            for pred in cfg.predictors_for(data.task):
                if pred is not None:
                    work += [w for w in c.prediction(pred, settings) if w is not None]
    notes = {name: how for name, (_, how) in toks.items()} if tokenizers else {"*": NO_TOKENIZERS["*"][1]}
    return Plan(cfg.name, datasets, [], rows, _loads(cfg), notes, cfg, work).costed(rates or {})


def _action(entry: BackendEntry, spec: ModelSpec) -> str:
    """What the run does to use a model: load its weights, connect to its servers, or call an API."""
    if entry.in_process:
        return "load weights in this process"
    if entry.server:
        return f"connect to {', '.join(spec.urls or [])}"
    return "API client"


def _cost(w: Work, spec: ModelSpec, prices: PriceTable, rates: Mapping[str, Throughput]) -> None:
    """Fill a line's dollars (API models) and seconds (from its model's throughput), in place."""
    if backend_entry(spec.backend).priced:
        w.usd = None if w.prompt_tokens is None else prices.cost(spec.model, int(w.prompt_tokens), int(w.new_tokens))
        w.seconds, w.note = None, f"{w.note}; time of an API is not estimated"
        return
    rate, why = find_rate(rates, spec, w.stage)
    if rate is None:
        w.seconds, w.note = None, f"{w.note}; time unknown: {why}"
    elif any(t is None for t in (w.prompt_tokens, w.new_tokens, w.scored_tokens)):
        w.seconds = None
        w.note = w.note if "tokens unknown" in w.note else f"{w.note}; tokens unknown"
    else:
        w.seconds = rate.seconds(w.prompt_tokens, w.new_tokens, w.scored_tokens)
        w.note = f"{w.note}; {rate.source}"


# ============================================================================ output
def _n(x: float | None, unit: str = "") -> str:
    if x is None:
        return "unknown"
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.1f}{suffix}{unit}"
    return f"{x:.0f}{unit}"


def _hms(s: float | None) -> str:
    if s is None:
        return "unknown"
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.1f} min" if s >= 60 else f"{s:.0f} s"


def format_plan(p: Plan, *, brief: bool = False) -> str:
    """The plan as a readable table: one line per stage of a model, then totals, loads and notes
    (``brief``: without the per-line table, as ``run`` prints it)."""
    head = ("stage", "dataset", "who", "calls", "seqs", "prompt", "new", "scored", "time", "USD")
    rows = [
        (
            w.stage,
            w.dataset if len(w.dataset) < 26 else w.dataset[:24] + "..",
            w.who if len(w.who) < 30 else w.who[:28] + "..",
            str(w.calls),
            str(w.sequences),
            _n(w.prompt_tokens),
            _n(w.new_tokens),
            _n(w.scored_tokens),
            _hms(w.seconds),
            "unknown" if w.usd is None else f"{w.usd:.2f}",
        )
        for w in p.work
    ]
    widths = [max(len(r[k]) for r in [head, *rows]) for k in range(len(head))]
    fmt = "  ".join(f"{{:<{n}}}" if k < 3 else f"{{:>{n}}}" for k, n in enumerate(widths))
    out = [f"plan of {p.name}: {len(p.work)} stage lines, {p.rows} rows, {len(p.loads)} models", ""]
    if not brief:
        out += [fmt.format(*head), *(fmt.format(*r) for r in rows), ""]
    secs, unknown = p.known_seconds()

    def known(key: str, show: Any = _n) -> str:  # the known part, "+ ?" where a line's is unknown
        vals = [getattr(w, key) for w in p.work]
        return show(sum(v for v in vals if v is not None)) + (" + ?" if None in vals else "")

    out.append(
        f"total: {known('prompt_tokens')} prompt, {known('new_tokens')} generated (at max_new_tokens: an upper "
        f"bound), {known('scored_tokens')} scored tokens; wall time "
        + (_hms(secs) if not unknown else f"{_hms(secs)} + {unknown} line(s) unknown")
        + f"; API USD {known('usd', lambda x: f'{x:.2f}')}"
    )
    out.append("data: " + "; ".join(d["note"] for d in p.datasets))
    out.append("tokens: " + "; ".join(sorted(set(p.tokens_note.values()))))
    out.append("model loads:")
    for m in p.loads:
        size = (
            _n(m["params"]).replace("G", "B") + f" params ({m['params_source']})" if m["params"] else m["params_source"]
        )
        gb = f", {m['weights_gb']} GB of weights" if m["weights_gb"] else ""
        out.append(f"  {m['model']} ({m['backend']}, {m['dtype']}): {size}{gb}; {m['action']}")
    notes = sorted({w.note.rsplit("; ", 1)[-1] for w in p.work if "; " in w.note})
    out.append("time and cost sources:")
    out += [f"  {n}" for n in notes]
    return "\n".join(out)
