"""Why a rank failed, told to its peers and to the stage that launched them.

Under torchrun a rank that raises exits, and its peers see only what that does to their next
collective (Gloo: "Connection reset by peer"). Rank 0, the one that writes the MLflow run,
would record that symptom. So each rank leaves its error in a folder the launching stage
made (`RANK_REPORTS`) before it exits: the peer whose collective then fails, and the stage
once torchrun returns, name the first failure instead. The order is safe: a rank's report is
written before its exit closes the connections its peers then find broken. A rank killed by
a signal leaves no report; torchrun's summary names it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ganops.errors import GanopsError, first_line
from ganops.io import write_json

if TYPE_CHECKING:  # distributed runs the launch and imports this module
    from ganops.runs.distributed import World

RANK_REPORTS = "GANOPS_RANK_REPORTS"  # the folder; set by the stage that runs torchrun


class PeerFailed(GanopsError):
    """Another rank failed first, and this rank's collective failed with it."""


def describe_failure(rank: int, error: BaseException) -> str:
    """`rank 1 raised ValueError: <first line>`."""
    return f"rank {rank} raised {type(error).__name__}: {first_line(error, 480)}"


def _folder(world: World) -> Path | None:
    """Where this rank's launch collects reports; None for a single process (no peer to
    tell) or ranks no stage launched (a user's own torchrun, perhaps across nodes)."""
    folder = os.environ.get(RANK_REPORTS, "")
    return Path(folder) if folder and world.distributed else None


def report_failure(world: World, error: BaseException) -> None:
    """Leave this rank's error for its peers and the launcher (when a stage launched it)."""
    folder = _folder(world)
    if folder is None:
        return
    report = {"rank": world.rank, "error": describe_failure(world.rank, error), "time": time.time()}
    write_json(folder / f"rank-{world.rank}.json", report)


def first_failure(folder: Path, excluding: int | None = None) -> str | None:
    """The earliest report in `folder` (of a rank other than `excluding`), or None."""
    reports = []
    for path in folder.glob("rank-*.json"):
        try:
            report = json.loads(path.read_text())
            reports.append((float(report["time"]), int(report["rank"]), str(report["error"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # half a report is no report
    earliest = min((r for r in reports if r[1] != excluding), default=None)
    return None if earliest is None else earliest[2]


@contextmanager
def peers_blamed(world: World) -> Iterator[None]:
    """Within the block, an error that follows a peer's reported failure becomes `PeerFailed`
    naming that failure. This rank's own `GanopsError` (a divergence, a bad input) stands:
    it has a reason of its own."""
    try:
        yield
    except GanopsError:
        raise
    except Exception as error:
        folder = _folder(world)
        cause = first_failure(folder, excluding=world.rank) if folder else None
        if cause is None:
            raise
        raise PeerFailed(cause) from error


@contextmanager
def rank_reports() -> Iterator[Path]:
    """A fresh folder for the ranks of one launch to report in, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="ganops-ranks-") as folder:
        yield Path(folder)
