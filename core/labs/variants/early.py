"""``reproduce early-dropout``: dropout only in the first epochs helps a network that underfits.

Liu et al. 2023 ("Dropout Reduces Underfitting") turn dropout on for an early phase only, then off:
on models too small for their data, this *early dropout* ends with a lower training loss than no
dropout at all (and than dropout all the way, which raises it), and a better test accuracy. Their
explanation: early on, dropout lowers the variance of the minibatch gradients' directions and
aligns them with the whole data set's gradient, which helps the optimisation more than the noise
costs; later it only costs.

Signature: the final training loss of each side. Experiment, in the regime where the paper finds
the effect (underfitting: little capacity, plenty of data): an MLP of two hidden layers of ``width``
(8) ReLU units on ``n_train`` (1,000) points of the two spirals (noise 0.3), minibatches of 32, Adam
at the Trainer's default lr (constant, or a cosine decay with ``cosine``, as the paper's schedule),
``epochs`` epochs. Sides, paired over seeds (same data, initial weights, minibatch order):

- none: no dropout;
- standard: dropout ``p`` after both hidden layers all the way;
- early: dropout ``p`` for the first ``early_epochs`` epochs, then p = 0 (``Trainer.set_p`` from the
  epoch hook, when the epoch count reaches ``early_epochs``).

Claims, fixed before looking (Liu et al.):

- early dropout ends with a lower final training loss than no dropout;
- early dropout ends with a lower final training loss than standard dropout.

Validation loss and error are reported too (the table and the curves), not judged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from core.analysis.verdicts import Verdict, check_larger, combine, mean_se, num
from core.engine.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig, check_number
from core.engine.sweep import Progress
from core.engine.trainer import Trainer
from core.labs.variants.common import (Cancelled, Clock, VariantResult, VariantSettings, cancelled_result,
                                       check_seeds, summary_rows)
from core.labs.variants.mlp_runs import mean_curve, per_seed, steps_of, train_sides

KEY = "early-dropout"
TITLE = "Early dropout: dropout for the first epochs only, against underfitting"
CLAIM = ("On a network too small for its data, dropout during the first epochs only, then off, ends with a lower "
         "training loss than no dropout and than dropout all the way (Liu et al. 2023).")
SIDES = ("none", "standard", "early")
DATASET, NOISE, N_VAL, BATCH = "spirals", 0.3, 1000, 32
LR = TrainConfig().lr
MIN_LR = 1e-5  # TrainConfig's floor: the cosine decay ends there


@dataclass(frozen=True)
class Settings(VariantSettings):
    p: float = 0.1
    seeds: int = 8
    epochs: int = 60
    early_epochs: int = 15
    n_train: int = 1000
    width: int = 8
    cosine: bool = False

    def __post_init__(self) -> None:
        check_number("p", self.p, 0.05, 0.9)
        check_seeds(self.seeds)
        check_number("epochs", self.epochs, 4, 1000, integer=True)
        check_number("early_epochs", self.early_epochs, 1, 999, integer=True)
        if self.early_epochs >= self.epochs:
            raise ConfigError(f"early_epochs must be fewer than epochs ({self.epochs}), got {self.early_epochs}: "
                              "early dropout turns dropout off before the end")
        check_number("n_train", self.n_train, 100, 2000, integer=True)
        check_number("width", self.width, 2, 64, integer=True)
        if not isinstance(self.cosine, bool):
            raise ConfigError(f"cosine must be true or false, got {self.cosine!r}")

    def run_config(self, side: str, seed: int) -> RunConfig:
        p = 0.0 if side == "none" else self.p
        return RunConfig(DataConfig(DATASET, NOISE, self.n_train, N_VAL, seed),
                         ModelConfig((self.width, self.width), p_hidden=(p, p)),
                         TrainConfig(lr=LR, batch_size=BATCH, max_epochs=self.epochs))


def cosine_lr(epochs_done: int, epochs: int) -> float:
    """The learning rate for the epoch after ``epochs_done``: LR * (1 + cos(pi * done / epochs)) / 2, at least MIN_LR."""
    return max(MIN_LR, LR * 0.5 * (1.0 + math.cos(math.pi * epochs_done / epochs)))


def schedule(s: Settings, record: list[float] | None = None) -> Callable[[str, int, Trainer], None]:
    """``train_sides``' epoch hook: on the early side, p = 0 everywhere once ``early_epochs`` are done;
    the cosine decay on every side when asked. ``record`` (optional) gets, for the early side of seed 0,
    the largest dropout p in force during each epoch just finished."""

    def on_epoch(side: str, seed: int, trainer: Trainer) -> None:
        if record is not None and side == "early" and seed == 0:
            record.append(max(d.p for d in trainer.model.dropouts))
        if side == "early" and trainer.epoch == s.early_epochs:
            trainer.set_p(p_input=0.0, p_hidden=(0.0,) * (len(trainer.model.dropouts) - 1))
        if s.cosine:
            trainer.set_lr(cosine_lr(trainer.epoch, s.epochs))

    return on_epoch


def judge(train_loss: dict[str, dict[int, float]]) -> tuple[tuple[str, Verdict], ...]:
    """``train_loss``: side -> {seed -> final training loss}. The two claims, each a paired check."""
    return (
        ("early beats none on training loss", combine([check_larger(
            "early dropout ends with a lower training loss than no dropout", train_loss["none"], train_loss["early"],
            num, ("none", "early"))])),
        ("early beats standard on training loss", combine([check_larger(
            "early dropout ends with a lower training loss than standard dropout", train_loss["standard"],
            train_loss["early"], num, ("standard", "early"))])),
    )


def work(settings: Settings | None = None) -> float:
    s = settings or Settings()
    per_example = 2 * s.width + s.width**2 + 2 * s.width
    return len(SIDES) * s.seeds * steps_of(s.run_config("none", 0)) * BATCH * per_example * 3.0


def run(settings: Settings | None = None, progress: Callable[[Progress], None] | None = None,
        cancelled: Callable[[], bool] | None = None) -> VariantResult:
    s = settings or Settings()
    clock = Clock(len(SIDES) * s.seeds * steps_of(s.run_config("none", 0)), progress, cancelled)
    p_in_force: list[float] = []
    try:
        runs = train_sides(SIDES, s.seeds, s.run_config, clock, schedule(s, p_in_force))
    except Cancelled:
        return cancelled_result(KEY, TITLE, CLAIM, s, clock)
    metrics = ("train_loss", "val_loss", "train_err", "val_err")
    values = {side: {m: per_seed(runs[side], m) for m in metrics} for side in SIDES}
    train_loss = {side: values[side]["train_loss"] for side in SIDES}
    series: dict[str, Any] = {}
    for side in SIDES:
        val, train = mean_curve(runs[side], "val_loss"), mean_curve(runs[side], "train_loss")
        series[side] = {"epoch": val["epoch"], "train_loss": train["train_loss"], "val_loss": val["val_loss"]}
    series["switch_off_epoch"] = s.early_epochs
    series["p_schedule"] = {"epoch": [float(e) for e in range(1, len(p_in_force) + 1)], "p": p_in_force}
    signature: dict[str, float] = {}
    for side in SIDES:
        for m in ("train_loss", "val_loss"):
            signature[f"{m}_{side}"], signature[f"{m}_{side}_se"] = mean_se(values[side][m].values())
    signature["switch_off_epoch"] = float(s.early_epochs)
    return VariantResult(KEY, TITLE, CLAIM, s, summary_rows(values), judge(train_loss), series=series,
                         signature=signature, elapsed=clock.elapsed)
