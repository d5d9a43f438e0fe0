"""The names metrics take in MLflow: a section before "/" that the UI groups charts by."""

from __future__ import annotations

# The MLflow UI groups a run's charts by the name's prefix before "/": per-step training
# values, throughput, final scores, the real data's yardstick scores, downstream accuracy.
# History files and DVC metrics keep the plain names.
TRAIN_KEYS = frozenset(
    {"loss_d", "loss_g", "d_real", "d_fake", "published_step", "classifier_accuracy"}
)
PERF_KEYS = frozenset({"images_per_s", "images_per_s_mean", "train_time_s"})
PREFIXES = {"real_floor.": "eval_real_floor/", "downstream.": "downstream/"}


def chart_key(key: str) -> str:
    """The MLflow name of metric `key`: `train/loss_d` (any `loss_*`), `train/quick_fid`,
    `perf/...`, `eval/fid`, `eval_real_floor/fid`, `downstream/...`; a name with a section
    is kept."""
    if "/" in key:
        return key
    for prefix, section in PREFIXES.items():
        if key.startswith(prefix):
            return section + key.removeprefix(prefix)
    if key in PERF_KEYS:
        return f"perf/{key}"
    if key in TRAIN_KEYS or key.startswith(("quick_", "loss_")):
        return f"train/{key}"
    return f"eval/{key}"
