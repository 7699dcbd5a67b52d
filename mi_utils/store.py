"""Append-only JSONL results: a row is on disk the moment it exists.

Every row carries a ``key`` built from everything that determines it (model, prompt version,
sampling settings, seed, record id, ...). A run that is interrupted and restarted reads the keys
already written and skips that work, so finished rows are never lost or recomputed.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["JsonlStore", "make_key"]


def make_key(**parts: Any) -> str:
    """A stable key from keyword parts (order-independent, JSON-serialisable values)."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


class JsonlStore:
    """One JSONL file of rows with a ``key`` column, indexed once (key -> byte offset).

    The file stays the source of truth and the format stays plain append-only JSONL. The first
    lookup reads the file once and remembers where each key's line starts; ``get`` then reads
    one line. Appends from this process update the index. The index is shared by every store
    object on the same path and is rebuilt when the file changes behind its back (its size or
    modification time differ from what the index saw), so resuming a run of R rows costs one
    pass over the file instead of one pass per row.

    A crash while writing can leave a truncated last line; it is ignored on read (with a warning)
    and overwritten by the next append, so the file stays valid JSONL.

    Threads: every store object on one path shares one re-entrant lock, held by ``append`` (index
    check, tail repair, write), by index rebuilds and by ``get``, so threads appending to one store
    never tear or interleave lines and never read half of one. Processes: two runs must not append
    to one file at once; the runners hold a file lock for that (:mod:`mi_utils.locking`).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._reader = None
        self._id = str(self.path.resolve())  # the shared index's key
        self._lock = _path_lock(self._id)

    # ------------------------------------------------------------------ index
    def _stat(self) -> tuple[int, int]:
        try:
            st = os.stat(self._id)
        except FileNotFoundError:
            return (0, 0)
        return (st.st_size, st.st_mtime_ns)

    def _index(self) -> dict[str, int]:
        """key -> byte offset of its line (the first occurrence of a key wins)."""
        with self._lock:
            cached = _INDEXES.get(self._id)
            stat = self._stat()
            if cached is not None and cached[0] == stat:
                return cached[1]
            offsets: dict[str, int] = {}
            for offset, k in self._scan_keys():
                if k is not None and k not in offsets:
                    offsets[k] = offset
            _INDEXES[self._id] = (stat, offsets)
            return offsets

    def _scan(self, keys_only: bool = False) -> Iterator[tuple[int, Any]]:
        """``(byte offset, row)`` of every complete line (``(offset, key)`` with ``keys_only``)."""
        with self._lock:  # not while another thread is half-way through a line
            if not self.path.exists():
                return
            with open(self.path, "rb") as f:
                data = f.read()
        pos, n, end = 0, 0, len(data)
        while pos < end:
            nl = data.find(b"\n", pos)
            line = data[pos:] if nl < 0 else data[pos:nl]
            n += 1
            if line.strip():
                fast = _leading_key(line) if keys_only and nl >= 0 else None
                if fast is not None:
                    yield pos, fast
                else:
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError:
                        if nl < 0 or data[nl + 1 :].strip() == b"":
                            warnings.warn(
                                f"{self.path}: ignoring a truncated last line (interrupted write)", stacklevel=2
                            )
                            return
                        raise ValueError(f"{self.path}:{n} is not valid JSON; the file is corrupt") from None
                    yield pos, (row.get("key") if isinstance(row, dict) else None) if keys_only else row
            if nl < 0:
                break
            pos = nl + 1

    def _scan_keys(self) -> Iterator[tuple[int, str | None]]:
        return self._scan(keys_only=True)

    # ------------------------------------------------------------------ reads
    def rows(self) -> Iterator[dict]:
        """Every row, in file order."""
        for _, row in self._scan():
            yield row

    def keys(self) -> set[str]:
        """The keys present (a fresh set)."""
        return set(self._index())

    def __contains__(self, key: str) -> bool:
        return key in self._index()

    def __len__(self) -> int:
        return len(self._index())

    def get(self, key: str) -> dict | None:
        """The row stored under ``key`` (one line read), or ``None``."""
        with self._lock:  # one reader handle per object: seek and read together
            offset = self._index().get(key)
            if offset is None:
                return None
            if self._reader is None or self._reader.closed:
                self._reader = open(self.path, "rb")  # noqa: SIM115 - kept open across lookups, closed in __del__
            self._reader.seek(offset)
            return json.loads(self._reader.readline())

    def __del__(self) -> None:
        if getattr(self, "_reader", None) is not None:
            self._reader.close()

    # ----------------------------------------------------------------- writes
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
        """Write one row (must have ``key``) and flush it to disk (one thread at a time per file)."""
        if "key" not in row:
            raise ValueError("every stored row needs a 'key' (see mi_utils.store.make_key)")
        line = json.dumps(row, default=_jsonable, ensure_ascii=False)
        with self._lock:
            index = self._index()  # up to date with the file before this write
            self._repair_tail()
            with open(self.path, "ab") as f:
                offset = f.tell()
                f.write((line + "\n").encode("utf-8"))
                f.flush()
                os.fsync(f.fileno())
            index.setdefault(row["key"], offset)
            _INDEXES[self._id] = (self._stat(), index)

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame(list(self.rows()))


_KEY_PREFIX = b'{"key": "'


def _leading_key(line: bytes) -> str | None:
    """The key of a line that starts ``{"key": "<hex>"`` (how the runner writes rows), else None.

    Only plain keys (no escapes) are read this way; anything else is parsed as JSON. A complete
    line is guaranteed by the caller (it ends with a newline), so a truncated row never gets here.
    """
    if not line.startswith(_KEY_PREFIX):
        return None
    end = line.find(b'"', len(_KEY_PREFIX))
    if end < 0:
        return None
    key = line[len(_KEY_PREFIX) : end]
    return key.decode() if b"\\" not in key else None


#: Shared indexes: resolved path -> ((size, mtime_ns) the index saw, key -> offset).
_INDEXES: dict[str, tuple[tuple[int, int], dict[str, int]]] = {}

#: One re-entrant lock per resolved path, shared by every store object on it (threads of one process).
_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


def _path_lock(path_id: str) -> threading.RLock:
    with _LOCKS_GUARD:
        lock = _LOCKS.get(path_id)
        if lock is None:
            lock = _LOCKS[path_id] = threading.RLock()
        return lock


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"cannot store {type(obj).__name__} in a JSONL row")
