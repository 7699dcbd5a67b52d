"""Append-only JSONL results: a row is on disk the moment it exists.

Every row carries a ``key`` built from everything that determines it (model, prompt version,
sampling settings, seed, record id, ...). A run that is interrupted and restarted reads the keys
already written and skips that work, so finished rows are never lost or recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterator, Mapping

__all__ = ["JsonlStore", "make_key"]


def make_key(**parts: Any) -> str:
    """A stable key from keyword parts (order-independent, JSON-serialisable values)."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class JsonlStore:
    """One JSONL file of rows with a ``key`` column.

    A crash while writing can leave a truncated last line; it is ignored on read (with a warning)
    and overwritten by the next append, so the file stays valid JSONL.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._keys: set[str] | None = None

    def rows(self) -> Iterator[dict]:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as f:
            lines = f.readlines()
        for n, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                if n == len(lines) - 1:
                    warnings.warn(f"{self.path}: ignoring a truncated last line (interrupted write)")
                    return
                raise ValueError(f"{self.path}:{n + 1} is not valid JSON; the file is corrupt") from None

    def keys(self) -> set[str]:
        if self._keys is None:
            self._keys = {r["key"] for r in self.rows() if "key" in r}
        return self._keys

    def __contains__(self, key: str) -> bool:
        return key in self.keys()

    def get(self, key: str) -> dict | None:
        for r in self.rows():
            if r.get("key") == key:
                return r
        return None

    def _repair_tail(self) -> None:
        """Drop a truncated last line left by a crash, so appends start on a fresh line."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return
        with open(self.path, "rb+") as f:
            f.seek(-1, os.SEEK_END)
            if f.read(1) == b"\n":
                return
            f.seek(0)
            f.truncate(f.read().rfind(b"\n") + 1)

    def append(self, row: Mapping[str, Any]) -> None:
        """Write one row (must have ``key``) and flush it to disk."""
        if "key" not in row:
            raise ValueError("every stored row needs a 'key' (see mi_utils.store.make_key)")
        self._repair_tail()
        line = json.dumps(row, default=_jsonable, ensure_ascii=False)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.keys().add(row["key"])

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(list(self.rows()))


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"cannot store {type(obj).__name__} in a JSONL row")
