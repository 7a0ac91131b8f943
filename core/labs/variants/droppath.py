"""``reproduce droppath``: stochastic depth on a deep residual MLP: fewer blocks per step, and a regularizer.

Huang et al. 2016 ("Deep Networks with Stochastic Depth"): during training each residual block's branch is
dropped whole, per example, with probability p (the block is then the identity), so on average a pass runs
``depth * (1 - p)`` branches, and the network trained this way generalizes better. Here p is the same for
every block (the paper's "uniform" rule; its default decays p linearly with depth). The model is
``core.engine.variant_models.build_residual``: ``depth`` blocks ``h + DropPath(W2 relu(W1 h))`` of
``width`` units between an input and an output Linear, weights from the seed alone.

Data: the two moons with noise 0.5, ``n_train`` (40) training points and ``N_VAL`` validation points
(``core.engine.datasets.make_split``), the Playground's overfitting regime: a 16-block residual net fits 40
noisy points exactly and its validation loss climbs. Minibatches of ``BATCH``, Adam at ``LR``, ``epochs``
epochs; the order of the minibatches and the branch masks come from ``torch.Generator``s seeded from the seed.

Sides, paired over seeds (same data, same initial weights, same minibatch order): ``none`` (p = 0) and
``droppath`` (p). Claims, fixed before looking:

- (a) the branches run per example per training step average ``depth * (1 - p)``: the per-seed mean of
  ``ResidualMLP.blocks_used()`` (recorded at every step) agrees with it within ``MARGIN`` (0.5 blocks), an
  equivalence test;
- (b) DropPath gives a lower final validation loss than no DropPath.

Signature: blocks used per step (mean, its se over seeds, and the theory ``depth * (1 - p)``), and the
compute saved: the fraction of branch evaluations that stochastic depth skips (1 - blocks used / depth,
theory p) and the same as a fraction of the whole network's multiply-adds per training example. This
implementation (``DropPath``) still computes a dropped branch and multiplies it by 0, so the saving is what
a skipping implementation would get, not a measured speed-up.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from core.analysis.verdicts import Verdict, check_larger, combine, mean_se, num
from core.engine.config import DataConfig, check_number
from core.engine.datasets import make_split
from core.engine.dropout import eval_mode, train_mode
from core.engine.sweep import Progress
from core.engine.variant_models import build_residual
from core.labs.variants.common import (Cancelled, Clock, VariantResult, VariantSettings, cancelled_result,
                                       check_agrees, check_seeds, summary_rows)

KEY = "droppath"
TITLE = "DropPath (stochastic depth): drop whole residual blocks"
CLAIM = ("Dropping each residual branch per example with probability p runs depth × (1 - p) blocks per step on "
         "average (within 0.5 blocks), and a deep residual net trained this way on few noisy points ends with a "
         "lower validation loss than without (Huang et al. 2016).")
SIDES = ("none", "droppath")
DATASET, NOISE, N_VAL = "moons", 0.5, 400
BATCH = 16
LR = 0.003
MARGIN = 0.5
MAX_POINTS = 300


@dataclass(frozen=True)
class Settings(VariantSettings):
    p: float = 0.2
    seeds: int = 8
    epochs: int = 200
    n_train: int = 40
    depth: int = 16
    width: int = 32

    def __post_init__(self) -> None:
        check_number("p", self.p, 0.05, 0.9)
        check_seeds(self.seeds)
        check_number("epochs", self.epochs, 2, 1000, integer=True)
        check_number("n_train", self.n_train, 20, 1000, integer=True)
        check_number("depth", self.depth, 2, 64, integer=True)
        check_number("width", self.width, 4, 256, integer=True)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_train / BATCH)

    @property
    def theory_blocks(self) -> float:
        return self.depth * (1.0 - self.p)

    def data(self, seed: int) -> DataConfig:
        return DataConfig(DATASET, NOISE, self.n_train, N_VAL, seed)


def macs_per_example(s: Settings, blocks: float) -> float:
    """Multiply-adds of one forward pass per example when ``blocks`` branches run."""
    return 2 * s.width + blocks * 2 * s.width**2 + s.width * 2


def train_one(s: Settings, side: str, seed: int, split: Any, clock: Clock) -> dict[str, Any]:
    """One side on one seed: final validation/training loss and error, the val-loss curve, blocks per step."""
    p = 0.0 if side == "none" else s.p
    model = build_residual(seed, inputs=split.num_inputs, width=s.width, depth=s.depth, classes=2, p=p)
    model.set_generator(torch.Generator().manual_seed(10_007 * seed + 1))
    order = torch.Generator().manual_seed(10_007 * seed + 2)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    X, y = torch.tensor(split.X_train, dtype=torch.float32), torch.tensor(split.y_train, dtype=torch.long)
    Xv, yv = torch.tensor(split.X_val, dtype=torch.float32), torch.tensor(split.y_val, dtype=torch.long)
    curve: dict[str, list[float]] = {"epoch": [], "val_loss": []}
    blocks: list[float] = []
    paths = None
    for epoch in range(1, s.epochs + 1):
        train_mode(model)
        for idx in torch.randperm(s.n_train, generator=order).split(BATCH):
            opt.zero_grad()
            F.cross_entropy(model(X[idx]), y[idx]).backward()
            opt.step()
            blocks.append(model.blocks_used())
            paths = model.path_masks()  # the last training step's: [depth, examples], True = the branch ran
            clock.tick()
        curve["epoch"].append(float(epoch))
        curve["val_loss"].append(evaluate(model, Xv, yv)[0])
    val_loss, val_err = evaluate(model, Xv, yv)
    train_loss, train_err = evaluate(model, X, y)
    return {"val_loss": val_loss, "val_err": val_err, "train_loss": train_loss, "train_err": train_err,
            "curve": curve, "blocks": blocks, "paths": [] if paths is None else paths.int().tolist()}


def evaluate(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Cross-entropy and error with every branch on (DropPath off), then back to training mode."""
    eval_mode(model)
    with torch.no_grad():
        logits = model(X)
        loss, err = float(F.cross_entropy(logits, y)), float((logits.argmax(1) != y).float().mean())
    train_mode(model)
    return (loss, err) if math.isfinite(loss) else (math.nan, math.nan)


def work(settings: Settings | None = None) -> float:
    s = settings or Settings()
    per_epoch = s.n_train * 3.0 + N_VAL
    return len(SIDES) * s.seeds * s.epochs * per_epoch * macs_per_example(s, s.depth)


def run(settings: Settings | None = None, progress: Callable[[Progress], None] | None = None,
        cancelled: Callable[[], bool] | None = None) -> VariantResult:
    s = settings or Settings()
    clock = Clock(len(SIDES) * s.seeds * s.epochs * s.steps_per_epoch, progress, cancelled)
    runs: dict[str, dict[int, dict[str, Any]]] = {side: {} for side in SIDES}
    try:
        for seed in range(s.seeds):
            split = make_split(s.data(seed))
            for side in SIDES:
                runs[side][seed] = train_one(s, side, seed, split, clock)
    except Cancelled:
        return cancelled_result(KEY, TITLE, CLAIM, s, clock)
    metric = {side: {key: {seed: r[key] for seed, r in runs[side].items()}
                     for key in ("val_loss", "val_err", "train_loss", "train_err")} for side in SIDES}
    used = {side: {seed: float(np.mean(r["blocks"])) for seed, r in runs[side].items()} for side in SIDES}
    verdicts = judge(s, used["droppath"], {side: metric[side]["val_loss"] for side in SIDES})
    rows = summary_rows({side: {**metric[side], "blocks_used": used[side]} for side in SIDES})
    sig: dict[str, Any] = {**signature(s, used["droppath"]), "branch_mask": runs["droppath"][0]["paths"]}
    return VariantResult(KEY, TITLE, CLAIM, s, rows, verdicts, series=series_of(s, runs), signature=sig,
                         elapsed=clock.elapsed)


def judge(s: Settings, used: dict[int, float], val_loss: dict[str, dict[int, float]]
          ) -> tuple[tuple[str, Verdict], ...]:
    """``used``: seed -> DropPath's mean blocks per step; ``val_loss``: side -> {seed -> final val loss}."""
    theory = {seed: s.theory_blocks for seed in used}
    return (
        ("blocks used match depth (1 - p)", combine([check_agrees(
            f"DropPath runs depth × (1 - p) = {s.theory_blocks:g} branches per example per step, within "
            f"{MARGIN:g} blocks", used, theory, MARGIN, num, ("measured", "theory"))])),
        ("droppath beats none", combine([check_larger(
            "DropPath gives a lower final validation loss than no DropPath", val_loss["none"], val_loss["droppath"],
            num, ("none", "droppath"))])),
    )


def series_of(s: Settings, runs: dict[str, dict[int, dict[str, Any]]]) -> dict[str, Any]:
    """Mean val-loss curves per side, and blocks used per step (mean over seeds, every k-th step)."""
    out: dict[str, Any] = {}
    for side in SIDES:
        table = np.array([r["curve"]["val_loss"] for r in runs[side].values()], dtype=float)
        out[side] = {"epoch": next(iter(runs[side].values()))["curve"]["epoch"],
                     "val_loss": [float(v) for v in table.mean(axis=0)]}
    n_steps = len(next(iter(runs["droppath"].values()))["blocks"])
    keep = np.unique(np.linspace(0, n_steps - 1, min(n_steps, MAX_POINTS)).round().astype(int))
    steps = [float(i + 1) for i in keep]
    blocks: dict[str, Any] = {}
    for side in SIDES:
        per_step = np.array([r["blocks"] for r in runs[side].values()], dtype=float).mean(axis=0)
        blocks[side] = {"step": steps, "blocks_used": [float(per_step[i]) for i in keep]}
    blocks["theory"] = {"step": steps, "blocks_used": [s.theory_blocks] * len(steps)}
    out["blocks_used"] = blocks
    return out


def signature(s: Settings, used: dict[int, float]) -> dict[str, float]:
    mean, se = mean_se(used.values())
    full = macs_per_example(s, s.depth)
    return {"blocks_used": mean, "blocks_used_se": se, "theory_blocks": s.theory_blocks, "depth": float(s.depth),
            "branches_saved": 1.0 - mean / s.depth, "theory_branches_saved": s.p,
            "compute_saved": 1.0 - macs_per_example(s, mean) / full,
            "theory_compute_saved": 1.0 - macs_per_example(s, s.theory_blocks) / full}

