"""FinanceBench (Islam et al. 2023): questions about SEC filings, free-form answers.

Local files (folder ``financebench/`` under a data root, see :mod:`mi_utils.data.paths`):

* ``financebench_open_source.jsonl`` (required): the 150 open-source questions, each with an
  ``evidence`` list of ``{evidence_text, doc_name, evidence_page_num, evidence_text_full_page}``
  (``evidence_page_num`` is zero-based);
* ``financebench_doc_pages.jsonl.gz`` (optional): ``{doc_name, num_pages, pages: [str]}`` per
  filing, page ``i`` at index ``i``;
* ``financebench_document_information.jsonl`` (optional): ``doc_type``, ``doc_period``, sector.

Without local files, ``PatronusAI/financebench`` on the Hugging Face hub is tried (needs the
optional ``datasets`` package and network); it has no page text, so contexts fall back to the
evidence pages.

Context construction (the paper's ``evidence_only`` setting): keep questions with exactly one
evidence item; start from the evidence page and add whole pages alternately *after* and
*before* it, stopping at the first page that would push the total over ``max_context_tokens``
(21,500 in the paper: 32,000 - 10,500 for prompt and answer). When one side reaches the start
or end of the document, the other side continues alone. The evidence page is always kept,
even if it alone exceeds the budget (``metadata["over_budget"]``). Pages are joined in
document order with :data:`PAGE_SEPARATOR`; the budget counts page tokens only.

When a filing's pages are not available (10 of the 84 filings in the public sample), the
context is the evidence items' ``evidence_text_full_page`` and ``metadata["context_source"]``
says ``"evidence_pages_only"``.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .paths import find_data_file, hf_load_dataset, not_found_error
from .records import DataFormatError, Record, approx_token_count

__all__ = [
    "QUESTIONS_FILE",
    "PAGES_FILE",
    "DOC_INFO_FILE",
    "HF_REPO",
    "DEFAULT_MAX_CONTEXT_TOKENS",
    "PAGE_SEPARATOR",
    "select_pages_around",
    "build_page_context",
    "financebench_records",
    "read_financebench_sources",
    "load_financebench",
]

QUESTIONS_FILE = "financebench_open_source.jsonl"
PAGES_FILE = "financebench_doc_pages.jsonl.gz"
DOC_INFO_FILE = "financebench_document_information.jsonl"
HF_REPO = "PatronusAI/financebench"
DEFAULT_MAX_CONTEXT_TOKENS = 21_500
PAGE_SEPARATOR = "\n\n"

_HOW_TO_GET = (
    "Get data/financebench_open_source.jsonl (and, for whole-page contexts, per-page text of the PDFs "
    "in pdfs/, as financebench_doc_pages.jsonl.gz with {doc_name, num_pages, pages}) from "
    "https://github.com/patronus-ai/financebench, into <data dir>/financebench/; or install `datasets` "
    f"and go online to use {HF_REPO}."
)


def select_pages_around(page_tokens: Sequence[int], evidence_page: int, max_context_tokens: int) -> list[int]:
    """Choose whole pages around the evidence page within a token budget.

    Args:
        page_tokens: Token count of every page of the document.
        evidence_page: Zero-based index of the evidence page (always selected).
        max_context_tokens: Budget for the sum of the selected pages' token counts.

    Returns:
        Selected page indices in ascending order: the evidence page, then pages added
        alternately after / before it until the next one would exceed the budget.

    Raises:
        IndexError: If ``evidence_page`` is not a page of the document.
    """
    n = len(page_tokens)
    if not 0 <= evidence_page < n:
        raise IndexError(f"evidence page {evidence_page} outside a {n}-page document")
    total = page_tokens[evidence_page]
    lo = hi = evidence_page
    after = True
    while lo > 0 or hi < n - 1:
        side_open = hi < n - 1 if after else lo > 0
        if side_open:
            nxt = hi + 1 if after else lo - 1
            if total + page_tokens[nxt] > max_context_tokens:
                break
            total += page_tokens[nxt]
            hi, lo = (nxt, lo) if after else (hi, nxt)
        after = not after
    return list(range(lo, hi + 1))


def build_page_context(
    pages: Sequence[str],
    evidence_page: int,
    max_context_tokens: int = DEFAULT_MAX_CONTEXT_TOKENS,
    count_tokens: Callable[[str], int] = approx_token_count,
) -> tuple[str, list[int], int]:
    """Build a context of whole pages around the evidence page.

    Args:
        pages: The document's page texts (zero-based).
        evidence_page: Index of the evidence page.
        max_context_tokens: Token budget.
        count_tokens: Token counter (default :func:`~mi_utils.data.records.approx_token_count`,
            ``len(text) / 4``); pass a real tokenizer's count for exact budgets.

    Returns:
        ``(context, selected_page_indices, n_tokens)`` where ``n_tokens`` sums the pages' counts.
    """
    tokens = [count_tokens(p) for p in pages]
    selected = select_pages_around(tokens, evidence_page, max_context_tokens)
    return PAGE_SEPARATOR.join(pages[i] for i in selected), selected, sum(tokens[i] for i in selected)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def financebench_records(
    questions: Iterable[Mapping[str, Any]],
    doc_pages: Mapping[str, Sequence[str]] | None = None,
    doc_info: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    max_context_tokens: int = DEFAULT_MAX_CONTEXT_TOKENS,
    count_tokens: Callable[[str], int] = approx_token_count,
    single_evidence_only: bool = True,
    limit: int | None = None,
) -> list[Record]:
    """Turn FinanceBench question dicts into records.

    Args:
        questions: Dicts with ``financebench_id``, ``doc_name``, ``question``, ``answer``,
            ``evidence`` (list of dicts; the document key may be ``doc_name`` or
            ``evidence_doc_name``).
        doc_pages: ``doc_name -> page texts``; documents absent here use the evidence pages.
        doc_info: ``doc_name -> document information`` (adds ``doc_type``, ``doc_period``).
        max_context_tokens: Token budget of the page window.
        count_tokens: Token counter.
        single_evidence_only: Keep only questions with exactly one evidence item (the paper).
        limit: Stop after ``limit`` records.

    Returns:
        Free-form records. Metadata: ``financebench_id``, ``doc_name``, ``company``,
        ``question_type``, ``evidence_pages``, ``context_pages``, ``context_source``
        (``"document_pages"`` or ``"evidence_pages_only"``), ``n_context_tokens``,
        ``over_budget``, ``evidence_text``, ``justification`` and document information.

    Raises:
        DataFormatError: If a question lacks evidence or a required key.
    """
    doc_pages = doc_pages or {}
    doc_info = doc_info or {}
    records = []
    for q in questions:
        if limit is not None and len(records) >= limit:
            break
        qid = q.get("financebench_id", "?")
        evidence = list(q.get("evidence") or [])
        if not evidence:
            raise DataFormatError(f"FinanceBench {qid}: no evidence items")
        if single_evidence_only and len(evidence) != 1:
            continue
        try:
            doc = q["doc_name"]
            ev_pages = [int(e["evidence_page_num"]) for e in evidence]
        except KeyError as e:
            raise DataFormatError(f"FinanceBench {qid}: missing key {e}") from e
        pages = doc_pages.get(doc)
        if pages is not None and 0 <= ev_pages[0] < len(pages):
            context, selected, n_tok = build_page_context(pages, ev_pages[0], max_context_tokens, count_tokens)
            source = "document_pages"
        else:
            texts = [e.get("evidence_text_full_page") or e.get("evidence_text", "") for e in evidence]
            context = PAGE_SEPARATOR.join(texts)
            selected, n_tok = sorted(set(ev_pages)), sum(count_tokens(t) for t in texts)
            source = "evidence_pages_only"
        info = doc_info.get(doc, {})
        records.append(
            Record(
                id=str(qid),
                context=context,
                query=str(q["question"]),
                answer=str(q["answer"]),
                task="free_form",
                dataset="financebench",
                metadata={
                    "financebench_id": qid,
                    "doc_name": doc,
                    "company": q.get("company"),
                    "question_type": q.get("question_type"),
                    "question_reasoning": q.get("question_reasoning"),
                    "evidence_pages": ev_pages,
                    "context_pages": selected,
                    "context_source": source,
                    "n_context_tokens": n_tok,
                    "max_context_tokens": max_context_tokens,
                    "over_budget": n_tok > max_context_tokens,
                    "evidence_text": [e.get("evidence_text") for e in evidence],
                    "justification": q.get("justification"),
                    "doc_type": info.get("doc_type", q.get("doc_type")),
                    "doc_period": info.get("doc_period", q.get("doc_period")),
                    "gics_sector": info.get("gics_sector", q.get("gics_sector")),
                },
            )
        )
    return records


def _hf_questions(dataset: Any) -> list[dict[str, Any]]:
    out = []
    for row in dataset:
        row = dict(row)
        row["evidence"] = [
            {**e, "doc_name": e.get("doc_name", e.get("evidence_doc_name", row.get("doc_name")))}
            for e in row.get("evidence") or []
        ]
        out.append(row)
    return out


def read_financebench_sources(
    path: str | Path | None = None, *, hf: bool = True
) -> tuple[list[dict[str, Any]], dict[str, list[str]], dict[str, dict[str, Any]]]:
    """Read the FinanceBench questions, page texts and document information.

    Args:
        path: ``financebench_open_source.jsonl`` or its folder (the optional pages and
            document-information files are looked up next to it).
        hf: Try ``PatronusAI/financebench`` via ``datasets`` when no local file is found.

    Returns:
        ``(questions, doc_pages, doc_info)``: the question dicts in file order,
        ``doc_name -> page texts`` and ``doc_name -> document information`` (both empty when
        the files are absent or the questions came from the hub).

    Raises:
        DataNotFoundError: If no local file is found and the Hugging Face fallback fails.
    """
    found, searched = find_data_file("financebench", (QUESTIONS_FILE,), path)
    doc_pages: dict[str, list[str]] = {}
    doc_info: dict[str, dict[str, Any]] = {}
    if found is not None:
        questions = _read_jsonl(found)
        if (pages_path := found.parent / PAGES_FILE).is_file():
            doc_pages = {d["doc_name"]: d["pages"] for d in _read_jsonl(pages_path)}
        if (info_path := found.parent / DOC_INFO_FILE).is_file():
            doc_info = {d["doc_name"]: d for d in _read_jsonl(info_path)}
    else:
        ds, reason = hf_load_dataset(HF_REPO, split="train") if hf else (None, "disabled (hf=False)")
        if ds is None:
            raise not_found_error("financebench", searched, _HOW_TO_GET, reason)
        questions = _hf_questions(ds)
    return questions, doc_pages, doc_info


def load_financebench(
    path: str | Path | None = None,
    *,
    max_context_tokens: int = DEFAULT_MAX_CONTEXT_TOKENS,
    count_tokens: Callable[[str], int] = approx_token_count,
    single_evidence_only: bool = True,
    limit: int | None = None,
    hf: bool = True,
) -> list[Record]:
    """Load FinanceBench with page-window contexts around the evidence.

    Args:
        path: ``financebench_open_source.jsonl`` or its folder (the optional pages and
            document-information files are looked up next to it).
        max_context_tokens: Token budget of a context (paper: 21,500).
        count_tokens: Token counter, ``str -> int`` (default: ``ceil(len/4)``).
        single_evidence_only: Keep only single-evidence questions (paper: yes; 115 of 150).
        limit: Keep the first ``limit`` records.
        hf: Try ``PatronusAI/financebench`` via ``datasets`` when no local file is found.

    Returns:
        Free-form records (see :func:`financebench_records` for the metadata).

    Raises:
        DataNotFoundError: If no local file is found and the Hugging Face fallback fails.
    """
    questions, doc_pages, doc_info = read_financebench_sources(path, hf=hf)
    records = financebench_records(
        questions,
        doc_pages,
        doc_info,
        max_context_tokens=max_context_tokens,
        count_tokens=count_tokens,
        single_evidence_only=single_evidence_only,
        limit=limit,
    )
    return records
