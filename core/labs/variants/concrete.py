"""``reproduce concrete``: concrete dropout learns its p, and the more data, the lower the p it learns.

Signature: the learned drop probability at each training-set size (mean and se over seeds). Series:
p's trajectory during training at each size (mean over seeds, at most ``MAX_POINTS`` points),
``{"p trajectory": {"n=20": {"step": [...], "p": [...]}, ...}}``, and the final p against the size,
``{"learned p": {"mean over seeds": {"n_train": [...], "p": [...]}}}``. Experiment: the Playground's MLP
(two hidden layers of ``width`` ReLU units) with ``ConcreteDropout`` after each hidden layer
(``ModelConfig(variants=("concrete", "concrete"))``), p starting at ``p_start`` (0.1, the initial value
in the authors' code), trained by the ``Trainer``, which adds each layer's regularizer with ``N`` the
training-set size: ``length_scale^2 / N |W|^2 / (1 - p) + 2 K / N (p log p + (1 - p) log(1 - p))``,
K the width the layer reads. The second term pulls p towards 0.5 with a weight 2 K / N; the data's loss
pulls it down, so with more data the learned p falls (Gal, Hron and Kendall 2017, section 4.1: on
their synthetic regression the converged p falls as the number of data points grows).

Here the data are the two spirals (noise 0.3), a set that needs the network's capacity, so that the data
term has something to say; the sizes are ``sizes`` (20 to 2,000 points); every size trains for the same
fixed number of ``steps`` (minibatches of 16, Adam at ``lr``), not the same number of epochs, so the
regularizer's pull and the data's have the same number of updates to settle at every size. Seed s
means the same initial weights, masks and minibatch-order seed at every size (its data are drawn
from the same seed at each size). A run's learned p is the mean over the two hidden layers
(each layer's is in the table). Claims, fixed before looking:

- the learned p at the smallest size is larger than at the largest (paired over seeds);
- p decreases monotonically across sizes: judged as every adjacent pair of sizes, each a paired
  check (the smaller size's p larger); the verdict holds only when every pair holds.

Differences from the paper: classification (cross-entropy) instead of a heteroscedastic regression,
no concrete dropout on the input, 2 x ``width`` units instead of 3 x 1,024, a fixed step budget that
need not reach convergence (the trajectories show how far p has settled).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from core.analysis.verdicts import Verdict, check_larger, combine, mean_se, num
from core.engine.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig, check_number
from core.engine.datasets import make_split
from core.engine.sweep import Progress
from core.engine.trainer import Trainer
from core.engine.variants import ConcreteDropout
from core.labs.variants.common import (Cancelled, Clock, VariantResult, VariantSettings, cancelled_result,
                                       check_seeds, summary_rows)

KEY = "concrete"
TITLE = "Concrete dropout: a learned p that falls as the data grow"
CLAIM = ("Concrete dropout learns p from the data: its regularizer pulls p towards 0.5 with a weight 2K/N, the data "
         "pull it down, so the learned p is larger on a small training set than on a large one, and falls as N grows.")
DATASET, NOISE, N_VAL, BATCH = "spirals", 0.3, 400, 16
MAX_POINTS = 200
"""A trajectory keeps at most this many points (the start, then evenly spaced steps, the last one included)."""


@dataclass(frozen=True)
class Settings(VariantSettings):
    sizes: tuple[int, ...] = (20, 100, 500, 2000)
    seeds: int = 8
    steps: int = 1000
    width: int = 64
    p_start: float = 0.1
    lr: float = 0.01

    def __post_init__(self) -> None:
        if not isinstance(self.sizes, (tuple, list)):
            raise ConfigError(f"sizes must be a list of training-set sizes, got {self.sizes!r}")
        object.__setattr__(self, "sizes", tuple(self.sizes))  # JSON gives a list
        if not 2 <= len(self.sizes) <= 6:
            raise ConfigError(f"sizes needs 2 to 6 training-set sizes, got {len(self.sizes)}")
        for n in self.sizes:
            check_number("each of sizes", n, 20, 2000, integer=True)
        if any(b <= a for a, b in zip(self.sizes, self.sizes[1:])):
            raise ConfigError(f"sizes must increase, smallest first, got {list(self.sizes)}")
        check_seeds(self.seeds)
        check_number("steps", self.steps, 20, 20_000, integer=True)
        check_number("width", self.width, 8, 256, integer=True)
        check_number("p_start", self.p_start, 0.05, 0.5)
        check_number("lr", self.lr, 1e-4, 0.05)

    def run_config(self, n_train: int, seed: int) -> RunConfig:
        epochs = math.ceil(self.steps / math.ceil(n_train / BATCH))  # enough epochs for the fixed step budget
        return RunConfig(DataConfig(DATASET, NOISE, n_train, N_VAL, seed),
                         ModelConfig((self.width, self.width), p_hidden=(self.p_start, self.p_start),
                                     variants=("concrete", "concrete")),
                         TrainConfig(lr=self.lr, batch_size=BATCH, max_epochs=epochs))


def record_steps(steps: int) -> list[int]:
    """The step counts at which p is recorded: 0 (the start) to ``steps``, at most ``MAX_POINTS`` of them."""
    return sorted({int(round(x)) for x in np.linspace(0, steps, min(steps + 1, MAX_POINTS))})


def concrete_layers(trainer: Trainer) -> list[ConcreteDropout]:
    """The model's concrete dropouts, input side first (the ones whose regularizer the Trainer adds)."""
    return [drop for drop, _ in trainer.model.regularized]


def train_one(s: Settings, n_train: int, seed: int, clock: Clock) -> dict[str, Any]:
    """One run of ``s.steps`` steps: the final p of each layer, their mean's trajectory, the final losses."""
    cfg = s.run_config(n_train, seed)
    trainer = Trainer(cfg, make_split(cfg.data), evaluate=False)
    layers = concrete_layers(trainer)
    marks = set(record_steps(s.steps))
    trajectory = [float(np.mean([d.p for d in layers]))]
    for step in range(1, s.steps + 1):
        trainer.step()
        clock.tick()
        if trainer.diverged is not None:
            break
        if step in marks:
            trajectory.append(float(np.mean([d.p for d in layers])))
    if trainer.diverged is not None:
        return {"p": math.nan, "layers": [math.nan] * len(layers), "trajectory": [],
                "train_loss": math.nan, "val_loss": math.nan}
    final = trainer.evaluate()
    ps = [d.p for d in layers]
    return {"p": float(np.mean(ps)), "layers": ps, "trajectory": trajectory,
            "train_loss": float(final["train_loss"]), "val_loss": float(final["val_loss"])}


def judge(p: dict[int, dict[int, float]]) -> tuple[tuple[str, Verdict], ...]:
    """``p``: size -> {seed -> learned p}, sizes smallest first. The two claims, each paired over seeds."""
    sizes = list(p)

    def larger(a: int, b: int):
        return check_larger(f"the learned p at n = {a} is larger than at n = {b}", p[a], p[b], num,
                            (f"n={a}", f"n={b}"))

    return (
        ("p is larger at the smallest size", combine([larger(sizes[0], sizes[-1])])),
        ("p falls at every step up in size", combine([larger(a, b) for a, b in zip(sizes, sizes[1:])])),
    )


def work(settings: Settings | None = None) -> float:
    s = settings or Settings()
    per_example = 2 * s.width + s.width**2 + 2 * s.width
    return len(s.sizes) * s.seeds * s.steps * BATCH * per_example * 3.0


def run(settings: Settings | None = None, progress: Callable[[Progress], None] | None = None,
        cancelled: Callable[[], bool] | None = None) -> VariantResult:
    s = settings or Settings()
    clock = Clock(len(s.sizes) * s.seeds * s.steps, progress, cancelled)
    runs: dict[int, dict[int, dict[str, Any]]] = {n: {} for n in s.sizes}
    try:
        for seed in range(s.seeds):
            for n in s.sizes:
                runs[n][seed] = train_one(s, n, seed, clock)
    except Cancelled:
        return cancelled_result(KEY, TITLE, CLAIM, s, clock)
    p = {n: {seed: r["p"] for seed, r in runs[n].items()} for n in s.sizes}
    label = {n: f"n={n}" for n in s.sizes}
    values: dict[str, dict[str, dict[int, float]]] = {}
    for n in s.sizes:
        metrics = {"p": p[n]}
        for i in range(2):
            metrics[f"p_layer{i + 1}"] = {seed: r["layers"][i] for seed, r in runs[n].items()}
        for key in ("train_loss", "val_loss"):
            metrics[key] = {seed: r[key] for seed, r in runs[n].items()}
        values[label[n]] = metrics
    steps = [float(x) for x in record_steps(s.steps)]
    trajectories: dict[str, Any] = {}
    signature: dict[str, float] = {"p_start": float(s.p_start)}
    final: dict[str, list[float]] = {"n_train": [], "p": []}
    for n in s.sizes:
        curves = [r["trajectory"] for r in runs[n].values() if len(r["trajectory"]) == len(steps)]
        trajectories[label[n]] = {"step": list(steps) if curves else [],
                                  "p": [float(v) for v in np.mean(curves, axis=0)] if curves else []}
        mean, se = mean_se(p[n].values())
        signature[f"p_n{n}"], signature[f"p_n{n}_se"] = mean, se
        final["n_train"].append(float(n))
        final["p"].append(mean)
    series = {"p trajectory": trajectories, "learned p": {"mean over seeds": final}}
    return VariantResult(KEY, TITLE, CLAIM, s, summary_rows(values), judge(p), series=series,
                         signature=signature, elapsed=clock.elapsed)
