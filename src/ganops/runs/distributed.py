"""Data-parallel training under torchrun: who this process is, and the few collectives used.

`torchrun --nproc_per_node=N pipeline/train.py ...` starts N copies of the stage; each
takes its slice of every global batch, gradients are averaged (the GAN's by
DistributedDataParallel, `World.wrap`; the translator's after each backward,
`World.average_gradients`), and only the main rank writes files, checkpoints and MLflow
records. `World.is_main` is the one place that decides who speaks. With `run.nproc: N`
the stage relaunches itself through torchrun, so `dvc repro` needs no other command.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ganops.errors import ConfigError, GanopsError
from ganops.runs.rank_reports import RANK_REPORTS, first_failure, rank_reports

log = logging.getLogger(__name__)

# torchrun sets these in every process it starts
_RANK, _WORLD_SIZE, _LOCAL_RANK = "RANK", "WORLD_SIZE", "LOCAL_RANK"
# the stage that relaunched itself under torchrun, for its ranks to watch
LAUNCHER_PID = "GANOPS_LAUNCHER_PID"
_PR_SET_PDEATHSIG = 1  # prctl(2)


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """The one process that writes outputs, checkpoints and MLflow records."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def shard(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's equal slice of a global batch (its first dimension)."""
        if not self.distributed:
            return batch
        per_rank = batch.shape[0] // self.size
        return batch[self.rank * per_rank : (self.rank + 1) * per_rank]

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        """`module` under DistributedDataParallel when there are several processes."""
        if not self.distributed:
            return module
        device_ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids)

    def average_gradients(self, parameters: Iterable[nn.Parameter]) -> None:
        """Replace each gradient of `parameters` by its mean over the ranks, as DDP does
        during backward; call it between backward and the optimiser's step (one all-reduce
        of all the gradients at once). Every rank must pass the same parameters."""
        if not self.distributed:
            return
        grads = [p.grad for p in parameters if p.grad is not None]
        if not grads:
            return
        flat = torch.cat([grad.reshape(-1) for grad in grads])
        dist.all_reduce(flat)  # a sum: Gloo has no average
        flat /= self.size
        for grad, mean in zip(grads, torch.split(flat, [g.numel() for g in grads]), strict=True):
            grad.copy_(mean.view_as(grad))

    def agree(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when `flag` is true on any (one small all-reduce)."""
        if not self.distributed:
            return flag
        value = torch.tensor([int(flag)], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def gather(self, value: Any) -> list[Any]:
        """`value` from every rank, in rank order (a picklable object from trusted peers)."""
        if not self.distributed:
            return [value]
        gathered: list[Any] = [None] * self.size
        dist.all_gather_object(gathered, value)
        return gathered

    def sync_buffers(self, module: nn.Module) -> None:
        """Copy rank 0's buffers (batch-norm statistics) to every rank.

        DDP does this at the start of each forward; after the last step each rank holds
        the statistics of its own last slice, and the published network is rank 0's.
        """
        if not self.distributed:
            return
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def world_from_env() -> World:
    """The `World` torchrun describes in the environment, or a single process."""
    if _WORLD_SIZE not in os.environ:
        return World()
    try:
        return World(
            rank=int(os.environ[_RANK]),
            size=int(os.environ[_WORLD_SIZE]),
            local_rank=int(os.environ.get(_LOCAL_RANK, "0")),
        )
    except ValueError:
        raise ConfigError(
            f"malformed torchrun environment: RANK={os.environ.get(_RANK)!r} "
            f"WORLD_SIZE={os.environ.get(_WORLD_SIZE)!r}"
        ) from None


def die_with_launcher(world: World, poll_s: float = 1.0) -> None:
    """Make this rank die when what launched it dies.

    torchrun starts its ranks in sessions of their own, so a `kill -9` of the stage's
    process group (a CI timeout, an out-of-memory kill) would leave them training on as
    orphans, writing the same files as the next run. A rank asks the kernel for SIGKILL
    when its parent (torchrun) dies, and watches the stage that relaunched it (when there
    is one) from a thread: gone, the rank kills itself. Nothing is left half-written: every
    file is written atomically, and the checkpoint the next run resumes from is whole.
    """
    if not world.distributed:
        return
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    launcher = int(os.environ.get(LAUNCHER_PID, "0") or 0)
    if launcher:
        threading.Thread(target=_watch, args=(launcher, poll_s), daemon=True).start()


def _watch(pid: int, poll_s: float) -> None:
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            log.error("the launching stage (pid %d) is gone: stopping this rank", pid)
            os.kill(os.getpid(), signal.SIGKILL)
        except PermissionError:
            pass  # alive, someone else's: cannot happen for our own parent, keep watching
        time.sleep(poll_s)


def join(world: World, device: torch.device) -> torch.device:
    """Join the process group (NCCL on GPUs, Gloo on CPU); return this rank's device."""
    if not world.distributed:
        return device
    if device.type == "cuda":
        if world.local_rank >= torch.cuda.device_count():
            raise ConfigError(
                f"run.nproc: local rank {world.local_rank} has no GPU "
                f"({torch.cuda.device_count()} visible); start one process per GPU"
            )
        device = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device


def leave(world: World) -> None:
    """Leave the process group (after a last barrier, so no rank exits mid-collective)."""
    if world.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def torchrun_command(nproc: int, argv: list[str]) -> list[str]:
    """The command that reruns this script under torchrun with `nproc` processes on this node.

    For several nodes, start torchrun yourself with its rendezvous flags (docs/gpu.md).
    """
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        *argv,
    ]


def weights_digest(module: nn.Module) -> str:
    """sha256 of a network's parameters and buffers, so ranks can show they agree."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def run_under_torchrun(script: Path, nproc: int, argv: list[str]) -> None:
    """Run `script` with `argv` under torchrun with `nproc` processes and wait for it.

    SIGINT and SIGTERM are passed on, so the ranks checkpoint and stop together; a run
    stopped that way ends in `KeyboardInterrupt`, any other failure in `GanopsError`
    naming the first error a rank reported (torchrun itself exits 1 whatever its ranks'
    exit status). When a rank dies, torchrun stops the others: SIGTERM, then SIGKILL after
    its 30 s shutdown timeout, so a dead rank never leaves the stage hanging.
    """
    command = torchrun_command(nproc, [str(script.resolve()), *argv])
    log.info("launching %d training processes: %s", nproc, " ".join(command[1:]))
    with rank_reports() as reports:
        env = {**os.environ, LAUNCHER_PID: str(os.getpid()), RANK_REPORTS: str(reports)}
        process = subprocess.Popen(command, env=env)
        stopped_by: list[str] = []

        def forward(number: int, _frame: object) -> None:
            stopped_by.append(signal.Signals(number).name)
            process.send_signal(number)

        stops = (signal.SIGINT, signal.SIGTERM)
        previous = {number: signal.signal(number, forward) for number in stops}
        try:
            code = process.wait()
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)
        first = first_failure(reports)
    if code and stopped_by:
        raise KeyboardInterrupt(f"torchrun's {nproc} training processes stopped by {stopped_by[0]}")
    if code:
        cause = (
            f"first reported: {first} (torchrun's summary above names a rank killed by a signal)"
            if first
            else "the ranks' errors are above"
        )
        raise GanopsError(
            f"torchrun with {nproc} training processes failed (exit status {code}); {cause}"
        )


def log_weight_digests(world: World, networks: dict[str, nn.Module]) -> None:
    """Under torchrun, each rank logs digests of its final weights (`networks` by name):
    they must all agree."""
    if world.distributed:
        digests = ", ".join(f"{name} sha256 {weights_digest(n)}" for name, n in networks.items())
        log.info("rank %d/%d weights: %s", world.rank, world.size, digests)
