"""A training's length: `epochs` (passes over the data) or `steps` (optimiser steps), one of
them set. The sections of the trainings (`train`, `evaluator`, `translate`, `restyle`,
`text`) share these two fields and the rule between them; `ganops.run_length` turns `steps`
into whole passes once the data's size is known.

`epochs`, when set, is the length and `steps` is not read; `epochs: null` counts the run in
`steps`. params.yaml's defaults count in steps, so a folder of 300 images trains as many
steps as mnist-5k's 4,000 (docs/parameters.md, "How long a run is").
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, ValidationInfo, field_validator


def epochs_field(default: int | None, description: str) -> Any:
    """A training's length in passes over its data; null = counted in `steps`."""
    return Field(default, ge=1, le=1_000_000, description=f"{description}; null = steps")


def steps_field() -> Any:
    """A training's length in optimiser steps (read when `epochs` is null)."""
    description = "optimiser steps of the run, in the whole passes that hold them (epochs: null)"
    # validated when left out too, so that "both null" is found at this key (below)
    return Field(None, ge=1, le=100_000_000, description=description, validate_default=True)


class Length(BaseModel):
    """The rule of a section with `epochs` and `steps`: at least one of them set. Each
    section declares `epochs` before `steps`, so the rule reads `epochs` while checking
    `steps`, and an error names `<section>.steps`, the key to set."""

    @field_validator("steps", check_fields=False)
    @classmethod
    def _one_length(cls, steps: int | None, info: ValidationInfo) -> int | None:
        # epochs absent from info.data: it failed its own check, which is the error to show
        if steps is None and "epochs" in info.data and info.data["epochs"] is None:
            raise ValueError("epochs and steps are both null: set one (e.g. steps: 1000)")
        return steps

    @property
    def passes(self) -> int:
        """The run's length in passes, once known: `epochs`, set or made from `steps` by
        `ganops.run_length.in_whole_epochs`."""
        epochs = getattr(self, "epochs", None)
        if epochs is None:
            raise ValueError(
                "the run's length in passes is not known yet (run_length.in_whole_epochs)"
            )
        return int(epochs)
