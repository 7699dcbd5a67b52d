"""mi_utils.paths: the one module that finds the clone, the bundled inputs, notebooks and figures."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

import mi_utils.data
import mi_utils.data.paths as data_paths
import mi_utils.paths as paths
from mi_utils import _warn
from mi_utils.__main__ import main
from mi_utils.analysis.tables import CPU_RESULTS_PATH, LADDER_RESULTS_PATHS, PAPER_REPORTED_PATH, load_table
from mi_utils.data.passages import PASSAGES_PATH
from mi_utils.data.synthetic import default_synthetic_path
from mi_utils.deep_research import BUNDLED_TASKS_PATH
from mi_utils.plotting import figures_dir

from conftest import REPO


def test_no_module_but_paths_locates_files_from_its_own_source():
    offenders = [
        f"{p.relative_to(REPO)}:{n}"
        for p in sorted((REPO / "mi_utils").rglob("*.py"))
        if p != REPO / "mi_utils" / "paths.py"
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"__file__|parents\[\d+\]", line)
    ]
    assert offenders == [], "ask mi_utils.paths for a location instead"


def test_in_a_clone_everything_resolves_to_the_repository():
    assert paths.repo_root() == REPO
    assert paths.bundled_data_dir() == REPO / "data"
    assert paths.notebooks_dir() == REPO / "notebooks"
    for path in (PAPER_REPORTED_PATH, CPU_RESULTS_PATH, PASSAGES_PATH, BUNDLED_TASKS_PATH, default_synthetic_path()):
        assert path.is_file() and path.is_relative_to(REPO / "data"), path
    assert all(p.is_relative_to(REPO / "data" / "results") for p in LADDER_RESULTS_PATHS.values())


def _tracked_data_files() -> list[str]:
    if shutil.which("git") and (REPO / ".git").exists():
        out = subprocess.run(["git", "ls-files", "data"], cwd=REPO, capture_output=True, text=True, check=True)
        return [line.removeprefix("data/") for line in out.stdout.splitlines()]
    return [p.relative_to(REPO / "data").as_posix() for p in (REPO / "data").rglob("*") if p.is_file()]


def test_every_committed_data_file_ships_in_the_wheel_and_no_store_does():
    shipped = lambda name: any(
        fnmatch.fnmatch(name, pat) and name.count("/") == pat.count("/") for pat in paths.BUNDLED_PATTERNS
    )
    missing = [name for name in _tracked_data_files() if name != ".gitkeep" and not shipped(name)]
    assert missing == [], f"add a pattern for these to mi_utils.paths.BUNDLED_PATTERNS: {missing}"
    assert not shipped("results/grid_cpu/stores/compress.jsonl") and not shipped("results/x/stores/a.json")
    assert shipped("results/a_table_committed_later/rows.jsonl")


def test_committed_results_are_found_by_globbing(tmp_path, monkeypatch):
    found = paths.committed_results()
    assert {"grid_cpu", "ladder_synthetic_cpu"} <= set(found)
    assert found["grid_cpu"] == CPU_RESULTS_PATH.parent
    # a table committed later is picked up by name, with no code change
    fake = tmp_path / "_data"
    shutil.copytree(
        REPO / "data" / "results" / "grid_cpu",
        fake / "results" / "new_table_cpu",
        ignore=shutil.ignore_patterns("stores"),
    )
    (fake / "results" / "half_written").mkdir()  # no rows.jsonl: not a table
    monkeypatch.setattr(paths, "PACKAGE_DIR", tmp_path)
    assert paths.bundled_data_dir() == fake  # the wheel's package data wins
    assert list(paths.committed_results()) == ["new_table_cpu"]
    rows, label = load_table("new_table_cpu")
    assert label == "new_table_cpu" and len(rows) == len(load_table(CPU_RESULTS_PATH)[0])
    with pytest.raises(FileNotFoundError, match=r"committed: \['new_table_cpu'\]"):
        load_table("no_such_table")


def test_outside_a_clone(tmp_path, monkeypatch, capsys):
    """A wheel install: no clone, so notebooks need a folder, figures go to ./figures, no shared default."""
    monkeypatch.setattr(paths, "PACKAGE_DIR", tmp_path / "site-packages" / "mi_utils")
    monkeypatch.delenv(paths.FIGURES_ENV, raising=False)
    monkeypatch.delenv(paths.TEAM_DATA_ENV, raising=False)
    monkeypatch.delenv(paths.SHARED_DATA_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert paths.repo_root() is None and paths.team_data_dir() is None
    assert figures_dir() == tmp_path / "figures" and (tmp_path / "figures").is_dir()
    with pytest.raises(FileNotFoundError, match=r"outside a clone.*--notebooks <clone>/notebooks"):
        paths.notebooks_dir()
    with pytest.raises(FileNotFoundError, match="clone the repository"):
        paths.require_repo_root("the configs")
    assert main(["notebooks", "--smoke"]) == 2
    assert "--notebooks <clone>/notebooks" in capsys.readouterr().err
    assert main(["notebooks", "--notebooks", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err
    monkeypatch.setenv(paths.FIGURES_ENV, str(tmp_path / "figs"))
    assert figures_dir() == tmp_path / "figs"


@pytest.fixture
def team_env(monkeypatch):
    """Neither team data variable set, and the once-per-session warnings not yet given."""
    monkeypatch.delenv(paths.TEAM_DATA_ENV, raising=False)
    monkeypatch.delenv(paths.SHARED_DATA_ENV, raising=False)
    monkeypatch.setattr(_warn, "WARNED", set())
    return monkeypatch


def test_the_team_data_folder(tmp_path, team_env):
    assert paths.team_data_dir() == REPO.parent / "shared" / "data"  # the default, beside the clone
    team_env.setenv(paths.TEAM_DATA_ENV, str(tmp_path))
    assert paths.team_data_dir() == tmp_path
    assert data_paths.data_roots()[-1] == tmp_path  # the loaders search it last
    assert paths.TEAM_DATA_ENV == "MI_UTILS_TEAM_DATA"


def test_the_old_function_still_works_and_warns_once(tmp_path, team_env):
    team_env.setenv(paths.TEAM_DATA_ENV, str(tmp_path))
    for old in (paths.shared_data_dir, data_paths.shared_data_dir, mi_utils.data.shared_data_dir):
        assert old is paths.shared_data_dir
    with pytest.warns(DeprecationWarning, match=r"shared_data_dir\(\) is deprecated; use team_data_dir\(\)") as got:
        assert paths.shared_data_dir() == tmp_path
    assert got[0].filename == __file__  # points at the caller
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert paths.shared_data_dir() == tmp_path  # once per session


def test_the_old_variable_is_read_when_the_new_one_is_unset(tmp_path, team_env):
    team_env.setenv("MI_UTILS_SHARED_DATA", str(tmp_path))
    with pytest.warns(FutureWarning, match=r"\$MI_UTILS_SHARED_DATA is deprecated: set \$MI_UTILS_TEAM_DATA instead"):
        assert paths.team_data_dir() == tmp_path
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert data_paths.data_roots() == [tmp_path]  # once per session


def test_the_new_variable_wins_over_a_different_old_one(tmp_path, team_env):
    new, old = tmp_path / "new", tmp_path / "old"
    team_env.setenv("MI_UTILS_TEAM_DATA", str(new))
    team_env.setenv("MI_UTILS_SHARED_DATA", str(old))
    with pytest.warns(
        FutureWarning, match=r"both set and differ: \$MI_UTILS_TEAM_DATA wins; unset \$MI_UTILS_SHARED_DATA"
    ):
        assert paths.team_data_dir() == new
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert paths.team_data_dir() == new  # once per session
        team_env.setenv("MI_UTILS_SHARED_DATA", str(new))
        assert paths.team_data_dir() == new  # the same folder under both names: nothing to warn about


def test_the_vllm_python_is_looked_up_in_the_clone_only_when_there_is_one(tmp_path, monkeypatch):
    from mi_utils.backends.vllm_server import _resolve_python

    fake_clone = tmp_path / "clone"
    (fake_clone / ".venv-vllm" / "bin").mkdir(parents=True)
    (fake_clone / ".venv-vllm" / "bin" / "python").touch()
    (fake_clone / "data").mkdir()
    (fake_clone / "pyproject.toml").touch()
    monkeypatch.chdir(tmp_path)  # the relative path is not found from here
    monkeypatch.setattr(paths, "PACKAGE_DIR", fake_clone / "mi_utils")
    assert _resolve_python(".venv-vllm/bin/python") == fake_clone / ".venv-vllm" / "bin" / "python"
    monkeypatch.setattr(paths, "PACKAGE_DIR", tmp_path / "site-packages" / "mi_utils")  # a wheel: left as given
    assert _resolve_python(".venv-vllm/bin/python") == Path(".venv-vllm/bin/python")


def test_a_warning_the_filters_ignore_is_not_counted_as_shown(team_env):
    """Python ignores a DeprecationWarning attributed to library code: it must still reach the user later."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        paths.shared_data_dir()
    with pytest.warns(DeprecationWarning, match="team_data_dir"):
        paths.shared_data_dir()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths.shared_data_dir()  # shown once: silent from now on


def test_the_sdist_carries_every_kind_of_file_the_wheel_bundles():
    """MANIFEST.in (what an sdist, and a wheel built from it, holds of data/) covers BUNDLED_PATTERNS."""
    lines = (REPO / "MANIFEST.in").read_text(encoding="utf-8").splitlines()
    included = {pat for line in lines if line.startswith("recursive-include data ") for pat in line.split()[2:]}
    wanted = {pat.rsplit("/", 1)[-1] for pat in paths.BUNDLED_PATTERNS}
    assert wanted <= included, f"add {sorted(wanted - included)} to MANIFEST.in's recursive-include data line"


def test_setup_py_can_run_this_module_alone():
    """setup.py reads BUNDLED_PATTERNS by running paths.py as a plain file: its top level imports only the stdlib."""
    import runpy

    assert runpy.run_path(str(REPO / "mi_utils" / "paths.py"))["BUNDLED_PATTERNS"] == paths.BUNDLED_PATTERNS
