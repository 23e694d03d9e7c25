"""Training histories: per-stage CSV logs, the per-stage list the plots take, and stages joined end to end.

Example:

>>> stage_histories({"frozen": {"epoch": [0], "loss": [2.0]}, "fine_tune": {}})
[{'loss': [2.0]}]
>>> merge_stages([{"loss": [3.0, 2.0]}, {"loss": [1.0], "val_loss": [1.5]}])
({'loss': [3.0, 2.0, 1.0], 'val_loss': [nan, nan, 1.5]}, [2])
"""

import csv
import math
import os

import numpy as np


def read_csv_log(path):
    """`{metric: [per-epoch floats]}` from a Keras CSVLogger file (restarts included)."""
    if not os.path.exists(path):
        return {}
    by_epoch = {}
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            by_epoch[int(row.pop("epoch"))] = {k: float(v) for k, v in row.items() if v not in ("", "NA", None)}
    history = {}
    for epoch in sorted(by_epoch):
        for key, value in by_epoch[epoch].items():
            history.setdefault(key, []).append(value)
    return history


def stage_histories(history):
    """`{stage: {metric: [...]}}` -> the list of per-stage histories the plots take (None if empty)."""
    stages = [{k: v for k, v in h.items() if k != "epoch"} for h in history.values() if h]
    return stages or None


def merge_stages(history):
    """Concatenates per-stage histories: `(metrics, boundaries)`.

    Args:
        history: dict of metric name -> list of per-epoch values, a Keras
            `History`, or a list of either (one per training stage).

    Returns:
        `metrics`, a dict of metric name -> list over all epochs (NaN where
        a stage did not log that metric), and `boundaries`, the number of
        epochs before each stage after the first.

    Example:

    >>> merge_stages([{"loss": [3.0, 2.0]}, {"loss": [1.0], "val_loss": [1.5]}])
    ({'loss': [3.0, 2.0, 1.0], 'val_loss': [nan, nan, 1.5]}, [2])
    """
    stages = list(history) if isinstance(history, (list, tuple)) else [history]
    stages = [_stage_dict(stage, i) for i, stage in enumerate(stages)]
    lengths = [max((len(v) for v in stage.values()), default=0) for stage in stages]
    if not sum(lengths):
        raise ValueError(f"`history` holds no epochs. Received: history={history!r}")
    keys = list(dict.fromkeys(key for stage in stages for key in stage))
    metrics = {key: [] for key in keys}
    for stage, length in zip(stages, lengths):
        for key in keys:
            values = [float(v) for v in stage.get(key, [])]
            metrics[key] += values + [math.nan] * (length - len(values))
    return metrics, [int(b) for b in np.cumsum(lengths)[:-1]]


def _stage_dict(stage, index):
    values = getattr(stage, "history", stage)  # a keras History holds its dict in `.history`
    if not isinstance(values, dict) or any(np.ndim(v) != 1 for v in values.values()):
        raise ValueError(
            "`history` must be a dict of metric name -> list of values, a keras History, or a list of those "
            f"(one per stage). Received: history[{index}]={stage!r}"
        )
    return values
