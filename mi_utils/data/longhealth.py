"""LongHealth (Adams et al. 2024): 20 fictional patients, 400 five-option clinical questions.

File: ``benchmark_v5.json`` from https://github.com/kbressem/LongHealth (``data/``), a dict
``patient_01 .. patient_20``; each patient has ``name``, ``birthday``, ``diagnosis``, ``texts``
(``text_0 .. text_k``: clinical letters) and ``questions`` (20 dicts with ``No``, ``question``,
``answer_a .. answer_e``, ``correct`` = the *text* of the right option, ``answer_location``).

One :class:`Record` per question. The context is the patient's letters, each wrapped as::

    <text_0>
    ...letter...
    </text_0>

and joined with a blank line, in numeric order of the text ids (the same wrapping as public
text re-serialisations of the benchmark). Name, birthday and diagnosis go to ``metadata``.

:func:`load_longhealth_sample` reads the one real patient that the team has
(``minions_health_sample.txt`` + ``minions_health_task.json``; patient_03, one free-form question).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .paths import find_data_file, not_found_error
from .records import DataFormatError, Record

__all__ = [
    "LONGHEALTH_FILE",
    "LONGHEALTH_SHA256",
    "OPTION_KEYS",
    "format_patient_texts",
    "parse_longhealth",
    "load_longhealth",
    "load_longhealth_sample",
]

LONGHEALTH_FILE = "benchmark_v5.json"
# SHA-256 of benchmark_v5.json at kbressem/LongHealth@513ab3088a5ecf91b3967f8c47ae373d1b87378f.
LONGHEALTH_SHA256 = "82d34d9da47ab279d7aa89a6bdf298c0ac79f1e506e1dd0a3ea69a1ad5e2cb45"
OPTION_KEYS: tuple[str, ...] = ("answer_a", "answer_b", "answer_c", "answer_d", "answer_e")

_HOW_TO_GET = (
    "Download data/benchmark_v5.json from https://github.com/kbressem/LongHealth "
    f"(commit 513ab30, SHA-256 {LONGHEALTH_SHA256[:12]}...) and save it as "
    "<data dir>/longhealth/benchmark_v5.json. There is no Hugging Face copy."
)
_SAMPLE_FILES = ("minions_health_sample.txt", "minions_health_task.json")
_TEXT_ID = re.compile(r"text_(\d+)$")


def format_patient_texts(texts: Mapping[str, str]) -> str:
    """Join a patient's letters into one context string.

    Args:
        texts: ``{"text_0": "...", "text_1": "..."}``. Ids of the form ``text_<n>`` are sorted
            numerically (``text_10`` after ``text_9``); otherwise the mapping's order is kept.

    Returns:
        ``"<text_0>\\n{letter}\\n</text_0>\\n\\n<text_1>\\n..."``.
    """
    keys = list(texts)
    if all(_TEXT_ID.match(k) for k in keys):
        keys.sort(key=lambda k: int(_TEXT_ID.match(k).group(1)))
    return "\n\n".join(f"<{k}>\n{texts[k].strip()}\n</{k}>" for k in keys)


def _question_record(patient_id: str, patient: Mapping[str, Any], q: Mapping[str, Any], context: str) -> Record:
    where = f"{patient_id}, question {q.get('No')!r}"
    missing = [k for k in ("question", "correct", *OPTION_KEYS) if k not in q]
    if missing:
        raise DataFormatError(f"LongHealth {where}: missing key(s) {missing}")
    options = tuple(str(q[k]) for k in OPTION_KEYS)
    correct = str(q["correct"])
    if correct not in options:
        stripped = [o.strip() for o in options]
        if correct.strip() not in stripped:
            raise DataFormatError(
                f"LongHealth {where}: `correct` ({correct!r}) is not one of answer_a..answer_e {options!r}; "
                "the file may be a different LongHealth version (expected benchmark_v5.json)"
            )
        correct = options[stripped.index(correct.strip())]
    idx = options.index(correct)
    return Record(
        id=f"{patient_id}_{q.get('No')}",
        context=context,
        query=str(q["question"]),
        answer=correct,
        options=options,
        task="multiple_choice",
        dataset="longhealth",
        metadata={
            "patient_id": patient_id,
            "question_no": q.get("No"),
            "name": patient.get("name"),
            "birthday": patient.get("birthday"),
            "diagnosis": patient.get("diagnosis"),
            "correct_letter": "ABCDE"[idx],
            "answer_location": q.get("answer_location"),
            "text_ids": list(patient["texts"]),
        },
    )


def parse_longhealth(data: Mapping[str, Any], *, patient_ids: Iterable[str] | None = None) -> list[Record]:
    """Turn the parsed ``benchmark_v5.json`` into records (one per question).

    Args:
        data: ``{"patient_01": {...}, ...}`` as in the file.
        patient_ids: Keep only these patients (default: all, in file order).

    Returns:
        Multiple-choice records; ``id`` is ``"<patient_id>_<No>"`` (the paper's convention).

    Raises:
        DataFormatError: If a patient lacks ``texts``/``questions`` or a ``correct`` answer is
            not one of the five options.
    """
    if not isinstance(data, Mapping):
        raise DataFormatError(f"LongHealth: expected a dict of patients, got {type(data).__name__}")
    wanted = None if patient_ids is None else set(patient_ids)
    if wanted is not None and (unknown := wanted - set(data)):
        raise KeyError(f"unknown LongHealth patient id(s) {sorted(unknown)}; known: {sorted(data)}")
    records = []
    for pid, patient in data.items():
        if wanted is not None and pid not in wanted:
            continue
        if not isinstance(patient, Mapping) or "texts" not in patient or "questions" not in patient:
            raise DataFormatError(f"LongHealth {pid}: expected keys 'texts' and 'questions'")
        context = format_patient_texts(patient["texts"])
        records.extend(_question_record(pid, patient, q, context) for q in patient["questions"])
    return records


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_longhealth(
    path: str | Path | None = None,
    *,
    patient_ids: Iterable[str] | None = None,
    limit: int | None = None,
    verify_sha256: bool = False,
) -> list[Record]:
    """Load LongHealth's 400 multiple-choice questions.

    Args:
        path: ``benchmark_v5.json`` or a folder holding it (else ``$MI_UTILS_DATA_DIR/longhealth/``
            and the team data folder are searched).
        patient_ids: Keep only these patients (``["patient_01", ...]``).
        limit: Keep the first ``limit`` records.
        verify_sha256: Check the file against the pinned upstream hash.

    Returns:
        Multiple-choice records (task ``"multiple_choice"``, 5 options).

    Raises:
        DataNotFoundError: If the file is not found (the message says where to get it).
        DataFormatError: On a malformed file or a failed hash check.
    """
    found, searched = find_data_file("longhealth", (LONGHEALTH_FILE,), path)
    if found is None:
        raise not_found_error("longhealth", searched, _HOW_TO_GET)
    if verify_sha256 and (digest := _sha256(found)) != LONGHEALTH_SHA256:
        raise DataFormatError(f"{found}: SHA-256 {digest} != pinned {LONGHEALTH_SHA256}; re-download the file")
    with open(found, encoding="utf-8") as f:
        records = parse_longhealth(json.load(f), patient_ids=patient_ids)
    return records if limit is None else records[:limit]


def load_longhealth_sample(path: str | Path | None = None) -> list[Record]:
    """Load the one real LongHealth patient available offline (from HazyResearch/minions).

    The notes of patient_03 (Mr. John Williams) with one free-form question rewritten from a
    LongHealth MCQ ("What kind of contrast agent was used?" -> "Omnipaque 240").

    Args:
        path: Folder holding ``minions_health_sample.txt`` and ``minions_health_task.json``
            (else ``longhealth/`` under ``$MI_UTILS_DATA_DIR`` or the team data folder).

    Returns:
        A one-element list: a ``"free_form"`` record; ``metadata["answers"]`` lists every
        accepted answer.

    Raises:
        DataNotFoundError: If either file is missing.
    """
    txt, searched = find_data_file("longhealth", _SAMPLE_FILES[:1], path)
    task = None if txt is None else txt.parent / _SAMPLE_FILES[1]
    if txt is None or not task.is_file():
        raise not_found_error(
            "longhealth_sample",
            [*searched, *([task] if task is not None else [])],
            "The files are examples/health/sample.txt and task.json of https://github.com/HazyResearch/minions "
            "(commit 41caffb), saved as minions_health_sample.txt and minions_health_task.json.",
            subdir="longhealth",
        )
    context = txt.read_text(encoding="utf-8").strip()
    qa = json.loads(task.read_text(encoding="utf-8"))
    answers = qa["answer"] if isinstance(qa["answer"], list) else [qa["answer"]]
    if not answers:
        raise DataFormatError(f"{task}: empty answer list")
    return [
        Record(
            id="longhealth_sample_patient_03",
            context=context,
            query=str(qa["question"]),
            answer=str(answers[0]),
            task="free_form",
            dataset="longhealth_sample",
            metadata={
                "answers": [str(a) for a in answers],
                "patient_id": "patient_03",
                "source": "HazyResearch/minions@41caffb examples/health",
            },
        )
    ]
