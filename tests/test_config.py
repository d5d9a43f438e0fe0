"""params.yaml validation: every bad value is a one-line ConfigError naming its key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ganops.config import MOVED_KEYS, Params, RunConfig, params_hash
from ganops.dotted import flatten
from ganops.errors import ConfigError
from ganops.params import load_params, parse_params
from tests.helpers import ROOT, project_params


def test_project_params_file_is_valid_and_explicit() -> None:
    params = load_params(ROOT / "params.yaml")
    assert params.data.source == "mnist-5k"
    # every key is written out, so defaults in code never silently shape a run
    assert set(flatten(params)) == set(flatten(Params())) == set(_flat_keys(project_params()))


def _flat_keys(raw: dict[str, Any]) -> list[str]:
    """`section.key` for each key of a section; a top-level scalar (`task`) as it is."""
    keys = []
    for name, values in raw.items():
        keys += [f"{name}.{key}" for key in values] if isinstance(values, dict) else [name]
    return keys


def test_defaults_validate_and_are_frozen() -> None:
    params = parse_params({})
    assert params.train.lr == pytest.approx(2e-4)
    assert params.train.beta1 == 0.5
    with pytest.raises(ValidationError):
        params.train.lr = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "key", "reason"),
    [
        ({"train": {"lr": 0}}, "train.lr", "greater than 0"),
        ({"train": {"lr": -1e-3}}, "train.lr", "greater than 0"),
        ({"train": {"epochs": "10"}}, "train.epochs", "valid integer"),
        ({"train": {"epochs": 2.5}}, "train.epochs", "valid integer"),
        ({"train": {"batch_size": 0}}, "train.batch_size", "greater than or equal to 1"),
        ({"train": {"lr": ".nan"}}, "train.lr", "valid number"),
        ({"run": {"device": "tpu"}}, "run.device", "'auto', 'cpu' or 'cuda'"),
        ({"train": {"lrr": 0.1}}, "train.lrr", "did you mean train.lr"),
        ({"trian": {}}, "trian", "unknown key"),
        ({"data": {"source": "imagenet"}}, "data.source", "unknown data source 'imagenet'"),
        ({"data": {"image_size": 48}}, "data.image_size", "dcgan supports 28"),
        ({"model": {"arch": "stylegan"}}, "model.arch", "'mlp', 'dcgan' or 'resnet'"),
        ({"train": {"label_smoothing": 0.7}}, "train.label_smoothing", "less than 0.5"),
        ({"tracking": {"experiment": ""}}, "tracking.experiment", "at least 1 character"),
        (
            {"train": {"publish": "best_fid", "eval_every": 0}},
            "train.publish",
            "best_fid needs train.eval_every > 0",
        ),
        ({"eval": {"coverage_threshold": 0}}, "eval.coverage_threshold", "greater than 0"),
        (
            {"data": {"test_size": 300}},
            "eval.kid_subset_size",
            "500 is more than the 300 images KID draws its subsets from",
        ),
        (
            {"model": {"spectral_norm": False}, "train": {"r1_gamma": 1.0}},
            "train.gradient_penalty",
            "need a discriminator without batch norm",
        ),
        ({"evaluator": {"min_accuracy": 1.5}}, "evaluator.min_accuracy", "less than or equal to 1"),
        ({"data": {"train_per_class": 0}}, "data.train_per_class", "greater than or equal to 1"),
        ({"data": {"train_per_class": -5}}, "data.train_per_class", "greater than or equal to 1"),
        (
            {"data": {"labelled_per_class": 0}},
            "data.labelled_per_class",
            "greater than or equal to 1",
        ),
        (
            {"data": {"labelled_per_class": -3}},
            "data.labelled_per_class",
            "greater than or equal to 1",
        ),
        (
            {"data": {"labelled_per_class": 20, "train_per_class": 10}},
            "data.labelled_per_class",
            "20 is more than the 10 training images a class that data.train_per_class keeps",
        ),
        (
            {"task": "translate", "data": {"labelled_per_class": 10}},
            "data.labelled_per_class",
            "a translator learns from images, not their labels",
        ),
        (
            {"train": {"semi_supervised": True, "batch_size": 64}, "run": {"nproc": 2}},
            "train.semi_supervised",
            "trains in one process",
        ),
        (
            {"train": {"semi_supervised": True}, "model": {"conditional": True}},
            "train.semi_supervised",
            "its generator is unconditional",
        ),
        (
            {
                "train": {"semi_supervised": True},
                "model": {"arch": "resnet"},
                "data": {"image_size": 32},
            },
            "train.semi_supervised",
            "its discriminator is mlp or dcgan, not model.arch resnet",
        ),
        ({"train": {"unlabelled_weight": 0}}, "train.unlabelled_weight", "greater than 0"),
        (
            {"downstream": {"unlabelled_ratio": 0}},
            "downstream.unlabelled_ratio",
            "greater than or equal to 1",
        ),
        (
            {"downstream": {"pseudo_label_threshold": 1.5}},
            "downstream.pseudo_label_threshold",
            "less than or equal to 1",
        ),
        ({"train": {"mode_seeking": -1}}, "train.mode_seeking", "greater than or equal to 0"),
        (
            {"train": {"mode_seeking": 0.1, "batch_size": 4}, "run": {"nproc": 4}},
            "train.mode_seeking",
            "needs at least 2",
        ),
        ({"train": {"lr_d": 0}}, "train.lr_d", "greater than 0"),
        ({"train": {"lr_decay": 1.0}}, "train.lr_decay", "less than 1"),
        ({"train": {"ema_kimg": -1}}, "train.ema_kimg", "greater than or equal to 0"),
        (
            {"train": {"ema_kimg": 10, "ema_decay": 0.999}},
            "train.ema_decay and train.ema_kimg",
            "set one",
        ),
        ({"model": {"upsample": "bilinear"}}, "model.upsample", "'transposed' or 'nearest'"),
        ({"model": {"width_d": 0}}, "model.width_d", "greater than or equal to 1"),
        ({"downstream": {"synthetic_share": 0.6}}, "downstream.synthetic_share", "less than or"),
        ({"downstream": {"seeds": 0}}, "downstream.seeds", "greater than or equal to 1"),
    ],
)
def test_bad_values_name_their_key(raw: dict[str, Any], key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_params(raw, origin="params.yaml")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"params.yaml: {key}")
    assert reason in message


def test_several_problems_are_reported_on_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_params({"train": {"lr": 0, "epochs": 0}})
    message = str(caught.value)
    assert "train.lr" in message and "train.epochs" in message and "\n" not in message


def test_mlp_accepts_any_image_size() -> None:
    assert (
        parse_params({"model": {"arch": "mlp"}, "data": {"image_size": 48}}).data.image_size == 48
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("train: [1, 2\n", "not valid YAML at line"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("train: 3\n", "train: Input should be a valid dictionary"),
    ],
)
def test_broken_files(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=reason):
        load_params(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="params file not found"):
        load_params(tmp_path / "absent.yaml")


def test_yaml_12_numbers_like_dvc(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  lr: 2e-4\n")  # a string in YAML 1.1, a float in 1.2 (and DVC)
    assert load_params(path).train.lr == pytest.approx(2e-4)


def test_flatten_is_dotted() -> None:
    flat = flatten(parse_params({}))
    assert flat["train.lr"] == pytest.approx(2e-4)
    assert flat["tracking.registered_model"] == "ganops-generator"


def test_params_hash_tracks_only_what_shapes_training() -> None:
    base = parse_params({})
    assert params_hash(base) == params_hash(parse_params({}))
    assert params_hash(base) != params_hash(parse_params({"train": {"lr": 1e-3}}))
    assert params_hash(base) != params_hash(parse_params({"model": {"width": 8}}))
    # sampling, tracking and logging cadence do not change the trained weights
    for same in (
        {"sample": {"num_samples": 600}},
        {"tracking": {"experiment": "other"}},
        {"run": {"log_every": 7, "checkpoint_every": 3}, "train": {"collapse_threshold": 0.5}},
        {"downstream": {"seeds": 5}},
    ):
        assert params_hash(base) == params_hash(parse_params(same))


@pytest.mark.parametrize("task", ["generate", "translate"])
def test_every_tasks_hash_covers_how_its_run_runs(task: str) -> None:
    """The run section shapes a GAN's and a translator's bytes alike (a GPU's deterministic
    kernels, the processes that split the batch); its logging cadence does not."""
    base = parse_params({"task": task})
    for other in ({"deterministic": True}, {"nproc": 2}, {"channels_last": "off"}):
        assert params_hash(base) != params_hash(parse_params({"task": task, "run": other}))
    same = parse_params({"task": task, "run": {"log_every": 9, "checkpoint_every": 4}})
    assert params_hash(base) == params_hash(same)


@pytest.mark.parametrize("old", sorted(MOVED_KEYS))
def test_a_key_that_moved_names_its_new_place(old: str) -> None:
    section, name = old.split(".")
    with pytest.raises(ConfigError) as raised:
        parse_params({section: {name: RunConfig.model_fields[name].default}}, origin="p.yaml")
    message = str(raised.value)
    assert message == f"p.yaml: {old}: moved to {MOVED_KEYS[old]} (its own section of params.yaml)"
    assert "\n" not in message
