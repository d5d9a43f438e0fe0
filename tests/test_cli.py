"""The `ganops` command."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganops.artifacts import load_generator, save_generator
from ganops.cli import main
from ganops.config import Params
from ganops.models import GeneratorSpec, build_generator
from ganops.sampling import generate, latent_batch
from ganops.tracking import open_run

SPEC = GeneratorSpec("dcgan", 8, 4, (1, 28, 28))
CONDITIONAL = GeneratorSpec("dcgan", 8, 4, (1, 28, 28), num_classes=10)


@pytest.fixture
def generator_file(tmp_path: Path) -> Path:
    path = tmp_path / "generator.pt"
    save_generator(path, build_generator(SPEC), SPEC)
    return path


@pytest.fixture
def conditional_file(tmp_path: Path) -> Path:
    path = tmp_path / "conditional.pt"
    torch.manual_seed(0)
    save_generator(path, build_generator(CONDITIONAL), CONDITIONAL)
    return path


def expected_samples(path: Path, labels: list[int]) -> np.ndarray:
    """What the conditional generator at `path` draws for `labels` with the default seed."""
    generator, spec = load_generator(path)
    latents = latent_batch(len(labels), spec.latent_dim, 0, torch.device("cpu"))
    return generate(generator, latents, 500, labels=torch.tensor(labels))


def test_sample_the_classes_asked_for(conditional_file: Path, tmp_path: Path) -> None:
    base = ["sample", "--model", str(conditional_file), "--device", "cpu", "-n"]
    assert main([*base, "6", "--class", "3", "7", "--out", str(tmp_path / "list.npy")]) == 0
    repeated = ["--class", "3", "--class", "7", "--out", str(tmp_path / "rep.npy")]
    assert main([*base, "6", *repeated]) == 0
    samples = np.load(tmp_path / "list.npy")
    assert np.array_equal(samples, np.load(tmp_path / "rep.npy"))
    assert np.array_equal(samples, expected_samples(conditional_file, [3, 3, 3, 7, 7, 7]))
    # without --class: every class in turn
    assert main([*base, "20", "--out", str(tmp_path / "all.npy")]) == 0
    every = expected_samples(conditional_file, [k for k in range(10) for _ in range(2)])
    assert np.array_equal(np.load(tmp_path / "all.npy"), every)


def test_a_png_of_a_conditional_generator_has_a_row_per_class(
    conditional_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "grid.png"
    base = ["sample", "--model", str(conditional_file), "--device", "cpu"]
    assert main([*base, "-n", "64", "--out", str(out)]) == 0
    # 64 images of 10 classes, in blocks of 6 or 7: 10 rows of 7 columns (not 8 x 8)
    grid = np.asarray(Image.open(out))
    assert grid.shape == (10 * 86 + 2, 7 * 86 + 2)
    labels = [i * 10 // 64 for i in range(64)]  # the CLI's blocks
    expected = expected_samples(conditional_file, labels)
    for row in range(10):
        first = expected[labels.index(row), 0].repeat(3, 0).repeat(3, 1)  # shown at 3x
        top = 2 + 86 * row
        assert np.array_equal(grid[top : top + 84, 2 : 2 + 84], first)
        if labels.count(row) == 6:  # a short row ends blank
            assert (grid[top : top + 84, 2 + 6 * 86 : 2 + 6 * 86 + 84] == 0).all()


@pytest.mark.parametrize(
    ("conditional", "classes", "message"),
    [
        (False, ["3"], "--class: this generator is unconditional and takes no class"),
        (True, ["3", "10"], "--class: 10 is not a class of this generator (0 to 9)"),
        (True, ["-1"], "--class: -1 is not a class of this generator (0 to 9)"),
    ],
)
def test_class_errors_are_one_line(
    generator_file: Path,
    conditional_file: Path,
    tmp_path: Path,
    conditional: bool,
    classes: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = conditional_file if conditional else generator_file
    out = tmp_path / "s.npy"
    assert main(["sample", "--model", str(model), "--out", str(out), "--class", *classes]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not out.exists()


def test_sample_to_npy_npz_and_png(generator_file: Path, tmp_path: Path) -> None:
    assert (
        main(
            ["sample", "--model", str(generator_file), "-n", "12", "--out", str(tmp_path / "s.npy")]
        )
        == 0
    )
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (12, 1, 28, 28) and samples.dtype == np.uint8
    assert (
        main(
            ["sample", "--model", str(generator_file), "-n", "12", "--out", str(tmp_path / "s.npz")]
        )
        == 0
    )
    assert np.array_equal(np.load(tmp_path / "s.npz")["images"], samples)  # same default seed
    assert (
        main(
            ["sample", "--model", str(generator_file), "-n", "9", "--out", str(tmp_path / "g.png")]
        )
        == 0
    )
    assert Image.open(tmp_path / "g.png").size == (3 * 86 + 2, 3 * 86 + 2)  # 28 px shown 3x


def test_sample_from_an_mlflow_model_uri(
    mlflow_store: str, tiny_params: Callable[..., Params], workdir: Path
) -> None:
    generator = build_generator(SPEC).eval()
    with open_run(tiny_params().tracking, tiny_params(), root=workdir) as run:
        run.log_generator(generator, SPEC, registered_model="cli-generator")
    out = workdir / "from-registry.npy"
    assert main(["sample", "--model", "models:/cli-generator/1", "-n", "5", "--out", str(out)]) == 0
    local = workdir / "local.npy"
    save_generator(workdir / "g.pt", generator, SPEC)
    assert main(["sample", "--model", str(workdir / "g.pt"), "-n", "5", "--out", str(local)]) == 0
    assert np.abs(np.load(out).astype(int) - np.load(local).astype(int)).max() <= 1


def test_sample_classes_from_a_conditional_mlflow_model(
    conditional_file: Path, mlflow_store: str, tiny_params: Callable[..., Params], workdir: Path
) -> None:
    generator, spec = load_generator(conditional_file)
    with open_run(tiny_params().tracking, tiny_params(), root=workdir) as run:
        run.log_generator(generator, spec, registered_model="cli-conditional")
    out = workdir / "sevens.npy"
    argv = ["sample", "--model", "models:/cli-conditional/1", "-n", "4", "--class", "7"]
    assert main([*argv, "--device", "cpu", "--out", str(out)]) == 0
    expected = expected_samples(conditional_file, [7, 7, 7, 7]).astype(int)
    assert np.abs(np.load(out).astype(int) - expected).max() <= 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "x.jpg"], "--out: use one of .npy, .npz, .png"),
        (["--model", "nothing-here.pt"], "nothing-here.pt: generator not found"),
        (
            ["--model", "models:/no-such-model/1"],
            "cannot load MLflow model models:/no-such-model/1",
        ),
    ],
)
def test_errors_are_one_line(
    generator_file: Path,
    mlflow_store: str,
    workdir: Path,
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["sample", "--model", str(generator_file), "--out", "x.npy"]
    for flag, value in zip(args[::2], args[1::2], strict=True):
        argv[argv.index(flag) + 1] = value
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_console_script_is_installed(generator_file: Path, tmp_path: Path) -> None:
    ganops = Path(sys.executable).parent / "ganops"
    done = subprocess.run(
        [str(ganops), "sample", "--help"], capture_output=True, text=True, check=True
    )
    assert "--model" in done.stdout and "MLflow model URI" in done.stdout
    bad = subprocess.run(
        [str(ganops), "sample", "--model", str(generator_file), "-n", "0", "--out", "a.npy"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "must be at least 1" in bad.stderr


def test_score_against_the_test_split_and_another_set(
    evaluator_file: Path, prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    test_images = prepared / "processed" / "test_images.npy"
    argv = [
        "score",
        str(test_images),
        "--evaluator",
        str(evaluator_file),
        "--params",
        "absent.yaml",
    ]
    assert main([*argv, "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["fid"] == 0.0 and scores["precision"] == 1.0 and scores["classes_covered"] == 10
    assert main(argv) == 0
    table = capsys.readouterr().out
    assert "against the real test split" in table and "fid" in table and "recall" in table
    train_images = prepared / "processed" / "train_images.npy"
    assert main([*argv, "--reference", str(train_images), "--json"]) == 0
    assert 0 < json.loads(capsys.readouterr().out)["fid"] < 5  # real vs real: near the floor


def test_score_loads_no_training_code(evaluator_file: Path, prepared: Path) -> None:
    """Scoring images is a command of its own: it must not import the training package (nor
    MLflow), so it starts fast and works where only the evaluator is installed."""
    script = (
        "import sys; from ganops.cli import main; "
        f"code = main(['score', {str(prepared / 'processed' / 'test_images.npy')!r}, "
        f"'--evaluator', {str(evaluator_file)!r}, '--params', 'absent.yaml', '--json']); "
        "loaded = sorted(m for m in sys.modules "
        "if m.startswith(('ganops.gan', 'ganops.runs', 'mlflow'))); "
        "print('LOADED', loaded, file=sys.stderr); sys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stderr, done.stderr.splitlines()[-1]


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (
            np.zeros((600, 1, 32, 32), np.uint8),
            "images are 1x32x32 (CxHxW) but the evaluator takes 1x28x28",
        ),
        (np.zeros((600, 3, 28, 28), np.uint8), "images are 3x28x28"),
    ],
)
def test_score_rejects_what_it_cannot_score(
    evaluator_file: Path,
    tmp_path: Path,
    images: np.ndarray,
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    np.save(tmp_path / "s.npy", images)
    assert main(["score", str(tmp_path / "s.npy"), "--evaluator", str(evaluator_file),
                 "--params", "absent.yaml"]) == 1  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_a_labelled_folder_that_imagefolder_reads(
    conditional_file: Path, prepared: Path, tmp_path: Path
) -> None:
    from torchvision.datasets import ImageFolder

    out = tmp_path / "synthetic"
    args = ["sample", "--model", str(conditional_file), "--device", "cpu", "-n", "12"]
    data = ["--data", str(prepared / "processed")]
    assert main([*args, "--class", "3", "7", *data, "--out", f"{out}/"]) == 0
    folder = ImageFolder(str(out))
    assert folder.classes == ["3", "7"]  # named as the processed manifest names them
    assert [label for _, label in folder.samples] == [0] * 6 + [1] * 6
    drawn = expected_samples(conditional_file, [3] * 6 + [7] * 6)
    first = np.asarray(Image.open(folder.samples[0][0]))
    assert np.array_equal(first, drawn[0, 0])  # lossless: the very pixels generated
    import json

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["class_counts"] == {"3": 6, "7": 6} and manifest["count"] == 12
    assert manifest["seed"] == 0 and manifest["generator"] == str(conditional_file)
    assert len(manifest["generator_sha256"]) == 64 and manifest["run_id"] is None
    # written again, the folder is replaced whole, not added to
    assert main([*args, "-n", "4", "--class", "1", *data, "--out", str(out)]) == 0
    assert ImageFolder(str(out)).classes == ["1"] and len(ImageFolder(str(out))) == 4


def test_a_folder_names_its_run_and_refuses_to_replace_a_users_folder(
    conditional_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    record = tmp_path / "run.json"
    record.write_text(json.dumps({"run_id": "abc123"}))
    out = tmp_path / "mine"
    base = ["sample", "--model", str(conditional_file), "--device", "cpu", "-n", "10"]
    assert main([*base, "--run-record", str(record), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["run_id"] == "abc123"
    assert sorted(manifest["class_counts"]) == [str(k) for k in range(10)]  # no manifest: indices
    users = tmp_path / "photos"
    users.mkdir()
    (users / "holiday.png").write_bytes(b"not ours")
    capsys.readouterr()
    assert main([*base, "--out", f"{users}/"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("photos exists and was not written by ganops sample: not replacing it")
    assert (users / "holiday.png").read_bytes() == b"not ours"


def test_an_unconditional_folder_is_flat_pngs_that_ganops_score_reads(
    generator_file: Path, tmp_path: Path
) -> None:
    from ganops.data.images import read_images

    out = tmp_path / "flat"
    args = ["sample", "--model", str(generator_file), "--device", "cpu", "-n", "5"]
    assert main([*args, "--out", f"{out}/"]) == 0
    assert sorted(p.name for p in out.iterdir())[:2] == ["000000.png", "000001.png"]
    assert read_images(out).shape == (5, 1, 28, 28)
