"""Repository hygiene: environment.yml matches pyproject.toml; notebooks carry no outputs."""

from __future__ import annotations

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
        src = "".join("".join(c["source"]) for c in code)
        for line in src.splitlines():
            m = re.match(r"\s*(?:from|import)\s+([\w.]+)", line)
            if m:
                top = m.group(1).split(".")[0]
                assert top in {
                    "mi_utils",
                    "numpy",
                    "pandas",
                    "matplotlib",
                    "seaborn",
                    "IPython",
                    "warnings",
                    "pathlib",
                }, f"{nb_path.name} imports {top}: notebooks import from mi_utils (plus plotting glue)"
