"""The append-only JSONL store: crash safety, resuming, and the key index."""

from __future__ import annotations

import json
import warnings

import pytest

from mi_utils.store import JsonlStore, make_key


def test_append_get_contains_and_order(tmp_path):
    st = JsonlStore(tmp_path / "a" / "rows.jsonl")
    assert len(st) == 0 and "x" not in st and st.get("x") is None and list(st.rows()) == []
    for i in range(5):
        st.append({"key": f"k{i}", "value": i, "text": "é\n" * i})
    assert len(st) == 5 and "k3" in st
    assert st.get("k3") == {"key": "k3", "value": 3, "text": "é\n" * 3}
    assert [r["value"] for r in st.rows()] == list(range(5))
    assert st.keys() == {f"k{i}" for i in range(5)}
    with pytest.raises(ValueError, match="needs a 'key'"):
        st.append({"value": 1})


def test_a_second_store_object_and_an_outside_writer_are_seen(tmp_path):
    path = tmp_path / "rows.jsonl"
    a, b = JsonlStore(path), JsonlStore(path)
    a.append({"key": "one", "v": 1})
    assert b.get("one") == {"key": "one", "v": 1}
    with open(path, "a", encoding="utf-8") as f:  # another process appends
        f.write(json.dumps({"key": "two", "v": 2}) + "\n")
    assert "two" in a and a.get("two")["v"] == 2
    b.append({"key": "three", "v": 3})
    assert a.get("three")["v"] == 3 and len(a) == 3


def test_truncated_last_line_is_ignored_then_overwritten(tmp_path):
    path = tmp_path / "rows.jsonl"
    st = JsonlStore(path)
    st.append({"key": "a", "v": 1})
    with open(path, "a", encoding="utf-8") as f:
        f.write('{"key": "b", "v"')  # a crash mid-write
    st2 = JsonlStore(path)
    with pytest.warns(UserWarning, match="truncated last line"):
        assert "b" not in st2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        st2.append({"key": "c", "v": 3})
    assert [json.loads(line)["key"] for line in path.read_text().splitlines()] == ["a", "c"]
    assert st2.get("c") == {"key": "c", "v": 3} and st2.get("a") == {"key": "a", "v": 1}


def test_corrupt_middle_line_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"key": "a"}\nnot json\n{"key": "b"}\n')
    with pytest.raises(ValueError, match=r"rows.jsonl:2 is not valid JSON"):
        JsonlStore(path).get("b")


def test_first_occurrence_of_a_key_wins(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"key": "a", "v": 1}\n{"key": "a", "v": 2}\n')
    assert JsonlStore(path).get("a")["v"] == 1


def test_make_key_is_order_independent_and_sensitive():
    assert make_key(a=1, b=[1, 2]) == make_key(b=[1, 2], a=1)
    assert make_key(a=1) != make_key(a=2) and len(make_key(a=1)) == 24


def test_threads_appending_to_one_store_neither_tear_nor_duplicate_lines(tmp_path):
    """Appends from several threads (each with its own store object and one shared) are serialised: every
    line is whole JSON, every row is there once, and the index finds each one."""
    import threading

    path = tmp_path / "rows.jsonl"
    shared = JsonlStore(path)
    n_threads, per_thread = 8, 60
    start = threading.Barrier(n_threads)
    errors: list[BaseException] = []

    def writer(t: int) -> None:
        st = shared if t % 2 else JsonlStore(path)
        try:
            start.wait()
            for i in range(per_thread):
                # rows of very different sizes: a large one is written in several system calls
                st.append({"key": f"t{t}-{i}", "t": t, "i": i, "pad": "x" * (1 + (i * 7919 + t) % 3) * 30_000})
                assert f"t{t}-{i}" in st  # reads in between appends see whole lines only
        except BaseException as e:
            errors.append(e)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a reader that saw half a line would warn "truncated last line"
        threads = [threading.Thread(target=writer, args=(t,)) for t in range(n_threads)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert not errors, errors[:3]
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""  # the file ends with a newline
    keys = [json.loads(line)["key"] for line in lines[:-1]]  # every line is whole JSON
    expected = {f"t{t}-{i}" for t in range(n_threads) for i in range(per_thread)}
    assert len(keys) == len(expected) and set(keys) == expected  # each row once
    fresh = JsonlStore(path)
    assert all(fresh.get(f"t{t}-{i}")["i"] == i for t in range(n_threads) for i in range(0, per_thread, 7))
    assert all(shared.get(k)["key"] == k for k in sorted(expected)[::13])
