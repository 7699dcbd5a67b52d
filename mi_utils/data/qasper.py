"""QASPER (Dasigi et al. 2021): questions about NLP papers; answerable extractive ones only.

Local file: the official ``qasper-{train,dev,test}-v0.3.json`` (AllenAI,
https://allenai.org/data/qasper), a dict ``paper_id -> {title, abstract, full_text: [{section_name,
paragraphs}], figures_and_tables: [{caption, file}], qas: [{question, question_id, answers:
[{answer: {unanswerable, extractive_spans, yes_no, free_form_answer, evidence,
highlighted_evidence}}]}]}``. Without it, ``allenai/qasper`` on the Hugging Face hub is tried
(columnar layout, converted to the official one).

A question is kept when some annotator's answer is answerable with non-empty extractive spans;
the first such answer (spans joined with ``", "``) is the reference (as in the paper's loader);
``metadata["answers"]`` lists every annotator's extractive answer.

Context (one per paper)::

    ### Introduction

    paragraph 1

    paragraph 2

    ### Method
    ...

followed, when ``include_captions``, by a ``### Figures and tables`` section of captions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .paths import find_data_file, hf_load_dataset, not_found_error
from .records import DataFormatError, Record

__all__ = ["HF_REPO", "qasper_context", "parse_qasper", "hf_row_to_official", "load_qasper"]

HF_REPO = "allenai/qasper"
_SPLIT_FILE = {"train": "train", "validation": "dev", "dev": "dev", "test": "test"}
_HOW_TO_GET = (
    "Download qasper-train-dev-v0.3.tgz (or qasper-test-and-evaluator-v0.3.tgz) from "
    "https://allenai.org/data/qasper and put qasper-<split>-v0.3.json into <data dir>/qasper/; "
    f"or install `datasets` and go online to use {HF_REPO}."
)


def qasper_context(paper: Mapping[str, Any], *, include_captions: bool = True) -> str:
    """Format a paper's sections as ``### name`` blocks of paragraphs.

    Args:
        paper: One official-format paper dict.
        include_captions: Append figure and table captions as a final section.

    Returns:
        The context string.
    """
    blocks = []
    for sec in paper.get("full_text") or []:
        paras = [p.strip() for p in sec.get("paragraphs") or [] if p and p.strip()]
        name = (sec.get("section_name") or "").strip()
        blocks.append("\n\n".join([f"### {name}", *paras]))
    captions = [f.get("caption", "").strip() for f in paper.get("figures_and_tables") or []]
    if include_captions and any(captions):
        blocks.append("\n\n".join(["### Figures and tables", *[c for c in captions if c]]))
    return "\n\n".join(blocks)


def _extractive(answer: Mapping[str, Any]) -> str | None:
    if answer.get("unanswerable"):
        return None
    spans = [s for s in answer.get("extractive_spans") or [] if s and s.strip()]
    return ", ".join(spans) if spans else None


def parse_qasper(data: Mapping[str, Mapping[str, Any]], *, include_captions: bool = True) -> list[Record]:
    """Records for the answerable extractive questions of official-format QASPER data.

    Args:
        data: ``paper_id -> paper dict``.
        include_captions: See :func:`qasper_context`.

    Returns:
        Free-form records, ``id`` = the question id (or ``"<paper_id>_q<i>"``).

    Raises:
        DataFormatError: If a paper lacks ``full_text`` or ``qas``.
    """
    records = []
    for paper_id, paper in data.items():
        if "full_text" not in paper or "qas" not in paper:
            raise DataFormatError(f"QASPER paper {paper_id!r}: expected keys 'full_text' and 'qas'")
        context = None
        for i, qa in enumerate(paper["qas"]):
            answers = [a.get("answer", a) for a in qa.get("answers") or []]
            extractive = [(a, s) for a in answers if (s := _extractive(a)) is not None]
            if not extractive:
                continue
            first, text = extractive[0]
            context = context if context is not None else qasper_context(paper, include_captions=include_captions)
            records.append(
                Record(
                    id=str(qa.get("question_id") or f"{paper_id}_q{i}"),
                    context=context,
                    query=str(qa["question"]),
                    answer=text,
                    task="free_form",
                    dataset="qasper",
                    metadata={
                        "paper_id": paper_id,
                        "title": paper.get("title"),
                        "answers": [s for _, s in extractive],
                        "evidence": list(first.get("evidence") or []),
                        "highlighted_evidence": list(first.get("highlighted_evidence") or []),
                    },
                )
            )
    return records


def _columns_to_rows(cols: Mapping[str, list]) -> list[dict[str, Any]]:
    keys = list(cols)
    return [dict(zip(keys, vals)) for vals in zip(*(cols[k] for k in keys))] if keys else []


def hf_row_to_official(row: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Convert one ``allenai/qasper`` row (columnar nested fields) to the official layout.

    Args:
        row: A Hugging Face row with ``id``, ``title``, ``abstract``, ``full_text``
            (``{section_name: [...], paragraphs: [[...]]}``), ``qas`` (``{question: [...],
            question_id: [...], answers: [{answer: [...], ...}]}``), ``figures_and_tables``.

    Returns:
        ``(paper_id, official_paper_dict)``.
    """
    qas_cols = dict(row.get("qas") or {})
    qas = []
    for qa in _columns_to_rows(qas_cols):
        ans = qa.get("answers") or {}
        qa["answers"] = [{"answer": a} for a in (ans.get("answer") or [])] if isinstance(ans, Mapping) else ans
        qas.append(qa)
    return str(row["id"]), {
        "title": row.get("title"),
        "abstract": row.get("abstract"),
        "full_text": _columns_to_rows(row.get("full_text") or {}),
        "figures_and_tables": _columns_to_rows(row.get("figures_and_tables") or {}),
        "qas": qas,
    }


def load_qasper(
    path: str | Path | None = None,
    *,
    split: str = "validation",
    include_captions: bool = True,
    limit: int | None = None,
    hf: bool = True,
) -> list[Record]:
    """Load QASPER's answerable extractive questions.

    Args:
        path: An official-format JSON file or a folder holding ``qasper-<split>-v0.3.json``.
        split: ``"train"``, ``"validation"`` (= the official ``dev`` file) or ``"test"``.
        include_captions: Append figure/table captions to the context.
        limit: Keep the first ``limit`` records.
        hf: Try ``allenai/qasper`` via ``datasets`` when no local file is found.

    Returns:
        Free-form records.

    Raises:
        ValueError: On an unknown split.
        DataNotFoundError: If no local file is found and the Hugging Face fallback fails.
    """
    if split not in _SPLIT_FILE:
        raise ValueError(f"unknown QASPER split {split!r}; use one of {sorted(_SPLIT_FILE)}")
    found, searched = find_data_file("qasper", (f"qasper-{_SPLIT_FILE[split]}-v0.3.json",), path)
    if found is not None:
        with open(found, encoding="utf-8") as f:
            data = json.load(f)
    else:
        hf_split = "validation" if split == "dev" else split
        ds, reason = hf_load_dataset(HF_REPO, split=hf_split) if hf else (None, "disabled (hf=False)")
        if ds is None:
            raise not_found_error("qasper", searched, _HOW_TO_GET, reason)
        data = dict(hf_row_to_official(row) for row in ds)
    records = parse_qasper(data, include_captions=include_captions)
    return records if limit is None else records[:limit]
