"""Train the compared sides of an MLP experiment, seed by seed, on the reference modules.

``train_sides`` builds one ``Trainer`` per (side, seed) from ``config(side, seed)``, trains it for its
``max_epochs`` and keeps its final metrics and its validation-loss curve. Seeds are paired: the config
of every side on seed s shares the data seed, so the same data, initial weights and minibatch order.
``on_epoch(side, seed, trainer)`` (optional) runs after every epoch: a schedule (early dropout) or a
measurement (a learned p) goes there.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from core.engine.config import RunConfig
from core.engine.datasets import make_split
from core.engine.trainer import Trainer
from core.labs.variants.common import Clock

METRICS = ("train_loss", "val_loss", "train_acc", "val_acc")


def steps_of(cfg: RunConfig) -> int:
    return math.ceil(cfg.data.n_train / cfg.train.batch_size) * cfg.train.max_epochs


def train_sides(
    sides: tuple[str, ...], seeds: int, config: Callable[[str, int], RunConfig], clock: Clock,
    on_epoch: Callable[[str, int, Trainer], None] | None = None,
) -> dict[str, dict[int, dict[str, Any]]]:
    """``{side: {seed: {"train_loss", ..., "val_acc", "diverged", "curve": {"epoch", "val_loss", "train_loss"}}}}``."""
    out: dict[str, dict[int, dict[str, Any]]] = {side: {} for side in sides}
    splits: dict[Any, Any] = {}
    for seed in range(seeds):
        splits.clear()  # one seed's data at a time: the sides of a seed share it
        for side in sides:
            cfg = config(side, seed)
            if cfg.data not in splits:
                splits[cfg.data] = make_split(cfg.data)
            trainer = Trainer(cfg, splits[cfg.data])
            while not trainer.finished and trainer.diverged is None:
                result = trainer.step()
                clock.tick()
                if result["metrics"] is not None and on_epoch is not None:
                    on_epoch(side, seed, trainer)
            final = trainer.evaluate() if trainer.diverged is None else {k: math.nan for k in METRICS}
            series = trainer.history.series
            out[side][seed] = {**{k: float(final[k]) for k in METRICS}, "diverged": trainer.diverged,
                               "curve": {k: list(series[k]) for k in ("epoch", "val_loss", "train_loss")}}
    return out


def per_seed(runs: dict[int, dict[str, Any]], metric: str) -> dict[int, float]:
    """seed -> a final number (``val_err``/``train_err`` derived as 1 - accuracy)."""
    if metric in ("val_err", "train_err"):
        return {s: 1.0 - r[metric.replace("err", "acc")] for s, r in runs.items()}
    return {s: r[metric] for s, r in runs.items()}


def mean_curve(runs: dict[int, dict[str, Any]], key: str = "val_loss") -> dict[str, list[float]]:
    """The mean over seeds of a curve, epoch by epoch (the epochs every seed reached)."""
    curves = [r["curve"] for r in runs.values() if r["curve"]["epoch"]]
    if not curves:
        return {"epoch": [], key: []}
    n = min(len(c["epoch"]) for c in curves)
    return {"epoch": curves[0]["epoch"][:n],
            key: [float(sum(c[key][i] for c in curves) / len(curves)) for i in range(n)]}
