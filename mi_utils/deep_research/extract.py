"""Stage 3, extraction: the compressor reads one source for one (query, sub-task) and keeps what matters.

:func:`extract` runs :func:`mi_utils.prompts.extraction_messages` for every (plan item, source),
concurrently on backends that serve parallel requests, reading finished extractions back from the
run's store; :func:`parse_extraction` reads the JSON reply ``{"explanation", "relevant"}`` (or its
fields from broken JSON). Replies are data: parsed, never executed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from tqdm.auto import tqdm

from ..answers import extract_json_objects, parse_bool
from ..backends.base import Backend
from ..prompts import extraction_messages
from .cache import StageCache, extraction_key
from .calls import CallRecord, HasCall, Pricing, call_model, with_seed
from .config import DeepResearchConfig
from .plan import Plan, PlanItem, ci_get
from .retrieval import Source
from .tasks import ResearchTask

__all__ = ["Extraction", "parse_extraction", "extract", "kept_findings"]


@dataclass
class Extraction(HasCall):
    """The compressor's reading of one source for one (query, sub-task).

    Attributes:
      query_index: the plan item.
      source_id, title, url: the source.
      text: the extracted facts (the reply's ``explanation``; the whole reply when unparsed).
      relevant: the reply's ``relevant`` (``None``: not readable).
      method: ``"json"``, ``"regex"`` (fields read from broken JSON) or ``"none"``.
      parse_error: why the reply could not be fully read.
      input_chars: characters of source text the compressor saw.
      call: the :class:`CallRecord`.
      raw: the compressor's reply, cut at 4,000 characters.
    """

    query_index: int
    source_id: str
    title: str
    url: str | None
    text: str
    relevant: bool | None
    method: str
    parse_error: str | None
    input_chars: int
    call: CallRecord
    raw: str = ""


_RELEVANT_TRUE = frozenset({"true", "yes", "y", "1", "relevant"})
_RELEVANT_FALSE = frozenset({"false", "no", "n", "0", "irrelevant", "not relevant", "none"})


_RELEVANT_RE = re.compile(r"""["']?relevant["']?\s*[:=]\s*["']?(true|false|yes|no)\b""", re.I)
_EXPLANATION_RE = re.compile(r"""["']?explanation["']?\s*[:=]\s*"((?:[^"\\]|\\.)*)("|$)""", re.I | re.S)


def parse_extraction(text: str) -> tuple[str, bool | None, str, str | None]:
    """Read ``{"explanation", "relevant"}`` from a compressor's reply. Never raises; never evaluates.

    JSON anywhere in the reply first; then the two fields from broken JSON (``"relevant": true``,
    ``"explanation": "..."`` cut off by the token limit); otherwise the whole reply is the text and
    ``relevant`` is ``None``.

    Returns:
      ``(text, relevant, method, error)``.
    """
    if not isinstance(text, str) or not text.strip():
        return "", None, "none", "empty reply"
    for obj in extract_json_objects(text):
        expl, rel = (
            ci_get(obj, ("explanation", "facts", "extraction")),
            ci_get(obj, ("relevant", "is_relevant", "relevance")),
        )
        if expl is None and rel is None:
            continue
        relevant = parse_bool(rel, _RELEVANT_TRUE, _RELEVANT_FALSE)
        body = expl if isinstance(expl, str) else (json.dumps(expl, ensure_ascii=False) if expl is not None else "")
        err = None if relevant is not None else f"'relevant' is not a boolean ({rel!r})"
        return _unplaceholder(body.strip(), err, "json", relevant)
    m_rel, m_exp = _RELEVANT_RE.search(text), _EXPLANATION_RE.search(text)
    if m_rel or m_exp:
        relevant = parse_bool(m_rel.group(1), _RELEVANT_TRUE, _RELEVANT_FALSE) if m_rel else None
        body = m_exp.group(1).replace('\\"', '"').replace("\\n", "\n").strip() if m_exp else ""
        err = "malformed JSON; fields read with regular expressions" + ("" if m_rel else ", no 'relevant'")
        return _unplaceholder(body, err, "regex", relevant)
    return text.strip()[:4000], None, "none", "no JSON object with 'explanation' / 'relevant'"


def _unplaceholder(
    body: str, err: str | None, method: str, relevant: bool | None
) -> tuple[str, bool | None, str, str | None]:
    """Drop an explanation that is the prompt's placeholder copied back (small models do this)."""
    if body.startswith("<") and "relevant facts from the source" in body.lower():
        return "", relevant, method, "; ".join(x for x in (err, "the explanation is the prompt's placeholder") if x)
    return body, relevant, method, err


def _extract_one(
    compressor: Backend,
    task: ResearchTask,
    item: PlanItem,
    qi: int,
    source: Source,
    config: DeepResearchConfig,
    pricing: Pricing,
) -> Extraction:
    msgs = extraction_messages(task.prompt, item.query, item.subtask, source)
    text, call = call_model(
        compressor,
        msgs,
        with_seed(config.extract_params, config.seed),
        stage="extract",
        role="compressor",
        pricing=pricing,
    )
    body, relevant, method, err = parse_extraction(text)
    return Extraction(
        qi, source.id, source.title, source.url, body, relevant, method, err, len(source.text), call, text[:4000]
    )


def extract(
    compressor: Backend,
    task: ResearchTask,
    plan: Plan,
    sources: Sequence[Sequence[Source]],
    config: DeepResearchConfig,
    pricing: Pricing,
    *,
    cache: StageCache | None = None,
    progress: bool = False,
) -> list[Extraction]:
    """The compressor's extraction for every (plan item, source), in plan order.

    With ``config.compressor_concurrency > 1`` the calls run in a thread pool (for servers and
    APIs that serve parallel requests; keep 1 for an in-process model). With a ``cache`` (the
    run's store) finished extractions are read back and new ones written as they complete.
    """
    jobs = [(qi, item, s) for qi, (item, srcs) in enumerate(zip(plan.items, sources)) for s in srcs]
    keys = [extraction_key(compressor, task, item, s, config) for _, item, s in jobs]
    out: list[Extraction | None] = [None] * len(jobs)
    todo = []
    for j, key in enumerate(keys):
        row = cache.get(key) if cache is not None else None
        if row is not None:
            out[j] = Extraction.from_dict(row["extraction"])
        else:
            todo.append(j)
    bar = tqdm(
        total=len(todo), desc=f"extract ({compressor.model_name})", disable=not progress or not todo, leave=False
    )

    def done(j: int, ex: Extraction) -> None:
        out[j] = ex
        if cache is not None:
            cache.put(
                {
                    "key": keys[j],
                    "kind": "extraction",
                    "task_id": task.id,
                    "compressor": compressor.model_name,
                    "extraction": ex.to_dict(),
                }
            )
        bar.update()

    try:
        if config.compressor_concurrency <= 1:
            for j in todo:
                qi, item, s = jobs[j]
                done(j, _extract_one(compressor, task, item, qi, s, config, pricing))
        else:
            with ThreadPoolExecutor(max_workers=config.compressor_concurrency) as pool:
                futs = {
                    pool.submit(_extract_one, compressor, task, jobs[j][1], jobs[j][0], jobs[j][2], config, pricing): j
                    for j in todo
                }
                for fut in as_completed(futs):
                    done(futs[fut], fut.result())
    finally:
        bar.close()
    return out  # type: ignore[return-value]


def kept_findings(extractions: Sequence[Extraction], keep_unmarked: bool) -> list[Extraction]:
    """The findings the synthesis reads: non-empty, marked relevant (or unreadable, with ``keep_unmarked``)."""
    return [e for e in extractions if e.text.strip() and (e.relevant is True or (keep_unmarked and e.relevant is None))]
