"""Named recipes (recipes/*.yaml, `ganops recipe`): each validates, each is the one the guide
cites, and `ganops recipe run` is `dvc exp run` with the recipe's values."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from ganops.cli import main as ganops
from ganops.errors import ConfigError
from ganops.params import load_params
from ganops.recipes import RECIPES, load_recipe, recipe_names
from tests.helpers import ROOT
from tests.pipeline.repo import dvc, make_repo, sh

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CITED = re.compile(r"ganops recipe (?:run|show) ([\w-]+)")


def _cited() -> dict[str, list[str]]:
    cited: dict[str, list[str]] = {}
    for page in PAGES:
        for name in CITED.findall(page.read_text()):
            cited.setdefault(name, []).append(page.name)
    return cited


@pytest.mark.parametrize("name", recipe_names(ROOT))
def test_every_recipe_validates_and_a_page_cites_it(name: str) -> None:
    recipe = load_recipe(ROOT, name)
    assert recipe.summary, f"{name}: its first line says what it is"
    assert recipe.overrides
    assert name in _cited(), f"no page runs recipe {name}"


def test_every_recipe_a_page_cites_exists() -> None:
    assert set(_cited()) <= set(recipe_names(ROOT))


def test_a_recipe_is_its_params_applied_to_params_yaml() -> None:
    recipe = load_recipe(ROOT, "conditional-previous-base")
    params = recipe.params(json.loads(json.dumps(load_params(ROOT / "params.yaml").model_dump())))
    assert params.train.beta2 == 0.999 and params.model.upsample == "transposed"
    assert params.train.epochs == 50 and params.train.ema_kimg == 0
    assert params.data == load_params(ROOT / "params.yaml").data  # the rest as params.yaml


def test_later_overrides_win_and_each_key_shows_once() -> None:
    recipe = load_recipe(ROOT, "few-labels")
    command = recipe.command(["-S", "data.labelled_per_class=50", "--queue"])
    assert command[:3] == ["dvc", "exp", "run"]
    assert "data.labelled_per_class=10" not in command
    assert command[-3:] == ["-S", "data.labelled_per_class=50", "--queue"]
    assert "train.lr_d=null" in command and "train.semi_supervised=true" in command


def test_a_bad_or_unknown_recipe_is_one_line(tmp_path: Path) -> None:
    (tmp_path / RECIPES).mkdir()
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    (tmp_path / RECIPES / "typo.yaml").write_text("# a typo\ntrain:\n  lrr: 0.1\n")
    with pytest.raises(ConfigError, match=r"^recipe typo: train\.lrr: unknown key"):
        load_recipe(tmp_path, "typo")
    with pytest.raises(ConfigError, match=r"^recipe 'nope': no .*nope\.yaml \(recipes: typo\)$"):
        load_recipe(tmp_path, "nope")


def test_recipe_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    assert ganops(["recipe", "list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in recipe_names(ROOT))
    assert ganops(["recipe", "show", "few-labels", "-S", "train.seed=1"]) == 0
    shown = shlex.split(capsys.readouterr().out)
    assert shown == load_recipe(ROOT, "few-labels").command(["-S", "train.seed=1"])


@pytest.mark.slow
def test_recipe_run_queues_a_real_experiment_with_the_recipes_params(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    sh(repo, "python", "-m", "ganops.cli", "recipe", "run", "few-labels", "--queue", "-n", "few")
    status = dvc(repo, "queue", "status").stdout
    assert "few" in status and "Queued" in status
    shown = json.loads(dvc(repo, "exp", "show", "--json").stdout)
    queued = [
        revision["data"]
        for entry in shown
        for experiment in entry.get("experiments") or []
        for revision in experiment.get("revs") or []
        if revision.get("name") == "few"
    ]
    assert queued, shown
    params = queued[0]["params"]["params.yaml"]["data"]
    assert params["data"]["labelled_per_class"] == 10
    assert params["train"]["semi_supervised"] is True and params["train"]["lr_d"] is None
