"""Early stopping, dropout's rival: where a run's validation loss was lowest, and its numbers there.

A run stopped early keeps the weights of the evaluation with the lowest validation loss (the
first one, on a tie). That point is picked on the same validation points it is then scored on,
which flatters it a little: with hundreds of validation points the flattery is small next to
the gaps between runs, and the lessons that quote it say so. Plain data in, plain data out.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

MONITOR = "val_loss"


def best_index(values: Sequence[float]) -> int | None:
    """The index of the first lowest finite value, or None when there is none."""
    best: int | None = None
    for i, v in enumerate(values):
        if v is not None and math.isfinite(v) and (best is None or v < values[best]):
            best = i
    return best


def best_point(history: Mapping[str, Sequence[float]], monitor: str = MONITOR) -> dict[str, Any] | None:
    """Every recorded series of ``history`` (``epoch``, ``val_loss``, ...) at its best evaluation."""
    i = best_index(history.get(monitor, ()))
    if i is None:
        return None
    return {key: series[i] for key, series in history.items() if len(series) > i} | {"index": i}


def stopped(member: dict[str, Any], monitor: str = MONITOR) -> dict[str, Any]:
    """A sweep member (with ``curves``) as if stopped early: its final metrics are those at its best
    evaluation, and ``stopped_epoch`` says which one. A member whose loss never was finite is kept as is."""
    point = best_point(member["curves"], monitor)
    if point is None:
        return {**member, "stopped_epoch": None}
    metrics = {k: point[k] for k in ("train_loss", "val_loss", "train_acc", "val_acc") if k in point}
    return {**member, **metrics, "stopped_epoch": point["epoch"]}
