"""Shared reader for small (context, query, answer) tables: WildChat and FineWeb QA files."""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .records import DataFormatError, Record

__all__ = ["read_rows", "rows_to_records", "format_conversations"]

_CONTEXT_KEYS = ("context", "text")
_QUERY_KEYS = ("query", "question")
_ANSWER_KEYS = ("answer", "target", "reference")
_ID_KEYS = ("id", "doc_id", "user_id")


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Read a ``.jsonl``, ``.json`` (list of objects), ``.csv``, ``.feather`` or ``.parquet`` file.

    Args:
        path: The file.

    Returns:
        One dict per row.

    Raises:
        DataFormatError: On an unsupported extension or a JSON file that is not a list.
        ImportError: For feather/parquet without ``pyarrow`` (the message names the fix).
    """
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        with open(path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    if suffix == ".json":
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, list):
            raise DataFormatError(f"{path}: expected a JSON list of row objects")
        return data
    if suffix in (".feather", ".parquet", ".csv"):
        import pandas as pd

        if suffix == ".csv":
            return pd.read_csv(path).to_dict("records")
        try:
            df = pd.read_feather(path) if suffix == ".feather" else pd.read_parquet(path)
        except ImportError as e:
            raise ImportError(
                f"reading {path.name} needs pyarrow: pip install pyarrow (or convert it to .jsonl)"
            ) from e
        return df.to_dict("records")
    raise DataFormatError(f"{path}: unsupported file type {suffix!r}; use .jsonl, .json, .csv, .feather or .parquet")


def format_conversations(conversations: Any) -> str:
    """Format chats as ``CHAT 1:\\nUser: ...\\n\\nAssistant: ...`` (the paper's WildChat layout).

    Args:
        conversations: A list of chats, each a list of ``{role, content}`` dicts or its JSON
            string; the whole list may also be a Python-literal string (as in the paper's files).

    Returns:
        The formatted text.
    """
    if isinstance(conversations, str):
        conversations = ast.literal_eval(conversations)
    parts = []
    for i, chat in enumerate(conversations, 1):
        msgs = json.loads(chat) if isinstance(chat, str) else chat
        body = "".join(f"{m['role'].capitalize()}: {m['content']}\n\n" for m in msgs)
        parts.append(f"CHAT {i}:\n{body}")
    return "".join(parts).strip()


def _first(row: Mapping[str, Any], keys: Sequence[str]) -> tuple[str | None, Any]:
    for k in keys:
        v = row.get(k)
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            return k, v
    return None, None


def _json_safe(v: Any) -> Any:
    if hasattr(v, "item") and callable(v.item):  # numpy scalar
        try:
            return v.item()
        except (ValueError, TypeError):
            pass
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, Mapping):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)) or hasattr(v, "tolist"):
        return [_json_safe(x) for x in (v.tolist() if hasattr(v, "tolist") else v)]
    return str(v)


def rows_to_records(
    rows: Iterable[Mapping[str, Any]], dataset: str, source: str, task: str = "perplexity"
) -> list[Record]:
    """Map rows with (context | text | conversations, query | question, answer) to records.

    Args:
        rows: Row dicts.
        dataset: Data set name for the records.
        source: File name, for error messages.
        task: Record task.

    Returns:
        Records; extra scalar columns go to ``metadata``.

    Raises:
        DataFormatError: If a row lacks a context, query or answer.
    """
    records = []
    for i, row in enumerate(rows):
        ck, context = _first(row, _CONTEXT_KEYS)
        if context is None and row.get("conversations") is not None:
            ck, context = "conversations", format_conversations(row["conversations"])
        qk, query = _first(row, _QUERY_KEYS)
        ak, answer = _first(row, _ANSWER_KEYS)
        if context is None or query is None or answer is None:
            raise DataFormatError(
                f"{source} row {i}: needs a context ({'/'.join(_CONTEXT_KEYS)}/conversations), "
                f"a query ({'/'.join(_QUERY_KEYS)}) and an answer ({'/'.join(_ANSWER_KEYS)}); got {sorted(row)}"
            )
        ik, rid = _first(row, _ID_KEYS)
        used = {ck, qk, ak, ik, "metadata"}
        meta = {str(k): _json_safe(v) for k, v in row.items() if k not in used}
        meta.update(_json_safe(row.get("metadata")) or {})
        records.append(
            Record(
                id=f"{dataset}_{i}" if rid is None else str(_json_safe(rid)),
                context=str(context),
                query=str(query),
                answer=str(answer),
                task=task,
                dataset=dataset,
                metadata=meta,
            )
        )
    return records
