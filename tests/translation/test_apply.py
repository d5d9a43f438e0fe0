"""`ganops translate`: a saved (or MLflow-logged) translator over a folder or an array."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganops.cli import main
from ganops.config import Params
from ganops.tracking import open_run
from ganops.translation.artifact import save_translator
from ganops.translation.networks import TranslatorSpec, build_generator, init_weights
from ganops.translation.outputs import translate_uint8

SPEC = TranslatorSpec(
    arch="unet", in_channels=1, out_channels=1, image_size=28, width=8, downsamplings=2, blocks=1
)


def _generator(seed: int) -> torch.nn.Module:
    module = build_generator(SPEC)
    init_weights(module, seed)
    return module.eval()


@pytest.fixture
def paired_file(tmp_path: Path) -> Path:
    path = tmp_path / "translator.pt"
    save_translator(path, {"ab": _generator(0)}, SPEC)
    return path


@pytest.fixture
def unpaired_file(tmp_path: Path) -> Path:
    path = tmp_path / "cycle.pt"
    save_translator(path, {"ab": _generator(0), "ba": _generator(1)}, SPEC)
    return path


def _images(count: int, seed: int = 0, side: int = 28) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, 1, side, side), dtype=np.uint8)


def _expected(images: np.ndarray, seed: int = 0) -> np.ndarray:
    return translate_uint8(_generator(seed), images, torch.device("cpu"))


def _write_folder(root: Path, images: np.ndarray, names: list[str]) -> None:
    for name, image in zip(names, images, strict=True):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[0]).save(root / name)


def test_a_folder_comes_out_as_a_folder_with_the_same_names(
    paired_file: Path, tmp_path: Path
) -> None:
    images = _images(5)
    names = ["3/a.png", "3/b.png", "7/c.png", "d.bmp", "e.png"]  # class sub-folders are kept
    _write_folder(tmp_path / "in", images, names)
    (tmp_path / "in" / ".hidden.png").write_bytes(b"not read")
    out = tmp_path / "out"
    argv = ["translate", "--model", str(paired_file), str(tmp_path / "in"), str(out)]
    assert main(argv) == 0
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))
    assert written == ["3/a.png", "3/b.png", "7/c.png", "d.png", "e.png"]
    order = sorted(range(len(names)), key=lambda i: names[i])  # read in sorted path order
    expected = _expected(images[order])
    got = np.stack([np.asarray(Image.open(out / name))[None] for name in written])
    assert np.array_equal(got, expected)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "ganops-translations/1" and manifest["direction"] == "ab"
    assert manifest["files"] == written and len(manifest["model_sha256"]) == 64
    # run again: its own folder is replaced whole
    assert main(argv) == 0


def test_an_array_comes_out_as_an_array_or_a_grid(paired_file: Path, tmp_path: Path) -> None:
    images = _images(6)
    np.save(tmp_path / "in.npy", images)
    model = ["translate", "--model", str(paired_file), str(tmp_path / "in.npy")]
    assert main([*model, str(tmp_path / "out.npy"), "--batch-size", "4"]) == 0
    assert np.array_equal(np.load(tmp_path / "out.npy"), _expected(images))
    assert main([*model, str(tmp_path / "out.npz")]) == 0
    assert np.array_equal(np.load(tmp_path / "out.npz")["images"], _expected(images))
    assert main([*model, str(tmp_path / "pairs.png")]) == 0
    assert Image.open(tmp_path / "pairs.png").width > Image.open(tmp_path / "pairs.png").height


def test_an_unpaired_translator_goes_both_ways(unpaired_file: Path, tmp_path: Path) -> None:
    images = _images(3, seed=4)
    np.save(tmp_path / "in.npy", images)
    argv = ["translate", "--model", str(unpaired_file), str(tmp_path / "in.npy")]
    assert main([*argv, str(tmp_path / "ba.npy"), "--direction", "ba"]) == 0
    assert np.array_equal(np.load(tmp_path / "ba.npy"), _expected(images, seed=1))


def test_an_mlflow_translator_translates_as_its_file_does(
    mlflow_store: str, tiny_params: Callable[..., Params], workdir: Path, paired_file: Path
) -> None:
    with open_run(tiny_params().tracking, tiny_params(), root=workdir) as run:
        run.log_translator(_generator(0), SPEC.to_dict(), "cli-translator")
    images = _images(4, seed=2)
    np.save(workdir / "in.npy", images)
    out = workdir / "out.npy"
    assert main(["translate", "--model", "models:/cli-translator/1", str(workdir / "in.npy"),
                 str(out)]) == 0  # fmt: skip
    assert np.abs(np.load(out).astype(int) - _expected(images).astype(int)).max() <= 1


@pytest.mark.parametrize(
    ("make_input", "extra", "message"),
    [
        (lambda p: np.save(p / "in.npy", _images(2, side=32)), [],
         "images are (1, 32, 32) (C, H, W) but this translator takes (1, 28, 28)"),
        (lambda p: np.save(p / "in.npy", _images(2)), ["--direction", "ba"],
         "--direction ba: "),
        (lambda p: (p / "in").mkdir(), [], "the folder has no images"),
        (lambda p: np.save(p / "in.npy", _images(2)), ["--model", "missing.pt"],
         "missing.pt"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_writes_nothing(
    paired_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    make_input: Callable[[Path], None], extra: list[str], message: str,
) -> None:  # fmt: skip
    make_input(tmp_path)
    source = tmp_path / ("in" if (tmp_path / "in").is_dir() else "in.npy")
    out = tmp_path / "out.npy"
    argv = ["translate", "--model", str(paired_file), str(source), str(out), *extra]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_a_folder_it_did_not_write_is_not_replaced(paired_file: Path, tmp_path: Path) -> None:
    _write_folder(tmp_path / "in", _images(2), ["a.png", "b.png"])
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    argv = ["translate", "--model", str(paired_file), str(tmp_path / "in")]
    assert main([*argv, str(mine)]) == 1
    assert (mine / "notes.txt").read_text() == "keep me"
    assert main([*argv, str(tmp_path / "in")]) == 1  # nor the input itself
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == ["a.png", "b.png"]


def test_the_logged_translator_predicts_images_through_pyfunc(
    mlflow_store: str, tiny_params: Callable[..., Params], workdir: Path
) -> None:
    """What `mlflow models serve` calls: the pyfunc flavour, image batch in, image batch out."""
    import mlflow

    with open_run(tiny_params().tracking, tiny_params(), root=workdir) as run:
        uri = run.log_translator(_generator(0), SPEC.to_dict(), None)
    images = _images(3, seed=5)
    inputs = images.astype(np.float32) / 127.5 - 1
    predicted = np.asarray(mlflow.pyfunc.load_model(uri).predict(inputs))
    assert predicted.shape == (3, 1, 28, 28)
    expected = _generator(0)(torch.from_numpy(inputs)).detach().numpy()
    assert np.abs(predicted - expected).max() < 1e-4
