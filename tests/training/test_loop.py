"""The training loop: finite losses, determinism, exact resume, divergence."""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from ganops.config import Params, params_hash
from ganops.data.dataset import load_split, to_training_tensor
from ganops.gan import GanState, build_state, train
from ganops.gan.loop import TrainingDiverged, epoch_permutation
from ganops.gan.state import RESUME_FORMAT
from ganops.models import GeneratorSpec
from ganops.runs import Checkpointing, read_resume_state

CPU = torch.device("cpu")


class Recorder:
    """A StepLogger that keeps everything in memory."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.metrics: list[tuple[int, dict[str, float]]] = []
        self.grids: list[tuple[int, np.ndarray]] = []
        self.flushes = 0
        self.stop_after = stop_after

    def log_metrics(self, step: int, metrics: dict[str, float]) -> None:
        self.metrics.append((step, metrics))
        if self.stop_after is not None and step >= self.stop_after:
            raise KeyboardInterrupt  # simulate a crash after this step

    def log_grid(self, step: int, picture: np.ndarray) -> None:
        self.grids.append((step, picture))

    def flush(self) -> None:
        self.flushes += 1


def _setup(params: Params, prepared: Path, count: int = 1000) -> tuple[GeneratorSpec, torch.Tensor]:
    split = load_split(prepared / "processed", "train")
    spec = GeneratorSpec(
        params.model.arch, params.model.latent_dim, params.model.width, (1, 28, 28)
    )
    return spec, to_training_tensor(split.images[:count], CPU)


@pytest.fixture
def params(tiny_params: Callable[..., Params]) -> Params:
    return tiny_params({"train": {"epochs": 2, "batch_size": 100}})


def test_tiny_run_logs_every_step_and_a_grid_per_epoch(params: Params, prepared: Path) -> None:
    spec, data = _setup(params, prepared)
    recorder = Recorder()
    result = train(
        build_state(spec, params.train, CPU), data, params.train, recorder, progress=False
    )
    assert result.steps == 20 and result.images_seen == 2000
    assert [step for step, _ in recorder.metrics] == list(range(1, 21))
    for _, metrics in recorder.metrics:
        assert set(metrics) == {"loss_d", "loss_g", "d_real", "d_fake", "images_per_s"}
        assert all(np.isfinite(list(metrics.values())))
        assert 0 <= metrics["d_real"] <= 1 and 0 <= metrics["d_fake"] <= 1
    assert [step for step, _ in recorder.grids] == [10, 20]
    assert recorder.grids[0][1].shape == (4 * 86 + 2, 4 * 86 + 2, 1)  # 16 images, 28 px x 3
    assert recorder.grids[0][1].std() > 0


def test_log_every_averages_intervals(tiny_params: Callable[..., Params], prepared: Path) -> None:
    params = tiny_params({"train": {"epochs": 1, "batch_size": 100}, "run": {"log_every": 4}})
    spec, data = _setup(params, prepared)
    recorder = Recorder()
    state = build_state(spec, params.train, CPU)
    train(state, data, params.train, recorder, progress=False, log_every=params.run.log_every)
    assert [step for step, _ in recorder.metrics] == [4, 8, 10]  # and the epoch's last step


def _weights(state: GanState) -> dict[str, torch.Tensor]:
    return {
        **state.generator.state_dict(),
        **{f"d.{k}": v for k, v in state.discriminator.state_dict().items()},
    }


def test_same_seed_gives_bitwise_identical_weights(params: Params, prepared: Path) -> None:
    spec, data = _setup(params, prepared)
    runs = []
    for _ in range(2):
        state = build_state(spec, params.train, CPU)
        train(state, data, params.train, Recorder(), progress=False)
        runs.append(_weights(state))
    assert runs[0].keys() == runs[1].keys()
    assert all(torch.equal(runs[0][key], runs[1][key]) for key in runs[0])
    other = params.model_copy(update={"train": params.train.model_copy(update={"seed": 1})})
    state = build_state(spec, other.train, CPU)
    train(state, data, other.train, Recorder(), progress=False)
    assert not torch.equal(_weights(state)["net.0.weight"], runs[0]["net.0.weight"])


@pytest.mark.parametrize("crash_after", [6, 11, 15])
def test_resume_from_checkpoint_is_exact(
    tiny_params: Callable[..., Params], prepared: Path, tmp_path: Path, crash_after: int
) -> None:
    params = tiny_params(
        {"train": {"epochs": 2, "batch_size": 100}, "run": {"checkpoint_every": 4}}
    )
    spec, data = _setup(params, prepared)
    reference = build_state(spec, params.train, CPU)
    full = Recorder()
    train(reference, data, params.train, full, progress=False)

    digest = params_hash(params)
    checkpointing = Checkpointing(
        path=tmp_path / "last.pt", meta={"params_hash": digest}, every_steps=4
    )
    crashed = build_state(spec, params.train, CPU)
    with pytest.raises(KeyboardInterrupt):
        train(
            crashed,
            data,
            params.train,
            Recorder(stop_after=crash_after),
            checkpointing,
            progress=False,
        )

    payload = read_resume_state(tmp_path / "last.pt", digest, 20, 1, RESUME_FORMAT)
    assert payload is not None
    resumed = build_state(spec, params.train, CPU)
    resumed.load_state_dict(payload["state"])
    # saved every 4 steps and at epoch ends (10 steps); the crash comes before its own step's save
    assert resumed.step == max(s for s in (4, 8, 10, 12, 16) if s < crash_after)
    after = Recorder()
    train(resumed, data, params.train, after, checkpointing, progress=False)
    assert all(
        torch.equal(a, b)
        for a, b in zip(_weights(reference).values(), _weights(resumed).values(), strict=True)
    )
    # the resumed run reports exactly the steps after the checkpoint, with the same values
    expected = [(s, m) for s, m in full.metrics if s > payload["state"]["step"]]
    assert [s for s, _ in after.metrics] == [s for s, _ in expected]
    for (_, got), (_, want) in zip(after.metrics, expected, strict=True):
        assert got["loss_d"] == want["loss_d"] and got["loss_g"] == want["loss_g"]


def test_checkpoint_with_other_params_is_not_used(
    params: Params, prepared: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec, data = _setup(params, prepared)
    checkpointing = Checkpointing(path=tmp_path / "last.pt", meta={"params_hash": "aaaa"})
    state = build_state(spec, params.train, CPU)
    with pytest.raises(KeyboardInterrupt):
        train(state, data, params.train, Recorder(stop_after=12), checkpointing, progress=False)
    with caplog.at_level(logging.INFO):
        assert read_resume_state(tmp_path / "last.pt", "bbbb", 20, 1, RESUME_FORMAT) is None
    assert "written with other training params" in caplog.text
    assert read_resume_state(tmp_path / "last.pt", "aaaa", 20, 1, RESUME_FORMAT) is not None
    assert read_resume_state(tmp_path / "last.pt", "aaaa", 10, 1, RESUME_FORMAT) is None  # finished


def test_nan_loss_stops_with_the_step(params: Params, prepared: Path) -> None:
    spec, data = _setup(params, prepared)
    data[:] = float("nan")
    with pytest.raises(TrainingDiverged, match=r"training diverged at step 1: loss_d is nan"):
        train(build_state(spec, params.train, CPU), data, params.train, Recorder(), progress=False)


def test_epoch_order_depends_only_on_seed_and_epoch() -> None:
    first = epoch_permutation(100, seed=0, epoch=3, device=CPU)
    assert torch.equal(first, epoch_permutation(100, seed=0, epoch=3, device=CPU))
    assert not torch.equal(first, epoch_permutation(100, seed=0, epoch=4, device=CPU))
    assert sorted(first.tolist()) == list(range(100))


def test_repeated_passes_make_one_longer_epoch(
    tiny_params: Callable[..., Params], prepared: Path
) -> None:
    # one pass is the order it always was; each further pass is a fresh permutation
    single = epoch_permutation(100, seed=0, epoch=3, device=CPU)
    triple = epoch_permutation(100, seed=0, epoch=3, device=CPU, repeats=3)
    assert torch.equal(triple[:100], single) and not torch.equal(triple[100:200], single)
    assert np.bincount(triple.numpy()).tolist() == [3] * 100
    params = tiny_params({"train": {"epochs": 2, "batch_size": 40, "epoch_repeats": 3}})
    spec, data = _setup(params, prepared, count=100)
    recorder = Recorder()
    result = train(build_state(spec, params.train, CPU), data, params.train, recorder,
                   progress=False)  # fmt: skip
    assert result.steps == 14  # 300 images an epoch: 7 whole batches of 40
    assert [step for step, _ in recorder.grids] == [7, 14]


def test_last_epoch_means_average_the_final_epoch_only() -> None:
    from ganops.gan import last_epoch_means

    rows = [
        {"step": s, "loss_d": float(s), "loss_g": 1.0, "d_real": 0.5, "d_fake": 0.5}
        for s in range(1, 7)
    ]
    means = last_epoch_means(rows, steps_per_epoch=3)
    assert means == {"loss_d": 5.0, "loss_g": 1.0, "d_real": 0.5, "d_fake": 0.5, "steps": 6}


def test_probe_runs_on_schedule_and_keeps_the_best_generator(
    tiny_params: Callable[..., Params], prepared: Path, tmp_path: Path
) -> None:
    from ganops.gan import Probe

    params = tiny_params({"train": {"epochs": 5, "batch_size": 100}})
    spec, data = _setup(params, prepared)
    scores = iter([5.0, 3.0, 4.0])  # best after the second measurement
    snapshots: dict[int, dict[str, torch.Tensor]] = {}

    def measure(generator: torch.nn.Module) -> dict[str, float]:
        snapshots[len(snapshots)] = {k: v.clone() for k, v in generator.state_dict().items()}
        return {"quick_fid": next(scores), "other": 1.0}

    watched: list[tuple[int, dict[str, float]]] = []
    probe = Probe(2, measure, watch=lambda step, found: watched.append((step, found)))
    state = build_state(spec, params.train, CPU)
    recorder = Recorder()
    checkpointing = Checkpointing(path=tmp_path / "last.pt", meta={"params_hash": "h"})
    train(state, data, params.train, recorder, checkpointing, probe, progress=False)
    probed = [(step, m["quick_fid"]) for step, m in recorder.metrics if "quick_fid" in m]
    assert probed == [(20, 5.0), (40, 3.0), (50, 4.0)]  # epochs 2 and 4, and the last
    assert all(m["other"] == 1.0 for _, m in recorder.metrics if "quick_fid" in m)
    assert [(step, found["quick_fid"]) for step, found in watched] == probed
    assert state.best["step"] == 40 and state.best["score"] == 3.0
    assert all(torch.equal(state.best["generator"][k], v) for k, v in snapshots[1].items())
    saved = read_resume_state(tmp_path / "last.pt", "h", 10**6, 1, RESUME_FORMAT)
    assert saved is not None and saved["state"]["best"]["step"] == 40


def test_a_stop_request_checkpoints_the_step_then_resume_is_exact(
    params: Params, prepared: Path, tmp_path: Path
) -> None:
    from ganops.runs import StopRequest
    from ganops.runs.signals import TrainingStopped

    spec, data = _setup(params, prepared)
    reference = build_state(spec, params.train, CPU)
    train(reference, data, params.train, Recorder(), progress=False)

    class StopAt(Recorder):
        """Asks to stop (as SIGTERM would) when step 13 is logged: mid-epoch 2."""

        def __init__(self, stop: StopRequest) -> None:
            super().__init__()
            self.stop = stop

        def log_metrics(self, step: int, metrics: dict[str, float]) -> None:
            super().log_metrics(step, metrics)
            if step == 13:
                self.stop.request(signal.SIGTERM)

    stop = StopRequest()
    checkpointing = Checkpointing(tmp_path / "last.pt", {"params_hash": params_hash(params)})
    state = build_state(spec, params.train, CPU)
    with pytest.raises(TrainingStopped, match="stopped by SIGTERM at step 13"):
        train(state, data, params.train, StopAt(stop), checkpointing, progress=False, stop=stop)
    resume = read_resume_state(checkpointing.path, params_hash(params), 20, 1, RESUME_FORMAT)
    assert resume is not None and resume["state"]["step"] == 13
    assert (resume["epoch"], resume["batch_in_epoch"]) == (1, 3)

    resumed = build_state(spec, params.train, CPU)
    resumed.load_state_dict(resume["state"])
    train(resumed, data, params.train, Recorder(), progress=False)
    for name, tensor in reference.generator.state_dict().items():
        assert torch.equal(tensor, resumed.generator.state_dict()[name]), name


def test_non_finite_weights_stop_before_a_checkpoint_is_written(
    params: Params, prepared: Path, tmp_path: Path
) -> None:
    from ganops.gan.state import save_checkpoint

    spec, _ = _setup(params, prepared)
    state = build_state(spec, params.train, CPU)
    checkpointing = Checkpointing(tmp_path / "last.pt", {"params_hash": "x"})
    save_checkpoint(checkpointing, state, steps_per_epoch=10)
    good = checkpointing.path.read_bytes()
    with torch.no_grad():
        next(state.discriminator.parameters()).view(-1)[0] = float("nan")
    with pytest.raises(TrainingDiverged, match="step 0: discriminator weights are not finite"):
        save_checkpoint(checkpointing, state, steps_per_epoch=10)
    assert checkpointing.path.read_bytes() == good  # the last good checkpoint is intact


def test_global_random_states_round_trip() -> None:
    import random

    from ganops.runs.resume import global_rng_state, set_global_rng_state

    saved = global_rng_state()
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(1), np.random.seed(1), torch.manual_seed(1)  # type: ignore[func-returns-value]
    set_global_rng_state(saved)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
