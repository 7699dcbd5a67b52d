"""The one record schema shared by every data set, plus JSONL helpers and errors.

A :class:`Record` is one (context X, query Q, answer Y) triple:

* ``task == "multiple_choice"``: ``options`` holds the choices and ``answer`` is the *text*
  of the right one (``correct_index`` gives its position);
* ``task == "free_form"``: ``answer`` is a reference answer, ``options`` is ``None``;
* ``task == "perplexity"``: ``answer`` is the reference text whose perplexity the predictor
  is scored on (query-agnostic compression: WildChat, FineWeb).

Records are immutable and round-trip through JSON (:meth:`Record.to_dict`,
:meth:`Record.from_dict`, :func:`write_jsonl`, :func:`read_jsonl`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "TASKS",
    "Record",
    "DataNotFoundError",
    "DataFormatError",
    "approx_token_count",
    "read_jsonl",
    "write_jsonl",
    "records_to_jsonl",
]

TASKS: tuple[str, ...] = ("multiple_choice", "free_form", "perplexity")


class DataNotFoundError(FileNotFoundError):
    """A data set's files are not on this machine (and could not be fetched).

    The message says where to get the data and which argument / environment variable points
    the loader at it.
    """


class DataFormatError(ValueError):
    """A data file was found but does not have the expected structure."""


@dataclass(frozen=True)
class Record:
    """One example: long context ``X``, query ``Q`` and reference answer ``Y``.

    Attributes:
        id: Identifier, unique within its data set.
        context: The long context the compressor reads.
        query: The question (for query-agnostic tasks, an instruction or the follow-up turn).
        answer: Reference answer. For multiple choice, the text of the right option.
        options: The choices of a multiple-choice question (``None`` otherwise). Lists are
            converted to tuples.
        task: ``"multiple_choice"``, ``"free_form"`` or ``"perplexity"``.
        dataset: Name of the data set (``"longhealth"``, ``"synthetic_clinical"``, ...).
        metadata: Free-form, JSON-serialisable extra fields (not part of the hash).

    Raises:
        ValueError: On an unknown task, a multiple-choice record whose answer is not one of
            its options, or options on a task that is not multiple choice.
    """

    id: str
    context: str
    query: str
    answer: str
    options: tuple[str, ...] | None = None
    task: str = "free_form"
    dataset: str = ""
    metadata: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        for name in ("id", "context", "query", "answer", "task", "dataset"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"Record.{name} must be a str, got {type(getattr(self, name)).__name__}")
        if self.task not in TASKS:
            raise ValueError(f"unknown task {self.task!r} for record {self.id!r}; use one of {TASKS}")
        if self.options is not None:
            object.__setattr__(self, "options", tuple(self.options))
        if self.task == "multiple_choice":
            if not self.options or len(self.options) < 2:
                raise ValueError(f"multiple-choice record {self.id!r} needs at least two options")
            if self.answer not in self.options:
                raise ValueError(
                    f"record {self.id!r}: answer {self.answer!r} is not one of its options {self.options!r}; "
                    "for multiple choice, `answer` must be the text of the right option"
                )
        elif self.options is not None:
            raise ValueError(
                f"record {self.id!r} has options but task {self.task!r}; set task='multiple_choice' or options=None"
            )
        if not isinstance(self.metadata, dict):
            object.__setattr__(self, "metadata", dict(self.metadata))

    @property
    def correct_index(self) -> int | None:
        """Position of the right option (first match) for multiple choice, else ``None``."""
        if self.options is None:
            return None
        return self.options.index(self.answer)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view (options as a list), in a fixed key order.

        Returns:
            A dict accepted by :meth:`from_dict`.
        """
        return {
            "id": self.id,
            "dataset": self.dataset,
            "task": self.task,
            "query": self.query,
            "options": None if self.options is None else list(self.options),
            "answer": self.answer,
            "context": self.context,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Record:
        """Inverse of :meth:`to_dict`.

        Args:
            d: A mapping with at least ``id``, ``context``, ``query`` and ``answer``.

        Returns:
            The record.

        Raises:
            DataFormatError: If a required key is missing.
        """
        missing = [k for k in ("id", "context", "query", "answer") if k not in d]
        if missing:
            raise DataFormatError(f"record dict lacks the key(s) {missing}; present: {sorted(d)}")
        opts = d.get("options")
        return cls(
            id=str(d["id"]),
            context=d["context"],
            query=d["query"],
            answer=d["answer"],
            options=None if opts is None else tuple(opts),
            task=d.get("task", "free_form"),
            dataset=d.get("dataset", ""),
            metadata=dict(d.get("metadata") or {}),
        )


def approx_token_count(text: str) -> int:
    """Cheap token-count heuristic: one token per four characters, rounded up.

    Good to about +-25 % for English prose with BPE tokenizers (numbers and tables run higher).
    Pass a real tokenizer's count (``lambda s: len(tok(s).input_ids)``) where it matters.

    Args:
        text: Any string.

    Returns:
        ``ceil(len(text) / 4)``.
    """
    return (len(text) + 3) // 4


def records_to_jsonl(records: Iterable[Record]) -> str:
    """Serialise records as JSON Lines (UTF-8 text, ``\\n`` endings, fixed key order).

    Args:
        records: Records to serialise.

    Returns:
        The JSONL text; byte-identical for identical records on every machine.
    """
    return "".join(json.dumps(r.to_dict(), ensure_ascii=False) + "\n" for r in records)


def write_jsonl(records: Iterable[Record], path: str | Path) -> Path:
    """Write records to ``path`` as JSON Lines (creates parent folders).

    Args:
        records: Records to write.
        path: Destination file.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(records_to_jsonl(records))
    return path


def read_jsonl(path: str | Path) -> list[Record]:
    """Read records written by :func:`write_jsonl`.

    Args:
        path: A ``.jsonl`` file, one :meth:`Record.to_dict` object per line.

    Returns:
        The records, in file order.

    Raises:
        DataNotFoundError: If the file does not exist.
        DataFormatError: If a line is not valid JSON or lacks required keys.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"no JSONL file at {path}")
    out: list[Record] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(Record.from_dict(json.loads(line)))
            except json.JSONDecodeError as e:
                raise DataFormatError(f"{path}:{lineno}: not valid JSON ({e})") from e
    return out
