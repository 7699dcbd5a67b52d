"""Runs never rewrite tracked files: figures/ is ignored; the README's gallery is a deliberate copy."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from conftest import REPO

pytestmark = pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs a git checkout"
)


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)


def test_what_savefig_writes_is_ignored():
    for name in ("figures/04_fig2_anything.png", "figures/05_new.pdf", "figures/99_other.png"):
        assert _git("check-ignore", "-q", name).returncode == 0, f"{name} would be tracked: a run would dirty the tree"
    assert _git("check-ignore", "-q", "figures/gallery/04_fig2_anything.png").returncode == 1


def test_readme_gallery_images_are_tracked():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    images = re.findall(r'<img src="([^"]+)"', readme)
    assert images, "the README has no gallery"
    tracked = set(_git("ls-files", "figures").stdout.split())
    for path in images:
        assert path.startswith("figures/gallery/"), f"{path}: gallery images live in figures/gallery/"
        assert path in tracked and (REPO / path).is_file(), f"{path} is not a tracked file"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_gallery_copies_the_demo_figures_and_says_what_is_missing(tmp_path):
    """The README's `make gallery`, run on a folder laid out like the clone (its recipe reads only figures/)."""

    def gallery() -> subprocess.CompletedProcess:
        cmd = ["make", "--no-print-directory", "-f", str(REPO / "Makefile"), "gallery"]
        return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=False)

    figures = tmp_path / "figures"
    figures.mkdir()
    missing = gallery()
    assert missing.returncode != 0 and "run make demo first" in missing.stdout + missing.stderr
    for name in ("04_fig2_a.png", "05_fig6_b.png", "06_fig17_c.png", "07_fig7_real_qwen_cpu.png", "07_other.png"):
        (figures / name).write_bytes(name.encode())
    done = gallery()
    assert done.returncode == 0, done.stdout + done.stderr
    copied = sorted(p.name for p in (figures / "gallery").iterdir())
    assert copied == ["04_fig2_a.png", "05_fig6_b.png", "06_fig17_c.png", "07_fig7_real_qwen_cpu.png"]
    assert (figures / "gallery" / "07_fig7_real_qwen_cpu.png").read_bytes() == b"07_fig7_real_qwen_cpu.png"
