"""The checkpoint, a DVC output, keeps its bytes when the same params train again: the MLflow
run it continues is named in a file beside it that DVC ignores."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from ganops.errors import GanopsError
from ganops.io import save_torch
from ganops.runs import Checkpointing
from ganops.runs.resume import RUN_FILE, PartsState, continued_run_id, read_resume_state


def _save(folder: Path, run_id: str, params_hash: str = "h1") -> Path:
    torch.manual_seed(0)  # the same global random state in both saves
    meta = {"params_hash": params_hash, "run_id": run_id, "world_size": 1}
    checkpointing = Checkpointing(folder / "last.pt", meta)
    checkpointing.save("fmt", {"step": 3, "weight": torch.arange(4.0)}, epoch=1)
    return folder / "last.pt"


def test_the_same_state_in_two_runs_is_the_same_bytes(tmp_path: Path) -> None:
    first, second = _save(tmp_path / "a", "run-a"), _save(tmp_path / "b", "run-b")
    assert first.read_bytes() == second.read_bytes()
    payload = read_resume_state(first, "h1", 10, 1, "fmt")
    assert payload is not None and "run_id" not in payload
    assert continued_run_id(first, payload) == "run-a"
    assert continued_run_id(second, payload) == "run-b"
    assert RUN_FILE in Path(".dvcignore").read_text().split()


def test_a_checkpoint_without_its_run_file_continues_in_a_new_run(tmp_path: Path) -> None:
    path = _save(tmp_path, "run-a")
    payload = read_resume_state(path, "h1", 10, 1, "fmt")
    assert payload is not None
    (tmp_path / RUN_FILE).write_text('{"params_hash": "other", "run_id": "run-x"}')
    assert continued_run_id(path, payload) is None  # a run of other params
    (tmp_path / RUN_FILE).write_text("{torn")
    assert continued_run_id(path, payload) is None
    (tmp_path / RUN_FILE).unlink()  # restored from DVC's cache
    assert continued_run_id(path, payload) is None
    older = {**payload, "run_id": "run-old"}  # a checkpoint written before the run file
    save_torch(tmp_path / "old.pt", older)
    assert continued_run_id(tmp_path / "old.pt", older) == "run-old"


class _Diverged(GanopsError):
    pass


@dataclass
class _TwoNets(PartsState):
    PARTS = ("net", "critic", "optimizer")
    WATCHED = ("net", "critic")
    DIVERGED = _Diverged
    HINT = "lower the learning rate"

    net: nn.Module
    critic: nn.Module
    optimizer: torch.optim.Optimizer
    step: int = 0


def _two_nets(seed: int) -> _TwoNets:
    torch.manual_seed(seed)
    net, critic = nn.Linear(3, 2), nn.Linear(2, 1)
    optimizer = torch.optim.Adam([*net.parameters(), *critic.parameters()])
    critic(net(torch.ones(1, 3))).sum().backward()  # type: ignore[no-untyped-call]
    optimizer.step()  # the optimiser has a state to save
    return _TwoNets(net, critic, optimizer, step=7)


def test_a_parts_state_saves_and_restores_every_part_and_names_the_one_that_diverged() -> None:
    """The restyle and text states: the step, then each part's own state, in PARTS' order."""
    state = _two_nets(0)
    saved = state.state_dict()
    assert list(saved) == ["step", "net", "critic", "optimizer"] and saved["step"] == 7
    other = _two_nets(1)
    other.load_state_dict(saved)
    assert other.step == 7
    torch.testing.assert_close(other.net.weight, state.net.weight, rtol=0, atol=0)
    assert other.optimizer.state_dict()["state"].keys() == saved["optimizer"]["state"].keys()
    state.check_finite()  # finite: nothing raised
    with torch.no_grad():
        state.critic.bias.fill_(float("nan"))
    with pytest.raises(_Diverged, match="the critic are no longer finite at step 7; lower the"):
        state.check_finite()
