"""Corrupt inputs: a flipped or truncated input file stops its stage with one line naming it.

Each case corrupts one input of one stage in a private copy of a small, consistent workspace
(real mnist-5k data; an untrained evaluator and generator, which is all these stages need
before they reject a file) and checks: exit 1, one `<stage>: error: ...` line naming the
file, no traceback, every file under data/ as it was, and no MLflow run left RUNNING.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import mlflow
import pytest
import torch

from ganops.artifacts import save_generator
from ganops.data.dataset import load_split, read_manifest
from ganops.gan import spec_for_data
from ganops.io import write_json, write_text
from ganops.metrics.evaluator import Evaluator, EvaluatorSpec, accuracy, extract, save_evaluator
from ganops.models import build_generator
from ganops.params import load_params
from ganops.sampling import write_samples
from ganops.tracking import open_run
from tests.helpers import STAGE_ARGS, load_stage, private_copy, write_params

STAGES: dict[str, ModuleType] = {name: load_stage(name) for name in STAGE_ARGS if name != "fetch"}

# What each stage reads (and must check before it writes anything).
INPUTS: dict[str, list[str]] = {
    "preprocess": ["data/raw/mnist_5k.csv.gz", "data/raw/source.json"],
    "train_evaluator": [
        "data/processed/train_images.npy",
        "data/processed/test_labels.npy",
        "data/processed/manifest.json",
    ],
    "train": [
        "data/processed/train_images.npy",
        "data/processed/train_labels.npy",
        "data/processed/manifest.json",
        "data/models/evaluator.pt",
    ],
    "sample": ["data/models/model.pt", "data/train/run.json"],
    "evaluate": [
        "data/samples/samples.npy",
        "data/samples/manifest.json",
        "data/models/evaluator.pt",
        "data/processed/train_images.npy",
        "data/train/run.json",
    ],
}
# Outputs of an earlier run of each stage; a failing stage leaves them as they are.
EARLIER_OUTPUTS = [
    "data/evaluator/metrics.json",
    "data/train/history.tsv",
    "data/train/fid.tsv",
    "data/train/metrics.json",
    "data/eval/metrics.json",
    "data/eval/plots/class_histogram.tsv",
]
FLIPPED_BYTES = 16


def flip_middle(data: bytes) -> bytes:
    """Invert `FLIPPED_BYTES` bytes around the middle of `data`."""
    flipped = bytearray(data)
    start = max(0, len(data) // 2 - FLIPPED_BYTES // 2)
    for index in range(start, min(len(data), start + FLIPPED_BYTES)):
        flipped[index] ^= 0xFF
    return bytes(flipped)


def truncate_half(data: bytes) -> bytes:
    return data[: len(data) // 2]


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "flip": flip_middle,
    "truncate": truncate_half,
}


def _cases() -> list[pytest.ParameterSet]:
    cases = []
    for stage, paths in INPUTS.items():
        for path in paths:
            for corruption in CORRUPTIONS:
                case_id = f"{stage}-{Path(path).name}-{corruption}"
                cases.append(pytest.param(stage, path, corruption, id=case_id))
    return cases


def _snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under `root`: file contents, or None for a directory."""
    return {
        str(path.relative_to(root)): path.read_bytes() if path.is_file() else None
        for path in sorted(root.rglob("*"))
    }


def _run_statuses(uri: str) -> dict[str, str]:
    """`{run_id: status}` of every run in the store at `uri`."""
    client = mlflow.MlflowClient(uri)
    ids = [experiment.experiment_id for experiment in client.search_experiments()]
    return {run.info.run_id: run.info.status for run in client.search_runs(ids)}


@pytest.fixture(scope="module")
def template(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with every stage's inputs and earlier outputs, and a finished MLflow run."""
    base = tmp_path_factory.mktemp("corruption")
    data = base / "data"
    shutil.copytree(prepared / "raw", data / "raw")
    shutil.copytree(prepared / "processed", data / "processed")
    params = load_params(write_params(base / "params.yaml"))
    train = load_split(data / "processed", "train")
    test = load_split(data / "processed", "test")
    cpu = torch.device("cpu")
    torch.manual_seed(0)

    spec = EvaluatorSpec(tuple(train.images.shape[1:]), train.class_names, 4)
    evaluator = Evaluator(spec).eval()
    features, logits = extract(evaluator, test.images, 500, cpu)
    reference = {"features": features, "logits": logits, "labels": torch.from_numpy(test.labels)}
    save_evaluator(
        data / "models" / "evaluator.pt", evaluator, accuracy(logits, test.labels), reference
    )

    generator_spec = spec_for_data(params, read_manifest(data / "processed"), len(train.images))
    generator = build_generator(generator_spec).eval()
    save_generator(data / "models" / "model.pt", generator, generator_spec)
    write_samples(generator, generator_spec, params.sample, data / "samples", cpu)

    for path in EARLIER_OUTPUTS:
        (base / path).parent.mkdir(parents=True, exist_ok=True)
        write_text(base / path, f"{path} of an earlier run\n")

    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(base)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{base / 'mlflow.db'}")
        patch.delenv("DVC_EXP_NAME", raising=False)
        with open_run(params.tracking, params, root=base) as run:
            run_id = run.run_id
    write_json(data / "train" / "run.json", {"run_id": run_id, "steps": 16})
    return base


@pytest.fixture
def workspace(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A private copy of `template`, made the working directory; returns its store's URI."""
    return private_copy(template, tmp_path, monkeypatch)


def test_the_workspace_is_sound(workspace: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Uncorrupted, the stages get past their checks (preprocess and sample even finish)."""
    assert STAGES["preprocess"].main(STAGE_ARGS["preprocess"]) == 0
    assert STAGES["sample"].main(STAGE_ARGS["sample"]) == 0
    assert set(_run_statuses(workspace).values()) == {"FINISHED"}
    capsys.readouterr()


@pytest.mark.parametrize(("stage", "path", "corruption"), _cases())
def test_corrupt_input_is_a_one_line_error(
    workspace: str,
    stage: str,
    path: str,
    corruption: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = Path(path)
    target.write_bytes(CORRUPTIONS[corruption](target.read_bytes()))
    before = _snapshot(Path("data"))
    runs_before = _run_statuses(workspace)
    capsys.readouterr()

    code = STAGES[stage].main(STAGE_ARGS[stage])

    err = capsys.readouterr().err
    assert code == 1, err
    assert "Traceback" not in err
    assert err.endswith("\n") and len(err.splitlines()) == 1, repr(err)
    assert err.startswith(f"{stage}: error: ") and path in err, repr(err)
    assert _snapshot(Path("data")) == before  # nothing written, earlier outputs intact
    assert mlflow.active_run() is None
    runs_after = _run_statuses(workspace)
    assert runs_after == runs_before  # no run opened, none left RUNNING
    assert "RUNNING" not in runs_after.values()
