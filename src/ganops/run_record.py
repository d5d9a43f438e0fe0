"""`run.json`: the train stage's record of its MLflow run, read back by every later stage.

Tracked by git (a DVC metrics file), so `dvc exp show` and `ganops report` find the run of
every commit and experiment; it names nothing of the machine that wrote it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ganops.errors import DataError
from ganops.io import read_json_record, write_json

_SQLITE = "sqlite:///"


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

    run_id: str
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
        """Write the record atomically as sorted JSON (stable bytes for DVC)."""
        write_json(path, asdict(self))

    @classmethod
    def read(cls, path: Path) -> RunRecord:
        """The record at `path`; a one-line `DataError` naming the stage to rerun otherwise.
        Only `run_id` is required: later stages need nothing else."""
        payload = read_json_record(path, producer="train")
        run_id = payload.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            raise DataError(f"{path}: has no run_id; rerun the train stage")
        types = {"steps": int, "published_step": int, "train_time_s": float}
        fields = {}
        for name in cls.__dataclass_fields__:
            if name in payload:
                convert = types.get(name, str)
                try:
                    fields[name] = convert(payload[name])
                except (TypeError, ValueError):
                    raise DataError(f"{path}: corrupt ({name}); rerun the train stage") from None
        return cls(**fields)
