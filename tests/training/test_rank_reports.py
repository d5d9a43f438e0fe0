"""Ranks of one launch report their failures to each other and to the stage that launched
them, so the run records the first failure rather than a peer's broken collective."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ganops.errors import DataError, GanopsError
from ganops.runs.distributed import World, run_under_torchrun
from ganops.runs.rank_reports import (
    RANK_REPORTS,
    PeerFailed,
    first_failure,
    peers_blamed,
    report_failure,
)

RANK_0, RANK_1 = World(rank=0, size=2), World(rank=1, size=2)


@pytest.fixture
def reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder a launching stage would make, named in the environment."""
    monkeypatch.setenv(RANK_REPORTS, str(tmp_path))
    return tmp_path


def test_a_rank_reports_its_error_in_one_line(reports: Path) -> None:
    report_failure(RANK_1, ValueError("bad batch\nand a traceback's worth of detail"))
    saved = json.loads((reports / "rank-1.json").read_text())
    assert saved["rank"] == 1
    assert saved["error"] == "rank 1 raised ValueError: bad batch"
    assert first_failure(reports) == "rank 1 raised ValueError: bad batch"


def test_nothing_is_reported_without_a_launcher_or_a_peer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(RANK_REPORTS, raising=False)
    report_failure(RANK_1, ValueError("x"))  # started by a user's own torchrun: nowhere to go
    monkeypatch.setenv(RANK_REPORTS, str(tmp_path))
    report_failure(World(), ValueError("x"))  # a single process has no peer to tell
    assert list(tmp_path.iterdir()) == []


def test_the_first_failure_is_the_earliest_of_the_others(reports: Path) -> None:
    (reports / "rank-0.json").write_text(json.dumps({"rank": 0, "error": "late", "time": 20.0}))
    (reports / "rank-2.json").write_text(json.dumps({"rank": 2, "error": "first", "time": 10.0}))
    (reports / "rank-3.json").write_text(json.dumps({"rank": 3, "error": "second", "time": 15.0}))
    (reports / "rank-4.json").write_text('{"rank": 4, "err')  # half written: no report
    assert first_failure(reports) == "first"
    assert first_failure(reports, excluding=2) == "second"
    assert first_failure(reports / "missing") is None


def test_a_broken_collective_after_a_peer_failed_names_the_peer(reports: Path) -> None:
    report_failure(RANK_1, ValueError("out of memory on rank 1"))
    expected = r"^rank 1 raised ValueError: out of memory"
    with pytest.raises(PeerFailed, match=expected) as caught, peers_blamed(RANK_0):
        raise RuntimeError("[gloo] Read error: Connection reset by peer")
    assert isinstance(caught.value.__cause__, RuntimeError)  # the symptom stays in the chain


def test_an_error_of_its_own_stands(reports: Path) -> None:
    with pytest.raises(RuntimeError, match="Connection reset"), peers_blamed(RANK_0):
        raise RuntimeError("Connection reset by peer")  # no peer reported: the error is this one
    report_failure(RANK_1, ValueError("rank 1 broke too"))
    with pytest.raises(DataError, match="training diverged"), peers_blamed(RANK_0):
        raise DataError("training diverged at step 7")  # a reason of its own, whatever peers say


def test_the_launcher_names_the_rank_that_failed_first(tmp_path: Path) -> None:
    """Real torchrun with two processes: rank 1 raises, rank 0 exits cleanly."""
    script = tmp_path / "rank_1_fails.py"
    script.write_text(
        "from ganops.runs.distributed import world_from_env\n"
        "from ganops.runs.rank_reports import report_failure\n"
        "world = world_from_env()\n"
        "if world.rank == 1:\n"
        "    try:\n"
        "        raise ValueError('no such device on rank 1')\n"
        "    except ValueError as error:\n"
        "        report_failure(world, error)\n"
        "        raise\n"
    )
    with pytest.raises(GanopsError) as caught:
        run_under_torchrun(script, 2, [])
    message = str(caught.value)
    assert message.startswith("torchrun with 2 training processes failed (exit status 1)")
    assert "first reported: rank 1 raised ValueError: no such device on rank 1" in message
