"""Repository hygiene: environment.yml matches pyproject.toml; notebooks carry no outputs."""

from __future__ import annotations

import ast
import json
import re

import tomllib
import yaml

from conftest import REPO


def _norm(req: str) -> str:
    return re.sub(r"\s+", "", req).lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = {_norm(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    conda_side = [d for d in env["dependencies"] if isinstance(d, str)]
    assert any(d.startswith("python") for d in conda_side) and "pip" in conda_side
    installs_package = [p for p in pip_section if p.startswith("-e")]
    assert installs_package == ["-e .[dev]"], "environment.yml must install the package itself"
    listed = {_norm(p) for p in pip_section if not p.startswith("-")}
    assert listed == declared, (
        f"only in pyproject: {sorted(declared - listed)}; only in environment.yml: {sorted(listed - declared)}"
    )


def test_committed_notebooks_have_no_outputs_and_a_parameters_cell():
    notebooks = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert notebooks, "no numbered notebooks found"
    for nb_path in notebooks:
        nb = json.loads(nb_path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), (
            f"{nb_path.name} carries outputs: run `make strip`"
        )
        tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{nb_path.name} needs exactly one cell tagged 'parameters' (papermill)"
        assert "SMOKE" in "".join(tagged[0]["source"]), f"{nb_path.name}: the parameters cell needs SMOKE"
        for n, cell in enumerate(code):
            for top in _imported_modules("".join(cell["source"]), f"{nb_path.name} code cell {n}"):
                assert top in NOTEBOOK_IMPORTS, (
                    f"{nb_path.name} code cell {n} imports {top}: notebooks import from mi_utils (plus plotting glue)"
                )


#: What a notebook may import: the package, and the data / plotting glue around it.
NOTEBOOK_IMPORTS = {"mi_utils", "numpy", "pandas", "matplotlib", "seaborn", "IPython", "warnings", "pathlib"}


def _imported_modules(source: str, where: str) -> list[str]:
    """Top-level names of every module a cell's source imports (``import a.b``, ``from a import b``),
    wherever the statement is (inside ``if``, ``def``, ``try``); IPython magics and shell lines
    (``%...``, ``!...``) are not Python: each becomes ``pass`` at its indentation."""
    lines = [
        line[: len(line) - len(line.lstrip())] + "pass" if line.lstrip().startswith(("%", "!")) else line
        for line in source.splitlines()
    ]
    tree = ast.parse("\n".join(lines), filename=where)
    tops = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            tops += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            tops.append("." if node.level else (node.module or "").split(".")[0])
    return tops


def test_the_notebook_import_guard_reads_each_cell_on_its_own():
    """Cells are parsed one by one: an import on a cell's first line is not glued to the line
    before it (the old guard joined cells with "", so ``import logging`` hid behind a comment)."""
    cells = ["OUT = None  # results folder", "import logging\nfrom pathlib import Path"]
    assert [t for c in cells for t in _imported_modules(c, "cell")] == ["logging", "pathlib"]
    nested = "%matplotlib inline\n!ls\nif True:\n    %time import os.path as p\n    import os.path as p\ntry:\n    from json import loads\nexcept ImportError:\n    pass"
    assert _imported_modules(nested, "cell") == ["os", "json"]
    assert _imported_modules("from . import x", "cell") == ["."]  # a relative import is never allowed
    assert "logging" not in NOTEBOOK_IMPORTS
