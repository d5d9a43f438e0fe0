"""The mode-collapse warning: said once per run, in the log and as an MLflow tag, as soon as
the quick intra-class diversity of the worst class falls below `train.collapse_threshold`."""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

WARNING_TAG = "ganops.warning"
WATCHED = "quick_intra_class_diversity_min"


class CollapseWatch:
    """A `Probe.watch`: calls `tag({WARNING_TAG: message})` and logs a warning the first time
    the worst class's diversity is below `threshold` (0 never warns). `warned` starts true
    for a resumed run that already carries the tag, so a run says it once."""

    def __init__(
        self, threshold: float, tag: Callable[[dict[str, str]], None], warned: bool = False
    ) -> None:
        self.threshold = threshold
        self.tag = tag
        self.warned = warned

    def __call__(self, step: int, scores: dict[str, float]) -> None:
        value = scores.get(WATCHED)
        if self.warned or self.threshold <= 0 or value is None or value >= self.threshold:
            return
        message = (
            f"mode collapse suspected at step {step}: the intra-class diversity of the worst "
            f"class is {value:.3f}, below train.collapse_threshold {self.threshold:g} "
            "(the generator draws nearly the same image whatever z)"
        )
        log.warning(message)
        self.tag({WARNING_TAG: message})
        self.warned = True
