"""Reading params.yaml: the section models of `ganops.config`, checked against the registries
(data sources, augmentations, architectures) and across sections.

Only stage scripts and the CLI read params files; everything else takes `Params`.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ganops.augment import parse_policy
from ganops.config import (
    DEFAULT_PARAMS_FILE,
    MOVED_KEYS,
    Params,
    Registries,
    check_batch_split,
    kid_subset_problem,
)
from ganops.data.sources import source_problem
from ganops.errors import ConfigError
from ganops.models import image_size_problem

REGISTRIES = Registries(source_problem=source_problem, parse_policy=parse_policy)


def parse_params(raw: Any, origin: str = "params") -> Params:
    """Validate an already-parsed mapping; raise `ConfigError` with a one-line message."""
    params = validate_params(raw, origin, REGISTRIES)
    _check_cross_section(params, origin)
    return params


def read_yaml(path: Path) -> Any:
    """Parse a YAML 1.2 file (as DVC does: `2e-4` is a float, `yes` a string)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: params file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot be read ({error})") from None
    try:
        return YAML(typ="safe", pure=True).load(text)
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or type(error).__name__
        raise ConfigError(f"{path}: not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from None


def load_params(path: Path = DEFAULT_PARAMS_FILE) -> Params:
    """Read and validate params.yaml; every problem is a one-line `ConfigError`."""
    return parse_params(read_yaml(path), origin=str(path))


def _known_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        keys.append(key)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(_known_keys(annotation, f"{key}."))
    return keys


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(error: Any) -> str:
    # repr-escape control characters, so a key with a line break stays on one line
    key = ".".join(str(part).encode("unicode_escape").decode("ascii") for part in error["loc"])
    if error["type"] == "extra_forbidden":
        if key in MOVED_KEYS:
            return f"{key}: moved to {MOVED_KEYS[key]} (its own section of params.yaml)"
        close = difflib.get_close_matches(key, _known_keys(Params), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return f"{key}: unknown key{hint}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{key}: {message} (got {_short(error['input'])})"


def format_validation_error(error: ValidationError, origin: str) -> str:
    """One line for all problems pydantic found, each naming its key."""
    return f"{origin}: " + "; ".join(_describe(item) for item in error.errors())


def validate_params(raw: Any, origin: str, registries: Registries) -> Params:
    """Validate an already-parsed mapping against the section models; a `ConfigError` with
    a one-line message otherwise. Cross-section checks are `ganops.params`'."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{origin}: the top level must be a mapping of sections")
    try:
        return Params.model_validate(raw, context=registries)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, origin)) from None


def _check_translation(params: Params, origin: str) -> None:
    source, nproc = params.translate.source, params.run.nproc
    check_batch_split(  # the translator's global batch is its own
        params.translate.batch_size, nproc, f"run.nproc: {nproc}", origin, "translate.batch_size"
    )
    if source == params.data.source:
        raise ConfigError(
            f"{origin}: translate.source: domain A is {source!r}, the same source as domain B "
            "(data.source); name another source, or null for a paired task"
        )
    if source == "folder":
        raise ConfigError(
            f"{origin}: translate.source: folder is domain B's (data.folder); domain A needs "
            "a source of its own"
        )


def _check_restyle(params: Params, origin: str) -> None:
    source = params.restyle.content_source
    if source is not None and source == params.data.source:
        raise ConfigError(
            f"{origin}: restyle.content_source: the content images are {source!r}, the same "
            "source as the style images (data.source); name another source, or null for one "
            "domain"
        )
    if source == "folder":
        raise ConfigError(
            f"{origin}: restyle.content_source: folder is the style images' (data.folder); "
            "a user's two domains are restyle.folder (trainA/ and trainB/)"
        )


def _check_labels(params: Params, origin: str) -> None:
    """Checks of `data.labelled_per_class` and the semi-supervised GAN against the rest."""
    data, train = params.data, params.train
    kept, labelled = data.train_per_class, data.labelled_per_class
    if kept is not None and labelled is not None and labelled > kept:
        raise ConfigError(
            f"{origin}: data.labelled_per_class: {labelled} is more than the {kept} training "
            "images a class that data.train_per_class keeps"
        )
    if params.task == "restyle" and labelled is not None:
        raise ConfigError(
            f"{origin}: data.labelled_per_class: a restyler's discriminator judges each output "
            "by its content's class, so it needs every label; set it to null for task: restyle"
        )
    if params.task == "translate" and labelled is not None:
        raise ConfigError(
            f"{origin}: data.labelled_per_class: a translator learns from images, not their "
            "labels; set it to null for task: translate"
        )
    if train.semi_supervised and params.model.arch not in ("mlp", "dcgan"):
        raise ConfigError(
            f"{origin}: train.semi_supervised: its discriminator is mlp or dcgan, not "
            f"model.arch {params.model.arch}"
        )
    if train.semi_supervised and params.run.nproc > 1:
        raise ConfigError(
            f"{origin}: train.semi_supervised: trains in one process; set run.nproc: 1"
        )
    if train.semi_supervised and params.model.conditional is True:
        raise ConfigError(
            f"{origin}: train.semi_supervised: its generator is unconditional (the classes are "
            "its discriminator's to learn); set model.conditional: auto or false"
        )


def _check_cross_section(params: Params, origin: str) -> None:
    if params.task == "translate":
        _check_translation(params, origin)
    if params.task == "restyle":
        _check_restyle(params, origin)
    # model.* is the GAN's: a translator takes any side (a user's pix2pix data set is 256 px)
    problem = image_size_problem(params.model.arch, params.data.image_size)
    if problem and params.task == "generate":
        raise ConfigError(f"{origin}: data.image_size: {problem} (got {params.data.image_size})")
    real, fake = params.data.test_size, params.sample.num_samples
    problem = kid_subset_problem(params.eval.kid_subset_size, fake, real)
    if problem and params.task != "text":  # the text task's scores have no KID
        sizes = f"data.test_size {real}, sample.num_samples {fake}"
        raise ConfigError(f"{origin}: {problem} ({sizes})")
    if params.train.ema_decay > 0 and params.train.ema_kimg > 0:
        raise ConfigError(
            f"{origin}: train.ema_decay and train.ema_kimg both set the average's horizon: set one"
        )
    if params.train.publish == "best_fid" and params.train.eval_every == 0:
        raise ConfigError(f"{origin}: train.publish: best_fid needs train.eval_every > 0")
    penalised = params.train.gradient_penalty > 0 or params.train.r1_gamma > 0
    if penalised and params.model.arch == "dcgan" and not params.model.spectral_norm:
        raise ConfigError(
            f"{origin}: train.gradient_penalty and train.r1_gamma need a discriminator without "
            "batch norm (it mixes the gradients of a batch's images): set "
            "model.spectral_norm: true, or use model.arch mlp or resnet"
        )
    if params.train.mode_seeking > 0 and params.train.batch_size < 2 * params.run.nproc:
        raise ConfigError(
            f"{origin}: train.mode_seeking: pairs images within a batch, so each of the "
            f"{params.run.nproc} processes needs at least 2 (train.batch_size is "
            f"{params.train.batch_size})"
        )
    _check_labels(params, origin)
    if params.task == "generate":  # train.batch_size is the GAN's global batch
        nproc = params.run.nproc
        check_batch_split(params.train.batch_size, nproc, f"run.nproc: {nproc}", origin)
