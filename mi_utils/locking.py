"""One writer at a time per results folder or store: a run holds an OS file lock while it writes.

Two runs writing one output folder at once (two ``python -m mi_utils run`` processes on one
``--out``, two notebook kernels on one Deep Research store) would interleave their appends and
compute, pay for and store the same rows twice. :func:`folder_lock` and :func:`file_lock` take an
OS-level lock from :mod:`filelock` (``flock`` on Unix) next to what they protect and do not wait
for it: a second run stops at once with :class:`LockedError`, whose message names the folder or
store and its holder (process id, host, start time and command, read from a small JSON side file
that the holder writes next to the lock right after taking it).

The lock is released when the ``with`` block ends, however it ends (normally, by an exception, by
``KeyboardInterrupt``), and by the operating system when the holding process dies: a lock file
left behind by a killed run does not block the next one (the next holder overwrites the stale
side file). The lock is per open file, so a second lock on the same path conflicts even inside
one process (a nested :func:`mi_utils.experiment.run` on the folder of a running one fails too).

Threads are a separate matter: :class:`mi_utils.store.JsonlStore` serialises the appends of the
threads of one process with a threading lock per file.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

__all__ = ["LockedError", "RunLock", "folder_lock", "file_lock", "FOLDER_LOCK_NAME"]

#: The lock file inside a locked folder (its holder side file adds ``.holder``).
FOLDER_LOCK_NAME = ".mi_utils.lock"


class LockedError(RuntimeError):
    """Another run holds the lock of a folder or store.

    Attributes:
      target: the folder or file the lock protects.
      lock_file: the lock file.
      holder: the holder's record (``pid``, ``host``, ``started``, ``command``), or ``None`` when
        it could not be read.
    """

    def __init__(self, target: Path, lock_file: Path, holder: dict | None) -> None:
        self.target, self.lock_file, self.holder = target, lock_file, holder
        if holder:
            who = f"pid {holder.get('pid')} on {holder.get('host')}, started {holder.get('started')}" + (
                f", command: {holder['command']}" if holder.get("command") else ""
            )
        else:
            who = f"holder unknown: {_holder_path(lock_file)} could not be read"
        super().__init__(
            f"{target} is in use by another run ({who}). Two runs writing to it at once would interleave "
            f"and duplicate its rows: wait for that run to finish, or write somewhere else. "
            f"(lock: {lock_file}; a lock left by a killed run is released by the operating system)"
        )


def _holder_path(lock_file: Path) -> Path:
    return lock_file.with_name(lock_file.name + ".holder")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


class RunLock:
    """A non-blocking, exclusive, inter-process lock on ``target``, held inside a ``with`` block.

    Args:
      target: what the lock protects (named in the error message).
      lock_file: the lock file (created, with its parent folder, when missing).
      timeout: seconds to wait for a busy lock (default 0: fail at once).

    Raises (on entering):
      LockedError: another process (or another lock object in this one) holds it.
    """

    def __init__(self, target: str | os.PathLike, lock_file: str | os.PathLike, *, timeout: float = 0.0) -> None:
        self.target, self.lock_file = Path(target), Path(lock_file)
        self.holder_file = _holder_path(self.lock_file)
        self.timeout = timeout
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        self._lock = FileLock(str(self.lock_file))

    def _read_holder(self) -> dict | None:
        """The holder's record; retried briefly while it is missing or names a dead process on this
        host (the new holder has the lock but has not written its record yet)."""
        record = None
        for _ in range(20):
            try:
                record = json.loads(self.holder_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                record = None
            if (
                isinstance(record, dict)
                and isinstance(record.get("pid"), int)
                and (record.get("host") != socket.gethostname() or _alive(record["pid"]))
            ):
                return record
            time.sleep(0.05)
        return record if isinstance(record, dict) else None

    def __enter__(self) -> RunLock:
        try:
            self._lock.acquire(timeout=self.timeout)
        except Timeout:
            raise LockedError(self.target, self.lock_file, self._read_holder()) from None
        try:
            record = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "command": " ".join(sys.argv)[:300],
            }
            tmp = self.holder_file.with_name(f"{self.holder_file.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(record) + "\n", encoding="utf-8")
            os.replace(tmp, self.holder_file)  # readers see the old record or the new one, never half of one
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            with contextlib.suppress(OSError):
                self.holder_file.unlink()
        finally:
            self._lock.release()

    @property
    def is_locked(self) -> bool:
        """Whether this object holds the lock."""
        return self._lock.is_locked


def folder_lock(folder: str | os.PathLike, *, timeout: float = 0.0) -> RunLock:
    """The lock of a results folder: ``<folder>/.mi_utils.lock`` (holder record in ``.mi_utils.lock.holder``)."""
    folder = Path(folder)
    return RunLock(folder, folder / FOLDER_LOCK_NAME, timeout=timeout)


def file_lock(path: str | os.PathLike, *, timeout: float = 0.0) -> RunLock:
    """The lock of one file (a store shared by several runs): ``<path>.lock`` beside it."""
    path = Path(path)
    return RunLock(path, path.with_name(path.name + ".lock"), timeout=timeout)
