"""``reproduce gaussian``: Gaussian dropout, N(1, p / (1 - p)) noise, against Bernoulli dropout at the same p.

Signature: the multiplier's mean and variance, measured on ``SIGNATURE_DRAWS`` draws from each module,
against Bernoulli dropout's (mean 1, variance p / (1 - p), the same by construction). Experiment: the
Playground's network (moons, 40 noisy points, 2 x 128 ReLU, Adam) with no dropout, Bernoulli dropout
and Gaussian dropout in both hidden layers, paired over seeds. Claims, fixed before looking:

- Gaussian and Bernoulli dropout agree: final validation error within ``MARGIN`` (2 points), an
  equivalence test (Srivastava et al. 2014, section 10, found Gaussian dropout as good or better);
- Gaussian dropout beats no dropout: a lower final validation loss.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from core.analysis.verdicts import check_larger, combine, num, pct
from core.engine.config import DataConfig, ModelConfig, RunConfig, TrainConfig, check_number
from core.engine.dropout import Dropout
from core.engine.sweep import Progress
from core.engine.variants import GaussianDropout
from core.labs.variants.common import (Cancelled, Clock, VariantResult, VariantSettings, cancelled_result,
                                       check_agrees, check_seeds, summary_rows)
from core.labs.variants.mlp_runs import mean_curve, per_seed, steps_of, train_sides

KEY = "gaussian"
TITLE = "Gaussian dropout: the same mean and variance, the same effect?"
CLAIM = ("Multiplying each unit by N(1, p/(1-p)) noise matches Bernoulli dropout's mean and variance; trained at the "
         "same p it regularizes as well (validation error within 2 points) and beats no dropout.")
SIDES = ("none", "bernoulli", "gaussian")
MARGIN = 0.02
SIGNATURE_DRAWS = 200_000


@dataclass(frozen=True)
class Settings(VariantSettings):
    p: float = 0.5
    seeds: int = 8
    epochs: int = 200
    n_train: int = 40
    width: int = 128

    def __post_init__(self) -> None:
        check_number("p", self.p, 0.05, 0.9)
        check_seeds(self.seeds)
        check_number("epochs", self.epochs, 10, 1000, integer=True)
        check_number("n_train", self.n_train, 20, 1000, integer=True)
        check_number("width", self.width, 8, 256, integer=True)

    def run_config(self, side: str, seed: int) -> RunConfig:
        p = 0.0 if side == "none" else self.p
        variants = ("gaussian", "gaussian") if side == "gaussian" else ()
        return RunConfig(DataConfig("moons", 0.5, self.n_train, 400, seed),
                         ModelConfig((self.width, self.width), p_hidden=(p, p), variants=variants),
                         TrainConfig(max_epochs=self.epochs))


def multiplier_moments(p: float, draws: int = SIGNATURE_DRAWS, seed: int = 0) -> dict[str, float]:
    """Mean and variance of each module's multiplier on ``draws`` ones, and the theory's variance p / (1 - p)."""
    out: dict[str, float] = {"theory_var": p / (1 - p)}
    for name, module in (("bernoulli", Dropout(p)), ("gaussian", GaussianDropout(p))):
        module.generator = torch.Generator().manual_seed(seed)
        m = module.train()(torch.ones(draws))
        out[f"{name}_mean"], out[f"{name}_var"] = float(m.mean()), float(m.var())
    return out


def work(settings: Settings | None = None) -> float:
    s = settings or Settings()
    return len(SIDES) * s.seeds * steps_of(s.run_config("none", 0)) * 16 * (2 * s.width + s.width**2) * 3.0


def run(settings: Settings | None = None, progress: Callable[[Progress], None] | None = None,
        cancelled: Callable[[], bool] | None = None) -> VariantResult:
    s = settings or Settings()
    clock = Clock(len(SIDES) * s.seeds * steps_of(s.run_config("none", 0)), progress, cancelled)
    try:
        runs = train_sides(SIDES, s.seeds, s.run_config, clock)
    except Cancelled:
        return cancelled_result(KEY, TITLE, CLAIM, s, clock)
    err = {side: per_seed(runs[side], "val_err") for side in SIDES}
    loss = {side: per_seed(runs[side], "val_loss") for side in SIDES}
    verdicts = (
        ("gaussian agrees with bernoulli", combine([check_agrees(
            f"Gaussian and Bernoulli dropout reach validation errors within {pct(MARGIN)}",
            err["gaussian"], err["bernoulli"], MARGIN, pct, ("gaussian", "bernoulli"))])),
        ("gaussian beats none", combine([check_larger(
            "Gaussian dropout gives a lower validation loss than no dropout", loss["none"], loss["gaussian"], num,
            ("none", "gaussian"))])),
    )
    rows = summary_rows({side: {"val_loss": loss[side], "val_err": err[side],
                                "train_loss": per_seed(runs[side], "train_loss")} for side in SIDES})
    return VariantResult(KEY, TITLE, CLAIM, s, rows, verdicts,
                         series={side: mean_curve(runs[side]) for side in SIDES},
                         signature=multiplier_moments(s.p), elapsed=clock.elapsed)
