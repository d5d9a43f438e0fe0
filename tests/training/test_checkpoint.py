"""Checkpoint files: safe loading, clear errors, device choice."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from ganops.artifacts import load_generator, save_generator
from ganops.device import resolve_device
from ganops.errors import ConfigError, DataError
from ganops.io import load_torch, save_torch
from ganops.models import GeneratorSpec, build_generator

SPEC = GeneratorSpec("dcgan", 8, 4, (1, 28, 28))


class Payload:
    """Stands in for an arbitrary object a malicious checkpoint would unpickle."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this must never run",))


def test_generator_round_trip_is_exact(tmp_path: Path) -> None:
    generator = build_generator(SPEC)
    save_generator(tmp_path / "g.pt", generator, SPEC)
    loaded, spec = load_generator(tmp_path / "g.pt")
    assert spec == SPEC and not loaded.training
    z = torch.randn(4, 8)
    generator.eval()
    assert torch.equal(generator(z), loaded(z))


def test_saved_bytes_do_not_depend_on_the_file_name(tmp_path: Path) -> None:
    generator = build_generator(SPEC)
    save_generator(tmp_path / "a.pt", generator, SPEC)
    save_generator(tmp_path / "b.pt", generator, SPEC)
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()


def test_pickled_objects_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "evil.pt"
    torch.save(
        {"format": "ganops-generator/1", "spec": SPEC.to_dict(), "state_dict": Payload()}, path
    )
    with pytest.raises(DataError, match="refused to load generator: it holds objects other than"):
        load_generator(path)
    assert "must never run" not in capsys.readouterr().out


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing"])
def test_damaged_files_are_clear_errors(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "g.pt"
    save_generator(path, build_generator(SPEC), SPEC)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage":
        path.write_bytes(pickle.dumps([1, 2, 3]))
    else:
        path.unlink()
    with pytest.raises(DataError) as caught:
        load_generator(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_wrong_spec_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "g.pt"
    save_generator(path, build_generator(SPEC), GeneratorSpec("dcgan", 8, 8, (1, 28, 28)))
    with pytest.raises(DataError, match="generator does not match its spec"):
        load_generator(path)


def test_other_files_are_not_generators(tmp_path: Path) -> None:
    save_torch(tmp_path / "x.pt", {"format": "something-else"})
    with pytest.raises(DataError, match="not a ganops generator"):
        load_generator(tmp_path / "x.pt")
    assert load_torch(tmp_path / "x.pt", "checkpoint") == {"format": "something-else"}


def test_device_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(
        ConfigError, match=r"^run.device: cuda was asked for but PyTorch sees no CUDA GPU"
    ):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")
