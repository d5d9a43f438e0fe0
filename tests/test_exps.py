"""`ganops exps`: one row a revision, the headline scores and only the params that differ."""

from __future__ import annotations

from typing import Any

from ganops.exps import render, rows_of


def _data(lr: float, fid: float | None, seconds: float = 140.0) -> dict[str, Any]:
    params = {"train": {"lr": lr, "epochs": 40, "seed": 0}, "model": {"width": 32}}
    metrics: dict[str, Any] = {"data/train/run.json": {"data": {"train_time_s": seconds}}}
    if fid is not None:
        scores = {"fid": fid, "precision": 0.79, "recall": 0.66, "cas": 0.9}
        metrics["data/eval/metrics.json"] = {"data": {**scores, "real_floor": {"fid": 0.46}}}
    return {
        "timestamp": "2026-11-26T08:52:51",
        "params": {"params.yaml": {"data": params}},
        "metrics": metrics,
    }


# the shape of `dvc exp show --json` (DVC 3): the workspace, a commit and its experiments
SHOWN = [
    {"rev": "workspace", "data": _data(0.0005, 3.507)},
    {
        "rev": "b7919f2c31fc28e946a749b1cac62f29a7fad9ca",
        "name": "main",
        "data": _data(0.0005, 3.507),
        "experiments": [
            {"name": "quick-lark", "revs": [{"rev": "1" * 40, "name": "quick-lark",
                                             "data": _data(0.001, 4.2, 150.0)}]},
            {"name": "queued", "revs": [{"rev": "2" * 40, "name": "queued", "data": None}]},
        ],
    },
]  # fmt: skip


def test_one_row_a_revision_with_scores_and_only_the_params_that_differ() -> None:
    lines = render(rows_of(SHOWN)).splitlines()
    assert lines[0].split() == [
        "Experiment", "Created", "fid", "precision", "recall", "cas", "train", "s", "params",
        "that", "differ",
    ]  # fmt: skip
    assert [line.split()[0] for line in lines[1:]] == ["workspace", "main", "quick-lark"]
    assert lines[3].split()[3:9] == ["4.20", "0.790", "0.660", "0.900", "150", "train.lr=0.001"]
    assert "train.epochs" not in "\n".join(lines)  # the same everywhere: not shown
    assert lines[2].split()[-1] == "train.lr=0.0005"


def test_the_table_fits_the_width_asked_for() -> None:
    wide = [dict(entry) for entry in SHOWN]
    for key in range(30):  # many params that differ
        wide[0]["data"]["params"]["params.yaml"]["data"].setdefault("eval", {})[f"k{key}"] = key
    lines = render(rows_of(wide), width=80).splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any(line.endswith("…") for line in lines)


def test_no_revision_says_what_to_run() -> None:
    assert render([]) == "no experiments: run dvc repro, or dvc exp run -S key=value"


def test_a_revision_without_scores_shows_dashes() -> None:
    row = rows_of([{"rev": "workspace", "data": _data(0.0005, None)}])
    assert render(row).splitlines()[1].split()[3:8] == ["-", "-", "-", "-", "140"]
