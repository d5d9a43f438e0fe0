"""`run.json`: the train stage's record of what it trained, read back by every later stage;
and beside it `mlflow_run.json`: which MLflow run it was.

`run.json` is tracked by git (a DVC metrics file) and holds only what the params determine
(their hash, the steps, the published step, the conditioning, the hardware class the bytes
depend on), so rebuilding a commit leaves it, `dvc.lock` and `git status` unchanged. The run's
id, experiment, store, logged model and training time change with every rebuild: they go to
`mlflow_run.json`, git-ignored and no DVC output, written in the workspace that trained (a
`dvc exp run --temp` copy included) for the later stages there. Where it is missing or of
other params (the train stage restored from DVC's cache, a fresh clone), the later stages and
`ganops report` find the run in the MLflow store by its `params.hash` tag.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ganops.errors import DataError
from ganops.io import read_json_record, write_json

_SQLITE = "sqlite:///"
LINK_NAME = "mlflow_run.json"  # beside run.json: the MLflow side of the record
# what changes from one rebuild of the same params to the next: never in run.json
LINK_FIELDS = ("run_id", "experiment_id", "tracking_uri", "model_uri", "train_time_s")


def link_path(record: Path) -> Path:
    """Where the MLflow side of the run record at `record` lives."""
    return record.with_name(LINK_NAME)


def portable_uri(uri: str, root: Path) -> str:
    """`uri` as run.json keeps it: a sqlite store inside the project at `root` relative to
    that root (`sqlite:///mlflow.db`), valid in any clone; any other URI as it is."""
    if uri.startswith(_SQLITE):
        path = Path(uri.removeprefix(_SQLITE))
        if path.is_absolute() and path.is_relative_to(root):
            return _SQLITE + path.relative_to(root).as_posix()
    return uri


def relative_store(uri: str) -> str | None:
    """The path of a sqlite store recorded relative to the project root, else None."""
    path = uri.removeprefix(_SQLITE)
    return path if uri.startswith(_SQLITE) and not Path(path).is_absolute() else None


def resolve_uri(uri: str, root: Path) -> str:
    """A tracking URI from run.json as one to open from the project at `root`."""
    local = relative_store(uri)
    return f"{_SQLITE}{root / local}" if local else uri


@dataclass(frozen=True)
class RunRecord:
    """One training run: where MLflow keeps it and what it produced."""

    run_id: str  # "" when this workspace's link names no run of these params
    experiment_id: str = ""
    tracking_uri: str = ""  # credentials removed; a store in the project relative to its root
    model_uri: str = ""  # the logged generator, `models:/<id>`
    params_hash: str = ""  # of the params that shaped the weights
    steps: int = 0
    published_step: int = 0  # the step whose generator was published
    train_time_s: float = 0.0
    conditioning: str = ""  # "conditional, 10 classes (model.conditional: auto)", or unconditional
    hardware: str = ""  # "cpu, 2 threads" or "cuda": the bytes differ between them

    def store_uri(self, root: Path) -> str:
        """The tracking URI to open this run's store from the project at `root`."""
        return resolve_uri(self.tracking_uri, root)

    def write(self, path: Path) -> None:
        """Write what the params determine to `path` and the run's identity and time to
        `link_path(path)`, each atomically as sorted JSON (stable bytes for DVC)."""
        fields = asdict(self)
        link = {name: fields.pop(name) for name in LINK_FIELDS}
        write_json(link_path(path), {**link, "params_hash": self.params_hash})
        write_json(path, fields)

    @classmethod
    def read(cls, path: Path) -> RunRecord:
        """The record at `path`, with its run from `link_path(path)` when that link is of the
        same params (else `run_id` is "": look the run up by `params_hash`). A missing or
        corrupt record is a one-line `DataError` naming the stage to rerun."""
        payload = read_json_record(path, producer="train")
        link = path.with_name(LINK_NAME)
        if link.exists():
            linked = read_json_record(link, producer="train")
            if linked.get("params_hash") == payload.get("params_hash"):
                payload = {**linked, **payload}
        types = {"steps": int, "published_step": int, "train_time_s": float}
        fields = {}
        for name in cls.__dataclass_fields__:
            if name in payload:
                convert = types.get(name, str)
                try:
                    fields[name] = convert(payload[name])
                except (TypeError, ValueError):
                    raise DataError(f"{path}: corrupt ({name}); rerun the train stage") from None
        return cls(**{"run_id": "", **fields})
