"""One run per results folder or store: a second run stops at once, naming the first; no stale locks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mi_utils.locking import FOLDER_LOCK_NAME, LockedError, file_lock, folder_lock

from conftest import REPO

# The subprocesses import this tree's mi_utils (not another install) and the test helpers.
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), str(REPO / "tests"), os.environ.get("PYTHONPATH")) if p),
    "OMP_NUM_THREADS": "1",
}

# A real run (fake models and data, from test_experiment) whose first model load waits, with the
# folder locked, until the test creates <tmp>/release; it says so by creating <tmp>/ready.
HOLDING_RUN = r"""
import sys, time
from pathlib import Path
from mi_utils import data
from mi_utils.experiment import parse_config, run
from test_experiment import _fake_cache, _fake_config, _records

tmp, out = Path(sys.argv[1]), Path(sys.argv[2])
data.DATASETS["fake_free"] = lambda **kw: _records("free_form")
cache = _fake_cache()
build = cache.factory

def waiting(spec):
    (tmp / "ready").touch()
    deadline = time.monotonic() + 60
    while not (tmp / "release").exists():
        if time.monotonic() > deadline:
            raise SystemExit("the test never released the run")
        time.sleep(0.02)
    return build(spec)

cache.factory = waiting
res = run(parse_config(_fake_config(tmp)), out_dir=out, progress=False, models=cache)
print("rows", len(res.rows), flush=True)
"""

# Takes a folder's lock, says so (<folder>.ready) and sleeps until it is killed.
HOLD_UNTIL_KILLED = r"""
import sys, time
from pathlib import Path
from mi_utils.locking import folder_lock

folder = Path(sys.argv[1])
with folder_lock(folder):
    Path(str(folder) + ".ready").touch()
    time.sleep(120)
"""


def _wait_for(path: Path, proc: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the holder exited early ({proc.returncode}): {proc.communicate()}")
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_a_second_run_on_one_folder_stops_at_once_naming_folder_and_holder(tmp_path):
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDING_RUN, str(tmp_path), str(out)],
        env=ENV,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(tmp_path / "ready", holder)
        record = json.loads((out / (FOLDER_LOCK_NAME + ".holder")).read_text())
        assert record["pid"] == holder.pid and record["host"] and record["started"]

        # the second run: the command line, on the same folder (a config that would otherwise run)
        t = time.monotonic()
        second = subprocess.run(
            [sys.executable, "-m", "mi_utils", "run", str(REPO / "configs" / "smoke.yaml"), "--out", str(out)],
            env=ENV,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 3, second.stderr
        assert f"{out} is in use by another run (pid {holder.pid} on " in second.stderr
        assert "started " in second.stderr and "wait for that run to finish" in second.stderr
        assert time.monotonic() - t < 30  # it did not wait for the lock (nor load a model)
        assert holder.poll() is None  # the first run is untouched ...
    finally:
        (tmp_path / "release").touch()
        stdout, stderr = holder.communicate(timeout=120)
    assert holder.returncode == 0, stderr  # ... and finishes its rows
    assert stdout.startswith("rows ")
    keys = [json.loads(line)["key"] for line in (out / "rows.jsonl").read_text().splitlines()]
    assert keys and len(keys) == len(set(keys))  # no row twice
    assert not (out / (FOLDER_LOCK_NAME + ".holder")).exists()  # released and cleaned up on normal exit
    with folder_lock(out):  # free again
        pass


def test_a_lock_left_by_a_killed_run_does_not_block_the_next(tmp_path):
    folder = tmp_path / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_UNTIL_KILLED, str(folder)], env=ENV, cwd=tmp_path)
    try:
        _wait_for(Path(str(folder) + ".ready"), holder)
        with pytest.raises(LockedError, match=rf"pid {holder.pid} on "):
            with folder_lock(folder):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)  # no cleanup runs: lock file and holder record stay behind
        holder.wait(timeout=30)
    assert (folder / FOLDER_LOCK_NAME).exists() and (folder / (FOLDER_LOCK_NAME + ".holder")).exists()
    with folder_lock(folder) as lock:  # the OS released the dead process's lock
        assert lock.is_locked
        assert json.loads(lock.holder_file.read_text())["pid"] == os.getpid()  # the stale record is replaced
    assert not lock.is_locked


@pytest.mark.parametrize("exc", [RuntimeError("boom"), KeyboardInterrupt()], ids=["exception", "interrupt"])
def test_the_lock_is_released_however_the_block_ends(tmp_path, exc):
    lock = folder_lock(tmp_path)
    with pytest.raises(type(exc)):
        with lock:
            # a second lock on the same folder fails even in this process, and names this process
            with pytest.raises(LockedError) as busy:
                with folder_lock(tmp_path):
                    pass
            assert str(tmp_path) in str(busy.value) and f"pid {os.getpid()} on " in str(busy.value)
            assert busy.value.holder["pid"] == os.getpid() and busy.value.target == tmp_path
            raise exc
    assert not lock.is_locked and not lock.holder_file.exists()
    with folder_lock(tmp_path):
        pass


def test_an_unreadable_holder_record_still_gives_a_clear_message(tmp_path):
    with folder_lock(tmp_path) as lock:
        lock.holder_file.unlink()
        with pytest.raises(LockedError, match=r"is in use by another run \(holder unknown: .* could not be read\)"):
            with folder_lock(tmp_path):
                pass


def test_run_holds_the_folder_lock_while_it_works_and_releases_it_on_failure(tmp_path, monkeypatch):
    """In-process: a model factory that runs inside :func:`run` finds the folder locked."""
    from test_experiment import _fake_cache, _fake_config, _records

    from mi_utils import data
    from mi_utils.experiment import parse_config, run

    monkeypatch.setitem(data.DATASETS, "fake_free", lambda **kw: _records("free_form"))
    out = tmp_path / "out"
    seen = []
    cache = _fake_cache()
    build = cache.factory

    def probing(spec):
        try:
            with folder_lock(out):
                seen.append("free")
        except LockedError as e:
            seen.append(str(e))
        return build(spec)

    cache.factory = probing
    run(parse_config(_fake_config(tmp_path)), out_dir=out, progress=False, models=cache)
    assert seen and all(f"{out} is in use by another run (pid {os.getpid()} on " in s for s in seen)

    def failing(spec):
        raise RuntimeError("no model today")

    broken = _fake_cache()
    broken.factory = failing  # another seed: new rows, so the run needs its models
    with pytest.raises(RuntimeError, match="no model today"):
        run(parse_config(_fake_config(tmp_path, seeds=[1])), out_dir=out, progress=False, models=broken)
    with folder_lock(out):  # released after the run, and after the failed one
        pass


def test_a_second_deep_research_run_on_one_store_stops_at_once(tmp_path):
    from mi_utils.deep_research import Setting, run_deep_research

    store = tmp_path / "dr" / "store.jsonl"
    with file_lock(store):  # another kernel's run
        with pytest.raises(LockedError, match=rf"^{store} is in use by another run \(pid {os.getpid()} on "):
            run_deep_research([], predictor=None, settings=[Setting("baseline")], retriever=None, store=store)
    assert not store.exists()  # nothing was written
    res = run_deep_research([], predictor=_Named(), settings=[Setting("baseline")], retriever=None, store=store)
    assert res.n_written == 0 and (tmp_path / "dr" / "store.jsonl.lock").exists()


class _Named:
    model_name = "gpt-4o"  # priced: the price check before any call passes
