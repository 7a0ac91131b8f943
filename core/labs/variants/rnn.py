"""``reproduce variational-rnn``: locked (variational) against naive dropout in a small GRU.

Gal and Ghahramani 2016 ("A Theoretically Grounded Application of Dropout in Recurrent Neural Networks"):
dropout on an RNN's recurrent connections works when each sequence keeps *one* mask for all its time
steps (locked, the variational posterior's weight sample); a fresh mask at every step (naive) injects
noise that compounds along the sequence and drowns the memory. The model is
``core.engine.variant_models.build_rnn``: a GRU of ``hidden`` units unrolled over the sequence, dropout on
the cell's input and on its recurrent input (the same p for both), then a Linear.

Task (numpy, from the seed): a sine ``sin(w t + phase)``, w ~ U(0.5, 1.5) rad per step, phase ~ U(0, 2 pi),
read at t = 0 .. ``seq_len`` - 1 by ``sensors`` sensors, each with its own Gaussian noise of sd ``noise``;
the target is the next clean value ``sin(w * seq_len + phase)`` (MSE; predicting 0 scores about 0.5).
Several sensors, not one, so that locked input dropout (a whole sensor silent for a sequence) leaves the
sequence readable: with one input, locking its mask would blank a fifth of the sequences outright. A
small training set (``n_train`` sequences, minibatches of ``BATCH``, Adam at ``LR``) so that regularization
matters; validation on ``N_VAL`` fresh sequences.

Sides, paired over seeds (the same data, the same initial weights from ``build_rnn(seed)``, the same
minibatch order and mask stream from ``torch.Generator``s seeded from the seed): ``none`` (p = 0),
``naive`` (fresh masks every step) and ``locked`` (one mask per sequence), both at ``p``.

Claims, fixed before looking (Gal and Ghahramani 2016):

- locked beats naive: a lower final validation MSE;
- locked beats none: a lower final validation MSE.

Signature: example 0's recurrent keep-mask at the last training step of seed 0 (``DropoutRNN.last_masks``),
time x the first ``SHOWN_UNITS`` units, for naive and locked; and, over every training step of every seed,
the fraction of (t, t+1) pairs of example 0's recurrent mask that agree: exactly 1 when locked, about
p^2 + (1 - p)^2 when naive (the theory value is given next to it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from core.analysis.verdicts import Verdict, check_larger, combine, num
from core.engine.config import check_number
from core.engine.dropout import eval_mode, train_mode
from core.engine.sweep import Progress
from core.engine.variant_models import build_rnn
from core.labs.variants.common import (Cancelled, Clock, VariantResult, VariantSettings, cancelled_result,
                                       check_seeds, summary_rows)

KEY = "variational-rnn"
TITLE = "Variational (locked) dropout in an RNN: one mask per sequence"
CLAIM = ("In a small GRU trained on few noisy sequences, dropout that keeps one mask per sequence (locked, "
         "variational) ends with a lower validation MSE than a fresh mask at every step (naive), and than no "
         "dropout (Gal and Ghahramani 2016).")
SIDES = ("none", "naive", "locked")
BATCH = 32
LR = 0.01
N_VAL = 512
SHOWN_UNITS = 16
FREQ = (0.5, 1.5)


@dataclass(frozen=True)
class Settings(VariantSettings):
    p: float = 0.25
    seeds: int = 8
    epochs: int = 100
    n_train: int = 64
    seq_len: int = 20
    hidden: int = 32
    sensors: int = 4
    noise: float = 0.5

    def __post_init__(self) -> None:
        check_number("p", self.p, 0.05, 0.9)
        check_seeds(self.seeds)
        check_number("epochs", self.epochs, 2, 1000, integer=True)
        check_number("n_train", self.n_train, 16, 2000, integer=True)
        check_number("seq_len", self.seq_len, 5, 100, integer=True)
        check_number("hidden", self.hidden, 4, 128, integer=True)
        check_number("sensors", self.sensors, 1, 16, integer=True)
        check_number("noise", self.noise, 0.0, 2.0)

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_train / BATCH)


def sequences(n: int, s: Settings, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` noisy sine sequences ``[n, seq_len, sensors]`` and their next clean values ``[n, 1]``."""
    w = rng.uniform(*FREQ, n)
    phase = rng.uniform(0.0, 2 * math.pi, n)
    t = np.arange(s.seq_len)
    clean = np.sin(w[:, None] * t[None, :] + phase[:, None])
    x = clean[:, :, None] + s.noise * rng.normal(size=(n, s.seq_len, s.sensors))
    y = np.sin(w * s.seq_len + phase)[:, None]
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)


def make_data(s: Settings, seed: int) -> dict[str, torch.Tensor]:
    """Training and validation sets from the seed alone (independent streams)."""
    X, y = sequences(s.n_train, s, np.random.default_rng([seed, 1]))
    Xv, yv = sequences(N_VAL, s, np.random.default_rng([seed, 2]))
    return {"X": X, "y": y, "Xv": Xv, "yv": yv}


def agreement(mask: torch.Tensor) -> tuple[int, int]:
    """``mask`` [T, units] -> (pairs (t, t+1) that agree, pairs in all)."""
    same = mask[1:] == mask[:-1]
    return int(same.sum()), int(same.numel())


def train_one(s: Settings, side: str, seed: int, data: dict[str, torch.Tensor], clock: Clock) -> dict[str, Any]:
    """One side on one seed: the final validation and training MSE, the curve, mask agreement counts."""
    p = 0.0 if side == "none" else s.p
    model = build_rnn(seed, inputs=s.sensors, hidden=s.hidden, p=p, locked=side != "naive")
    model.set_generator(torch.Generator().manual_seed(10_007 * seed + 1))
    order = torch.Generator().manual_seed(10_007 * seed + 2)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    X, y = data["X"], data["y"]
    curve: dict[str, list[float]] = {"epoch": [], "val_mse": []}
    agree = pairs = 0
    last: torch.Tensor | None = None
    for epoch in range(1, s.epochs + 1):
        train_mode(model)
        for idx in torch.randperm(s.n_train, generator=order).split(BATCH):
            opt.zero_grad()
            loss = torch.mean((model(X[idx]) - y[idx]) ** 2)
            loss.backward()
            opt.step()
            if model.last_masks is not None:
                a, n = agreement(model.last_masks)
                agree, pairs = agree + a, pairs + n
                last = model.last_masks
            clock.tick()
        curve["epoch"].append(float(epoch))
        curve["val_mse"].append(mse(model, data["Xv"], data["yv"]))
    return {"val_mse": curve["val_mse"][-1], "train_mse": mse(model, X, y), "curve": curve,
            "agree": agree, "pairs": pairs,
            "mask": [] if last is None else last[:, :SHOWN_UNITS].int().tolist()}


def mse(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    eval_mode(model)
    with torch.no_grad():
        out = float(torch.mean((model(X) - y) ** 2))
    train_mode(model)
    return out if math.isfinite(out) else math.nan


def work(settings: Settings | None = None) -> float:
    s = settings or Settings()
    per_step = 3 * (s.sensors + s.hidden) * s.hidden * 2 + s.hidden
    train = s.n_train * s.epochs * s.seq_len * per_step * 3.0
    val = N_VAL * s.epochs * s.seq_len * per_step
    return len(SIDES) * s.seeds * (train + val)


def run(settings: Settings | None = None, progress: Callable[[Progress], None] | None = None,
        cancelled: Callable[[], bool] | None = None) -> VariantResult:
    s = settings or Settings()
    clock = Clock(len(SIDES) * s.seeds * s.epochs * s.steps_per_epoch, progress, cancelled)
    runs: dict[str, dict[int, dict[str, Any]]] = {side: {} for side in SIDES}
    try:
        for seed in range(s.seeds):
            data = make_data(s, seed)
            for side in SIDES:
                runs[side][seed] = train_one(s, side, seed, data, clock)
    except Cancelled:
        return cancelled_result(KEY, TITLE, CLAIM, s, clock)
    val = {side: {seed: r["val_mse"] for seed, r in runs[side].items()} for side in SIDES}
    rows = summary_rows({side: {"val_mse": val[side],
                                "train_mse": {seed: r["train_mse"] for seed, r in runs[side].items()}}
                         for side in SIDES})
    return VariantResult(KEY, TITLE, CLAIM, s, rows, judge(val), series=curves(runs),
                         signature=signature(s, runs), elapsed=clock.elapsed)


def judge(val: dict[str, dict[int, float]]) -> tuple[tuple[str, Verdict], ...]:
    """``val``: side -> {seed -> final validation MSE}. The two claims, each paired over seeds."""
    return (
        ("locked beats naive", combine([check_larger(
            "locked dropout gives a lower final validation MSE than naive dropout", val["naive"], val["locked"],
            num, ("naive", "locked"))])),
        ("locked beats none", combine([check_larger(
            "locked dropout gives a lower final validation MSE than no dropout", val["none"], val["locked"],
            num, ("none", "locked"))])),
    )


def curves(runs: dict[str, dict[int, dict[str, Any]]]) -> dict[str, Any]:
    """Each side's validation MSE, epoch by epoch, averaged over seeds (NaN where a seed diverged)."""
    out: dict[str, Any] = {}
    for side, by_seed in runs.items():
        table = np.array([r["curve"]["val_mse"] for r in by_seed.values()], dtype=float)
        out[side] = {"epoch": next(iter(by_seed.values()))["curve"]["epoch"],
                     "val_mse": [float(v) for v in table.mean(axis=0)]}
    return out


def signature(s: Settings, runs: dict[str, dict[int, dict[str, Any]]]) -> dict[str, Any]:
    out: dict[str, Any] = {"theory_naive_agreement": s.p**2 + (1 - s.p) ** 2, "theory_locked_agreement": 1.0}
    for side in ("naive", "locked"):
        agree = sum(r["agree"] for r in runs[side].values())
        pairs = sum(r["pairs"] for r in runs[side].values())
        out[f"{side}_agreement"] = agree / pairs if pairs else math.nan
        out[f"{side}_pairs"] = float(pairs)
    for side in ("naive", "locked"):
        out[f"{side}_mask"] = runs[side][0]["mask"]
    return out
