"""FineWeb (Penedo et al. 2024): query-agnostic compression of long web documents.

The paper streams English FineWeb documents of 15k-28k tokens, has an LM write QA and
"generation" pairs about each, and scores the predictor's perplexity of the reference
(task ``"perplexity"``). Those pairs are not published.

* **Local file** (``fineweb/`` under a data root, or ``path=``): ``.jsonl`` / ``.json`` /
  ``.csv`` / ``.feather`` rows with ``context`` (or ``text``), ``query`` (or ``question``) and
  ``answer``; optional ``id`` / ``doc_id``; other columns (``topic``, ``type``) go to metadata.
* **Hugging Face** (``HuggingFaceFW/fineweb`` ``sample-10BT``, optional ``datasets`` package,
  network): as there is no published QA, a *continuation proxy* is used: the document's last
  ``answer_chars`` characters (from a line break) are the answer, the rest is the context, and
  the query is :data:`CONTINUATION_QUERY` (``metadata["qa_source"]``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ._table import read_rows, rows_to_records
from .paths import find_data_file, hf_load_dataset, not_found_error
from .records import Record

__all__ = ["HF_REPO", "HF_CONFIG", "LOCAL_FILES", "CONTINUATION_QUERY", "fineweb_records_from_hf", "load_fineweb"]

HF_REPO = "HuggingFaceFW/fineweb"
HF_CONFIG = "sample-10BT"
LOCAL_FILES = ("fineweb.jsonl", "fineweb_questions.jsonl", "fineweb_questions.feather", "fineweb.csv")
CONTINUATION_QUERY = "Continue the document from where it stops."
_HOW_TO_GET = (
    f"Put a table of (context, query, answer) rows as one of {LOCAL_FILES} into <data dir>/fineweb/ "
    f"(the paper's fineweb_questions.feather works), or install `datasets` and go online to build "
    f"continuation records from {HF_REPO}."
)


def _split_for_continuation(text: str, answer_chars: int) -> tuple[str, str]:
    cut = max(0, len(text) - answer_chars)
    nl = text.rfind("\n", 0, cut + 1)
    cut = nl if nl > len(text) // 2 else cut
    return text[:cut].rstrip(), text[cut:].strip()


def fineweb_records_from_hf(
    rows: Iterable[dict[str, Any]],
    *,
    n_docs: int = 100,
    min_tokens: int = 15_000,
    max_tokens: int = 28_000,
    answer_chars: int = 2_000,
) -> list[Record]:
    """Continuation-proxy records from raw FineWeb rows.

    Args:
        rows: FineWeb rows (``id``, ``text``, ``language``, ``token_count``, ``url``).
        n_docs: Documents to keep.
        min_tokens: Minimum ``token_count`` (paper: 15,000).
        max_tokens: Maximum ``token_count`` (paper: 28,000).
        answer_chars: Length of the held-out continuation.

    Returns:
        ``"perplexity"`` records, one per document.
    """
    records = []
    for r in rows:
        if len(records) >= n_docs:
            break
        if r.get("language", "en") != "en" or not min_tokens <= int(r.get("token_count", 0)) <= max_tokens:
            continue
        context, answer = _split_for_continuation(str(r["text"]), answer_chars)
        if not context or not answer:
            continue
        records.append(
            Record(
                id=str(r.get("id", f"fineweb_{len(records)}")),
                context=context,
                query=CONTINUATION_QUERY,
                answer=answer,
                task="perplexity",
                dataset="fineweb",
                metadata={"url": r.get("url"), "token_count": int(r["token_count"]), "qa_source": "continuation_proxy"},
            )
        )
    return records


def load_fineweb(
    path: str | Path | None = None,
    *,
    limit: int | None = None,
    hf: bool = True,
    n_docs: int = 100,
    answer_chars: int = 2_000,
) -> list[Record]:
    """Load FineWeb records for query-agnostic compression (task ``"perplexity"``).

    Args:
        path: A local table file or a folder holding one of :data:`LOCAL_FILES`.
        limit: Keep the first ``limit`` records.
        hf: Build continuation records from ``HuggingFaceFW/fineweb`` when no local file is found.
        n_docs: Documents to take from the hub (ignored for local files).
        answer_chars: Held-out continuation length for hub records.

    Returns:
        ``"perplexity"`` records.

    Raises:
        DataNotFoundError: If no local file is found and the Hugging Face fallback fails.
    """
    found, searched = find_data_file("fineweb", LOCAL_FILES, path)
    if found is not None:
        records = rows_to_records(read_rows(found), "fineweb", found.name)
    else:
        ds, reason = (
            hf_load_dataset(HF_REPO, name=HF_CONFIG, split="train", streaming=True)
            if hf
            else (None, "disabled (hf=False)")
        )
        if ds is None:
            raise not_found_error("fineweb", searched, _HOW_TO_GET, reason)
        records = fineweb_records_from_hf(ds, n_docs=n_docs, answer_chars=answer_chars)
    return records if limit is None else records[:limit]
