"""`ganops score` on what `ganops sample` writes, and on sets smaller than params.yaml's
sizes: class sub-folders are the classes, small sets get the scores defined for them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from ganops.artifacts import load_generator
from ganops.cli import main
from ganops.data.dataset import load_split
from ganops.metrics.evaluator import accuracy, extract, load_evaluator
from ganops.sampling import class_labels, generate, latent_batch
from tests.helpers import run_stages_in


def _score(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["score", *argv, "--params", "absent.yaml", "--json"]) == 0
    return dict(json.loads(capsys.readouterr().out))


def _save_pngs(folder: Path, images: np.ndarray) -> None:
    folder.mkdir(parents=True)
    for index, image in enumerate(images):
        Image.fromarray(image[0]).save(folder / f"{index:03d}.png")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, prepared: Path, evaluator_file: Path) -> Path:
    """A workspace whose train stage trained the tiny conditional generator (one epoch)."""
    base = tmp_path_factory.mktemp("score") / "base"
    shutil.copytree(prepared / "processed", base / "data" / "processed")
    (base / "data" / "models").mkdir()
    shutil.copy2(evaluator_file, base / "data" / "models" / "evaluator.pt")
    run_stages_in(base, ("train",))
    return base


@pytest.mark.slow
@pytest.mark.parametrize("count", [200, 64])
def test_score_reads_the_class_folders_ganops_sample_writes(
    trained: Path, tmp_path: Path, count: int, capsys: pytest.CaptureFixture[str]
) -> None:
    generator = trained / "data" / "models" / "model.pt"
    data = trained / "data" / "processed"
    evaluator = trained / "data" / "models" / "evaluator.pt"
    out = tmp_path / "synthetic"
    assert main(["sample", "--model", str(generator), "-n", str(count), "--device", "cpu",
                 "--data", str(data), "--out", f"{out}/"]) == 0  # fmt: skip
    assert len([p for p in out.iterdir() if p.is_dir()]) == 10  # a sub-folder per class

    scores = _score(capsys, str(out), "--evaluator", str(evaluator), "--data", str(data))

    # the classes are read from the folders: the evaluator's accuracy on the very samples
    # drawn for them, computed here from the generator itself
    net, spec = load_generator(generator)
    labels = class_labels(count, None, spec, torch.device("cpu"), option="--class")
    assert labels is not None
    drawn = generate(net, latent_batch(count, spec.latent_dim, 0, torch.device("cpu")), 500,
                     labels=labels)  # fmt: skip
    _, logits = extract(load_evaluator(evaluator).network, drawn, 500, torch.device("cpu"))
    assert scores["conditional_accuracy"] == round(accuracy(logits, labels.numpy()), 6)
    per_class = scores["per_class"]
    assert sorted(per_class) == [str(k) for k in range(10)]
    assert sum(figures["images"] for figures in per_class.values()) == count
    assert 0 <= scores["cas"] <= 1 and 0 <= scores["cas_real"] <= 1
    # eval.kid_subset_size (500 by default) is more than the set: KID on subsets of the set
    assert scores["notes"] == [
        f"KID drew subsets of {count} images: the kid subset size 500 is more than the "
        f"{count} images of the smaller set"
    ]
    for key in ("fid", "kid_mean", "precision", "recall", "isc_mean", "classes_covered"):
        assert isinstance(scores[key], float), key
    assert "not_defined" not in scores


@pytest.mark.slow
def test_class_folders_without_the_splits_give_conditional_accuracy_not_cas(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    generator = trained / "data" / "models" / "model.pt"
    out = tmp_path / "synthetic"
    assert (
        main(
            ["sample", "--model", str(generator), "-n", "30", "--device", "cpu", "--out", f"{out}/"]
        )
        == 0
    )  # fmt: skip  (no manifest: folders named 0..9)
    evaluator = str(trained / "data" / "models" / "evaluator.pt")
    scores = _score(capsys, str(out), "--evaluator", evaluator, "--data", str(tmp_path / "none"))
    assert isinstance(scores["conditional_accuracy"], float)
    assert scores["cas"] is None and scores["cas_real"] is None
    assert "holds no processed data" in scores["not_defined"]["cas"]


def test_a_64_image_set_gets_what_is_defined_for_it(
    evaluator_file: Path, prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    test = load_split(prepared / "processed", "test")
    np.save(tmp_path / "s64.npy", test.images[:64])
    evaluator = ["--evaluator", str(evaluator_file)]
    scores = _score(capsys, str(tmp_path / "s64.npy"), *evaluator)
    assert scores["notes"][0].startswith("KID drew subsets of 64 images")
    assert all(isinstance(scores[k], float) for k in ("fid", "kid_mean", "precision", "isc_mean"))
    # a subset size given on the command line, within the set: used as it is, no note
    chosen = _score(capsys, str(tmp_path / "s64.npy"), *evaluator, "--kid-subset-size", "32")
    assert "notes" not in chosen and chosen["kid_mean"] != scores["kid_mean"]
    # 3 images: precision/recall (k = 3) and the Inception Score (10 splits) are not defined
    np.save(tmp_path / "s3.npy", test.images[:3])
    few = _score(capsys, str(tmp_path / "s3.npy"), *evaluator)
    assert few["precision"] is None and few["recall"] is None and few["isc_mean"] is None
    reasons = few["not_defined"]
    assert "needs more than eval.prc_neighborhood = 3 images per set" in reasons["recall"]
    assert reasons["isc_mean"] == "needs at least eval.isc_splits = 10 images (3 generated)"
    assert isinstance(few["fid"], float) and few["notes"][0].startswith("KID drew subsets of 3")
    # the table says the same in words
    assert main(["score", str(tmp_path / "s3.npy"), *evaluator, "--params", "absent.yaml"]) == 0
    table = capsys.readouterr().out
    assert "precision" in table and "not defined  (needs more than" in table
    assert "note: KID drew subsets of 3 images" in table


def test_class_folders_are_labels_and_bad_layouts_are_one_line(
    evaluator_file: Path, prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    test = load_split(prepared / "processed", "test")
    sevens, ones = test.images[test.labels == 7][:20], test.images[test.labels == 1][:20]
    real = tmp_path / "real"
    _save_pngs(real / "7", sevens)
    _save_pngs(real / "1", ones)
    evaluator = ["--evaluator", str(evaluator_file), "--data", str(prepared / "processed")]
    scores = _score(capsys, str(real), *evaluator)
    assert sorted(scores["per_class"]) == ["1", "7"]
    assert scores["per_class"]["7"]["images"] == 20 and scores["conditional_accuracy"] > 0.9
    assert 0 <= scores["cas"] <= 1

    def one_line_error(folder: Path) -> str:
        capsys.readouterr()
        assert main(["score", str(folder), *evaluator, "--params", "absent.yaml"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        return err[0]

    (real / "stray.png").write_bytes((real / "7" / "000.png").read_bytes())
    assert "holds both images (stray.png) and sub-folders (1/)" in one_line_error(real)
    (real / "stray.png").unlink()
    _save_pngs(real / "cat", ones[:2])
    assert "real/cat/: not a class of the evaluator" in one_line_error(real)
    shutil.rmtree(real / "cat")
    (real / "7" / "deeper").mkdir()
    assert "a folder inside the class folder 7/" in one_line_error(real)
