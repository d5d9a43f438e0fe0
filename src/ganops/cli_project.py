"""The `ganops` commands about the project's experiments, recipes and registry: `exps`,
`recipe` and `promote` (`ganops.cli` adds them to its parser)."""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from ganops.errors import ConfigError, GanopsError
from ganops.params import load_params

log = logging.getLogger("ganops")


def cmd_exps(args: argparse.Namespace) -> None:
    from ganops.exps import show
    from ganops.tracking import project_root

    width = args.width or shutil.get_terminal_size((160, 24)).columns
    print(show(project_root(), width, ["--all-commits"] if args.all_commits else None))


def cmd_promote(args: argparse.Namespace) -> None:
    from ganops.report import compare, headline_verdict
    from ganops.run_record import resolve_uri
    from ganops.tracking import project_root
    from ganops.tracking.registry import promote

    root = project_root()
    params = load_params(root / "params.yaml")
    if params.task == "restyle":
        raise ConfigError(
            "task: restyle: promote judges one fid, and a restyler's scores are a table of ways "
            "beside the no-GAN baselines; set the ganops-restyler alias by hand"
        )
    name = (
        params.tracking.registered_translator
        if params.task == "translate"
        else params.tracking.registered_model
    )
    if name is None:
        raise ConfigError("tracking: this task registers no model, so there is none to promote")
    comparison = compare(root, args.baseline)
    verdict = headline_verdict(comparison)
    run = comparison.workspace.run
    if not run.get("run_id"):
        raise ConfigError(
            "no MLflow run of data/train/run.json's params in this workspace or its local "
            "store: run dvc repro first"
        )
    uri = resolve_uri(str(run.get("tracking_uri", "")), root)
    why = f"fid {verdict} against {args.baseline}"
    print(promote(uri, name, str(run["run_id"]), verdict == "better", why))


def cmd_recipe(args: argparse.Namespace) -> None:
    from ganops.recipes import load_recipe, recipe_names, show
    from ganops.tracking import project_root

    root = project_root()
    if args.action == "list":
        for name in recipe_names(root):
            print(f"{name:<28}{load_recipe(root, name).summary}")
        return
    if args.name is None:
        raise ConfigError(f"ganops recipe {args.action}: name a recipe (ganops recipe list)")
    recipe = load_recipe(root, args.name)
    if args.action == "show":
        print(show(recipe, args.extra))
        return
    command = [sys.executable, "-m", *recipe.command(args.extra)]
    log.info("%s", show(recipe, args.extra))
    done = subprocess.run(command, cwd=root, check=False)
    if done.returncode:
        raise GanopsError(f"dvc exp run failed with exit status {done.returncode}")


def add_project_commands(commands: Any, positive: Callable[[str], int]) -> None:
    """Add `exps`, `recipe` and `promote` to the `ganops` subcommands."""
    exps = commands.add_parser(
        "exps", help="the experiments: headline scores and the params that differ, one row each"
    )
    exps.add_argument("--width", type=positive, help="columns (default: the terminal's)")
    exps.add_argument("-A", "--all-commits", action="store_true", help="every commit's too")
    exps.set_defaults(handler=cmd_exps)

    promote = commands.add_parser(
        "promote", help="move the registry's champion alias to the workspace's model if better"
    )
    promote.add_argument(
        "--baseline", required=True, help="git revision or DVC experiment it must beat"
    )
    promote.set_defaults(handler=cmd_promote)

    recipe = commands.add_parser(
        "recipe", help="named configurations (recipes/): list, show, or run one as an experiment"
    )
    recipe.add_argument(
        "action", choices=("list", "show", "run"), help="run: dvc exp run with its -S values"
    )
    recipe.add_argument("name", nargs="?", help="the recipe (a file recipes/NAME.yaml)")
    recipe.add_argument(
        "extra",
        nargs=argparse.REMAINDER,
        help="more dvc exp run arguments, after the recipe's (-S key=value wins over it)",
    )
    recipe.set_defaults(handler=cmd_recipe)
