"""Build hook: the wheel carries the repository's bundled inputs from ``data/`` as ``mi_utils/_data/``.

Everything else about the package is in ``pyproject.toml``. ``data/`` stays the one copy in git (and the
one an editable install reads); a regular build copies the files that ``mi_utils.paths.BUNDLED_PATTERNS``
selects (the inputs and the committed result tables, never a table's ``stores/``) into the package, where
:func:`mi_utils.paths.bundled_data_dir` finds them. ``MANIFEST.in`` puts the same files into an sdist.
"""

from __future__ import annotations

import runpy
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
_PATHS = runpy.run_path(str(HERE / "mi_utils" / "paths.py"))  # the patterns' one definition; no package import


def bundled_files(data: Path) -> list[Path]:
    """The files under ``data`` that ship in the wheel, sorted."""
    return sorted({p for pattern in _PATHS["BUNDLED_PATTERNS"] for p in data.glob(pattern) if p.is_file()})


class BuildPyWithData(build_py):
    """``build_py`` that also copies the bundled inputs (not in editable mode: the clone's ``data/`` serves)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        data = HERE / "data"
        target = Path(self.build_lib) / "mi_utils" / _PATHS["PACKAGED_DATA"]
        if target.exists():
            shutil.rmtree(target)  # no file left over from an earlier build
        for src in bundled_files(data):
            dst = target / src.relative_to(data)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)


setup(cmdclass={"build_py": BuildPyWithData})
