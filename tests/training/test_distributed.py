"""Who a process is under torchrun, and how a global batch is split between ranks."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from ganops.config import Params
from ganops.errors import ConfigError, GanopsError
from ganops.models import GeneratorSpec, build_generator
from ganops.runs.distributed import (
    World,
    run_under_torchrun,
    torchrun_command,
    weights_digest,
    world_from_env,
)


def test_one_process_without_torchrun(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    world = world_from_env()
    assert world == World() and world.is_main and not world.distributed


def test_torchrun_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "1")
    world = world_from_env()
    assert (world.rank, world.size, world.local_rank) == (3, 4, 1)
    assert world.distributed and not world.is_main
    monkeypatch.setenv("RANK", "x")
    with pytest.raises(ConfigError, match="malformed torchrun environment"):
        world_from_env()


def test_ranks_split_the_global_batch_without_overlap() -> None:
    batch = torch.arange(12)
    shards = [World(rank, 3).shard(batch) for rank in range(3)]
    assert torch.equal(torch.cat(shards), batch)
    assert World().shard(batch) is batch


def test_batch_must_split_evenly(tiny_params: Callable[..., Params]) -> None:
    assert tiny_params({"train": {"batch_size": 250}, "run": {"nproc": 2}}).run.nproc == 2
    with pytest.raises(ConfigError, match=r"train\.batch_size: 250 does not split evenly"):
        tiny_params({"train": {"batch_size": 250}, "run": {"nproc": 3}})


def test_torchrun_command_runs_this_interpreter() -> None:
    command = torchrun_command(2, ["pipeline/train.py", "--data", "d"])
    assert command[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert "--nproc_per_node=2" in command and command[-3:] == ["pipeline/train.py", "--data", "d"]


def test_weights_digest_sees_one_changed_value() -> None:
    spec = GeneratorSpec("dcgan", 8, 4, (1, 28, 28))
    torch.manual_seed(0)
    first = build_generator(spec)
    torch.manual_seed(0)
    second = build_generator(spec)
    assert weights_digest(first) == weights_digest(second)
    with torch.no_grad():
        next(second.parameters()).view(-1)[0] += 1e-6
    assert weights_digest(first) != weights_digest(second)


def test_a_failing_rank_is_a_one_line_error(tmp_path: Path) -> None:
    script = tmp_path / "fails.py"
    script.write_text("raise SystemExit(3)\n")
    with pytest.raises(GanopsError, match=r"torchrun with 2 training processes failed"):
        run_under_torchrun(script, 2, [])


AVERAGING = """
import sys
from pathlib import Path
import torch
from ganops.runs.distributed import join, leave, world_from_env
world = world_from_env()
join(world, torch.device("cpu"))
layer, unused = torch.nn.Linear(2, 1), torch.nn.Parameter(torch.zeros(1))
layer.weight.grad = torch.full((1, 2), float(world.rank + 1))
layer.bias.grad = torch.tensor([10.0 * world.rank])
world.average_gradients([*layer.parameters(), unused])
grads = [layer.weight.grad.tolist(), layer.bias.grad.tolist(), unused.grad]
Path(sys.argv[1], f"rank-{world.rank}.txt").write_text(repr(grads))
leave(world)
"""


def test_ranks_average_their_gradients(tmp_path: Path) -> None:
    """Real torchrun with two Gloo processes: each ends with the mean of both gradients, and
    a parameter without a gradient keeps none."""
    script = tmp_path / "average.py"
    script.write_text(AVERAGING)
    run_under_torchrun(script, 2, [str(tmp_path)])
    for rank in (0, 1):
        assert (tmp_path / f"rank-{rank}.txt").read_text() == "[[[1.5, 1.5]], [5.0], None]"
    layer = torch.nn.Linear(2, 1)
    layer.weight.grad = torch.ones(1, 2)
    World().average_gradients(layer.parameters())  # one process: nothing to average
    assert layer.weight.grad.tolist() == [[1.0, 1.0]]
