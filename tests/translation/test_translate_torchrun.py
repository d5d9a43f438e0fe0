"""The translator under torchrun: two Gloo processes on CPU through the real train stage with
`run.nproc: 2` (the stage reruns itself under torchrun, as `dvc repro` starts it): what the
stage writes, identical weights on both ranks, exact resume after SIGKILL, a rank's failure
in the run and the launcher, one-line errors before any write; and the one-process
translator, bit for bit what it was before torchrun came to it."""

from __future__ import annotations

import csv
import hashlib
import logging
import os
import re
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import mlflow
import pytest
import torch

from ganops.config import TranslateConfig
from ganops.runs.distributed import weights_digest
from ganops.runs.loggers import FanOut
from ganops.runs.resume import Checkpointing, read_resume_state
from ganops.translation.artifact import load_translator
from ganops.translation.loop import (
    RESUME_FORMAT,
    UNPAIRED_METRICS,
    Training,
    build_translator,
    train_translator,
    translator_spec,
)
from tests.helpers import (
    STAGE_ARGS,
    TRAINING_S,
    load_stage,
    processes_in,
    run_stages_in,
    train_record,
    train_stage,
    write_params,
)
from tests.translation.test_translate_stages import UNPAIRED

# MNIST -> UCI digits, CycleGAN (three calls of each generator a backward, fake pools):
# 1,200 images of A, 6 steps of 200 (100 a rank), a checkpoint every 2
TWO_RANKS: dict[str, Any] = UNPAIRED | {"run": UNPAIRED["run"] | {"nproc": 2}}
STEPS = 6
DIGESTS = re.compile(r"rank (\d)/2 weights: (.+)")


@pytest.fixture(scope="module")
def domains(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace where fetch, preprocess and train_evaluator ran the unpaired task (tiny)."""
    base = tmp_path_factory.mktemp("domains")
    run_stages_in(base, ("fetch", "preprocess", "train_evaluator"), UNPAIRED)
    return base


def _workspace(domains: Path, work: Path) -> str:
    """A copy of the prepared data with 2-process params in `work`; its own store's URI."""
    shutil.copytree(domains / "data", work / "data")
    write_params(work / "params.yaml", TWO_RANKS)
    return f"sqlite:///{work / 'mlflow.db'}"


@pytest.fixture(scope="module")
def two_ranks(domains: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """One whole 2-process run: its workspace, store and output."""
    work = tmp_path_factory.mktemp("two-ranks") / "w"
    uri = _workspace(domains, work)
    process = train_stage(work, uri)
    output, _ = process.communicate(timeout=TRAINING_S)
    assert process.returncode == 0, output
    return work, uri, output


def _the_run(uri: str) -> mlflow.entities.Run:
    client = mlflow.MlflowClient(uri)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return run


def _logged_steps(work: Path, uri: str) -> tuple[list[int], list[int]]:
    """The steps of `train/loss_d` in MLflow and of history.tsv's rows."""
    history = mlflow.MlflowClient(uri).get_metric_history(_the_run(uri).info.run_id, "train/loss_d")
    with (work / "data/train/history.tsv").open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return sorted(m.step for m in history), [int(row["step"]) for row in rows]


@pytest.mark.slow
def test_two_gloo_ranks_train_as_one_and_only_rank_0_writes(
    two_ranks: tuple[Path, str, str],
) -> None:
    work, uri, output = two_ranks
    assert "launching 2 training processes" in output
    assert "unpaired translator (resnet) on cpu x 2 processes" in output

    # both ranks end with identical weights, all four networks, and rank 0 published them
    digests = dict(DIGESTS.findall(output))
    assert set(digests) == {"0", "1"}, output
    assert digests["0"] == digests["1"]
    generators, _ = load_translator(work / "data/models/model.pt")
    for key, generator in generators.items():
        assert f"generator_{key} sha256 {weights_digest(generator)}" in digests["0"]
    assert "discriminator_a sha256" in digests["0"]

    # the outputs a stage writes, and one MLflow run from rank 0: every step once
    for name in ("history.tsv", "fid.tsv", "metrics.json", "run.json"):
        assert (work / "data/train" / name).is_file(), name
    record = train_record(work / "data/train/run.json")
    run = _the_run(uri)
    assert (run.info.run_id, run.info.status) == (record["run_id"], "FINISHED")
    assert run.data.params["run.nproc"] == "2"
    assert run.data.tags["ganops.world_size"] == "2"
    assert {f"train/{name}" for name in UNPAIRED_METRICS} <= set(run.data.metrics)
    assert _logged_steps(work, uri) == (list(range(1, STEPS + 1)),) * 2
    assert output.count("epoch 1/1") == 1  # progress is logged by rank 0 alone

    # the checkpoint names its world size and holds each rank's own pools
    checkpoint = torch.load(work / "data/checkpoints/last.pt", weights_only=True)
    assert checkpoint["world_size"] == 2
    pools = checkpoint["state"]["pools_per_rank"]
    assert len(pools) == 2 and not torch.equal(pools[0]["b"]["images"], pools[1]["b"]["images"])


@pytest.mark.slow
def test_a_checkpoint_resumes_only_with_its_world_size(
    two_ranks: tuple[Path, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    work = two_ranks[0]
    checkpoint = work / "data/checkpoints/last.pt"
    digest = train_record(work / "data/train/run.json")["params_hash"]
    with caplog.at_level(logging.INFO):
        resumed = read_resume_state(checkpoint, digest, STEPS + 1, 1, RESUME_FORMAT)
    assert resumed is None
    assert "it was written by 2 processes, this run has 1" in caplog.text
    assert read_resume_state(checkpoint, digest, STEPS + 1, 2, RESUME_FORMAT) is not None


def _checkpoint_step(path: Path) -> int:
    try:
        return int(torch.load(path, weights_only=True)["state"]["step"])
    except Exception:  # absent, or mid-rename: not a checkpoint yet
        return 0


@pytest.mark.slow
def test_a_sigkilled_two_rank_run_resumes_to_the_same_bytes(
    two_ranks: tuple[Path, str, str], domains: Path, tmp_path: Path
) -> None:
    """kill -9 of the stage's process group past a checkpoint: the ranks die with it, and the
    rerun resumes on two ranks, each with its own pools, to the uninterrupted run's bytes."""
    work = tmp_path / "w"
    uri = _workspace(domains, work)
    stage = train_stage(work, uri, background=True)
    checkpoint = work / "data/checkpoints/last.pt"
    deadline = time.monotonic() + TRAINING_S
    while _checkpoint_step(checkpoint) == 0:
        assert stage.poll() is None, (work / "stage.log").read_text()
        assert time.monotonic() < deadline, f"no checkpoint within {TRAINING_S} s"
        time.sleep(0.1)
    os.killpg(stage.pid, signal.SIGKILL)
    stage.wait(timeout=30)
    deadline = time.monotonic() + 10  # the ranks poll for their launcher every second
    while processes_in(work) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_in(work) == [], "ranks outlived their launcher"
    assert not (work / "data/models/model.pt").exists()  # killed before the end
    killed_at = _checkpoint_step(checkpoint)

    rerun = train_stage(work, uri)
    output, _ = rerun.communicate(timeout=TRAINING_S)
    assert rerun.returncode == 0, output
    assert f"at step {killed_at}" in output  # resumed, not restarted
    published = (work / "data/models/model.pt").read_bytes()
    assert published == (two_ranks[0] / "data/models/model.pt").read_bytes()
    assert _the_run(uri).info.status == "FINISHED"
    assert _logged_steps(work, uri) == (list(range(1, STEPS + 1)),) * 2  # every step once


# Started before the stage by Python itself (PYTHONPATH), in every process; in rank 1 alone
# it makes the 3rd training step raise, as a bug or a bad device on one rank would.
FAULT = """
import os
if os.environ.get("RANK") == "1":
    import ganops.translation.loop as training
    step, calls = training.STEPS["cyclegan"], []
    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise ValueError("injected fault in rank 1 at its step 3")
        return step(*args, **kwargs)
    training.STEPS["cyclegan"] = failing
"""


@pytest.mark.slow
def test_a_rank_that_raises_fails_the_run_with_its_reason(domains: Path, tmp_path: Path) -> None:
    work = tmp_path / "w"
    uri = _workspace(domains, work)
    (tmp_path / "fault").mkdir()
    (tmp_path / "fault" / "sitecustomize.py").write_text(FAULT)
    stage = train_stage(work, uri, env={"PYTHONPATH": str(tmp_path / "fault")})
    output, _ = stage.communicate(timeout=TRAINING_S)
    assert stage.returncode == 1, output
    reason = "rank 1 raised ValueError: injected fault in rank 1 at its step 3"
    assert f"first reported: {reason}" in output  # the launcher's one line
    run = _the_run(uri)
    assert run.info.status == "FAILED"
    # rank 0 only saw its collective break; what it records is rank 1's reason
    assert run.data.tags["error"] == f"PeerFailed: {reason}"


@pytest.mark.slow
def test_the_relaunch_checks_the_translators_inputs(
    domains: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """`run.nproc: 2` with domain A missing: the translator's one-line error, before
    torchrun starts or anything is written (the GAN's checks would have passed)."""
    work = tmp_path / "w"
    _workspace(domains, work)
    (work / "data/processed/A/manifest.json").unlink()
    monkeypatch.chdir(work)
    assert load_stage("train").main(STAGE_ARGS["train"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1].startswith("train: error: ") and "rerun the preprocess stage" in error[-1]
    assert not any("launching" in line for line in error)
    assert not (work / "data/checkpoints").exists()


def test_a_batch_that_does_not_split_between_torchruns_ranks_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Started by torchrun directly with 3 processes (params say 1): one line, nothing written."""
    monkeypatch.chdir(tmp_path)
    write_params(Path("params.yaml"), UNPAIRED)
    for name, value in (("RANK", "0"), ("WORLD_SIZE", "3"), ("LOCAL_RANK", "0")):
        monkeypatch.setenv(name, value)
    assert load_stage("train").main(STAGE_ARGS["train"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [
        "train: error: translate.batch_size: 200 does not split evenly between torchrun's 3 "
        "processes"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]


# sha256 prefixes of a tiny translator's networks after 3 steps in one process, under the CPU
# kernel pins (ganops.CPU_KERNEL_PINS) and fused Adam: the same on any x86-64 CPU with AVX2
# (tests/test_cpu_kinds.py runs them on emulated CPUs of other makers and widths). Both were
# first recorded by the code before torchrun came to the translator (b5b8d9b); fused Adam
# changed the unpaired one. CUT's (with its patch heads) was recorded when it came.
RECORDED_ONE_PROCESS = {
    "paired": "0e8b2346911e0b70", "unpaired": "35e47f2d1213070f", "cut": "daced81720f84cfa",
}  # fmt: skip


@pytest.mark.parametrize("family", ["paired", "unpaired", "cut"])
def test_one_process_trains_the_bytes_it_did(family: str, tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # reductions split over threads round differently
    try:
        paired = family == "paired"
        cfg = TranslateConfig(epochs=1, batch_size=4, width=4, blocks=1, pool_size=3)
        if family == "cut":
            cfg = cfg.model_copy(update={"source": "mnist-5k", "method": "cut", "nce_patches": 16})
        rng = torch.Generator().manual_seed(7)
        a = torch.rand(10, 1, 28, 28, generator=rng) * 2 - 1  # 3 steps: 4, 4, then 2 images
        b = torch.rand(10, 1, 28, 28, generator=rng) * 2 - 1
        spec = translator_spec(cfg, paired, 1, 28)
        state = build_translator(cfg, spec, paired, torch.device("cpu"))
        work = Training(a, b, a[:2], b[:2], Checkpointing(tmp_path / "last.pt", {}))
        train_translator(state, cfg, work, FanOut())
    finally:
        torch.set_num_threads(threads)
    hasher = hashlib.sha256()
    for module in (*state.generators.values(), *state.discriminators.values(),
                   *state.heads.values()):  # fmt: skip
        for tensor in module.state_dict().values():
            hasher.update(tensor.contiguous().numpy().tobytes())
    assert state.step == 3
    assert hasher.hexdigest()[:16] == RECORDED_ONE_PROCESS[family]
