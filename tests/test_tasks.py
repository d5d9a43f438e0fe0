"""The task names agree everywhere they are listed: the `task` Literal of params.yaml, every
stage's table in `ganops.tasks`, and the sections that shape each task's bytes."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, get_args

import pytest

import ganops.tasks
from ganops.config import SHAPING_SECTIONS, Params

TASK_NAMES = frozenset(get_args(Params.model_fields["task"].annotation))
# the stages whose work depends on the task (train_evaluator trains the same classifier for all)
TASK_STAGES = {"fetch", "preprocess", "train", "sample", "evaluate", "downstream"}


def task_tables() -> dict[str, dict[str, Callable[..., Any]]]:
    """Every table of `ganops.tasks`, as `module.NAME`: an upper-case module-level dict of
    callables (a task's function for one stage)."""
    tables = {}
    for module_info in pkgutil.iter_modules(ganops.tasks.__path__):
        module = importlib.import_module(f"ganops.tasks.{module_info.name}")
        for name, value in vars(module).items():
            if (
                name.isupper()
                and isinstance(value, dict)
                and value
                and all(callable(function) for function in value.values())
            ):
                tables[f"{module_info.name}.{name}"] = value
    return tables


def test_the_task_literal_names_two_tasks_or_more() -> None:
    assert {"generate", "translate"} <= TASK_NAMES


def test_every_task_stage_has_a_table() -> None:
    tables = task_tables()
    assert {name.split(".")[0] for name in tables} == TASK_STAGES
    assert "train.TRAIN" in tables


@pytest.mark.parametrize("table", sorted(task_tables()))
def test_every_table_covers_every_task_and_nothing_else(table: str) -> None:
    assert set(task_tables()[table]) == TASK_NAMES


def test_shaping_sections_name_every_task_and_real_sections() -> None:
    assert set(SHAPING_SECTIONS) == TASK_NAMES
    for task, sections in SHAPING_SECTIONS.items():
        assert sections, task
        assert set(sections) <= set(Params.model_fields) - {"task"}, task
