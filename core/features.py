"""Learned features on the 8x8 digits, with and without dropout (Srivastava et al. 2014, Fig. 7 and 8).

Two copies of one small network (64 pixels -> one hidden layer of ReLU units -> 10 classes)
are trained side by side by ``core.trainer.Trainer``: the same seed, so the same training
images, the same initial weights and the same minibatch order; only the dropout differs
(``p = p_input = 0`` for the first run, the settings' ``p`` and ``p_input`` for the second).
For each run this module reports

- the first-layer weights as 8x8 **tiles** (Fig. 7: what each hidden unit looks for),
- each tile's **roughness** (``roughness``: how noisy it looks, as a number),
- the **sparsity** of the hidden activations on the validation set (Fig. 8),
- loss and accuracy on both sets, and the knock-out damage of single units.

Pixels that are 0 in every training image (``live_pixels`` is False there; on the digits,
a few at the left and right edges) send no data gradient to their weights, so without weight
decay those weights keep their random initial values in BOTH runs: noise that training never
touched and that dropout cannot change. Roughness is therefore measured over the live pixels
only (a page may grey the others out); the tiles themselves are the whole weights, as trained.
Likewise a hidden unit that never fires keeps its initial tile; ``sparsity.dead`` lists the
units that are 0 on every validation image, and their tiles count in ``mean_roughness``
(they are part of what the figure shows).

Everything returned is plain data (floats, read-only numpy arrays, frozen dataclasses).
Nothing here draws, prints, sleeps or imports Streamlit.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from core.coadaptation import Sparsity, first_layer_tiles, hidden_activations, knockout_damage, sparsity
from core.config import (DEVICES, DIGITS_SIZE, OPTIMIZERS, DataConfig, ModelConfig, RunConfig, TrainConfig, check_choice,
                         check_number)
from core.datasets import Split, make_split
from core.trainer import Trainer, step_until

TILE_SHAPE = (8, 8)
MAX_WIDTH = 256
MAX_EPOCHS = 2000
MIN_VAL = 100
"""At least this many images are left for validation: the sparsity and accuracies are measured there."""
POLL_SECONDS = 0.1
"""Most seconds between two calls of ``cancelled``."""
PROGRESS_SECONDS = 0.25
"""Least seconds between two calls of ``progress`` (the last one, 1.0, comes whatever the clock says)."""


@dataclass(frozen=True)
class FeatureSettings:
    """One comparison: p = 0 against (``p_input``, ``p``). Every image not trained on is validation.

    The defaults take about 1 s on one CPU core once torch and scikit-learn are loaded. p_input
    = 0.2 is the paper's (it kept input pixels with probability 0.8), and here it is what makes
    the tiles smoother: measured over paired seeds (see tests/core/test_features.py), hidden
    dropout alone (p_input = 0) leaves the roughness where it was (slightly higher, if anything)
    while input dropout alone (p = 0) lowers it as much as both together. The sparser hidden
    activations come mostly from the hidden dropout. Validation accuracy does not measurably move
    at these defaults.
    """

    p: float = 0.5
    p_input: float = 0.2
    width: int = 128
    n_train: int = 500
    epochs: int = 100
    seed: int = 0
    lr: float = 0.003
    batch_size: int = 32
    weight_decay: float = 0.0
    optimizer: str = "adam"
    device: str = "auto"

    def __post_init__(self) -> None:
        check_number("p", self.p, 0.0, 1.0, hi_open=True)
        check_number("p_input", self.p_input, 0.0, 1.0, hi_open=True)
        check_number("width", self.width, 2, MAX_WIDTH, integer=True)
        check_number("n_train", self.n_train, 20, DIGITS_SIZE - MIN_VAL, integer=True)
        check_number("epochs", self.epochs, 1, MAX_EPOCHS, integer=True)
        check_number("seed", self.seed, 0, 2**31 - 1, integer=True)
        check_number("lr", self.lr, 1e-5, 10.0)
        check_number("batch_size", self.batch_size, 1, self.n_train, integer=True)
        check_number("weight_decay", self.weight_decay, 0.0, 1.0)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("device", self.device, DEVICES)

    @property
    def n_val(self) -> int:
        return DIGITS_SIZE - self.n_train

    def run_config(self, dropout: bool) -> RunConfig:
        """The ``RunConfig`` of one side: without dropout (p = 0 everywhere) or with it."""
        return RunConfig(
            DataConfig(dataset="digits", noise=0.0, n_train=self.n_train, n_val=self.n_val, seed=self.seed),
            ModelConfig(num_hiddens=(self.width,), activation="relu", p_input=self.p_input if dropout else 0.0,
                        p_hidden=(self.p if dropout else 0.0,)),
            TrainConfig(optimizer=self.optimizer, lr=self.lr, weight_decay=self.weight_decay,
                        batch_size=self.batch_size, max_epochs=self.epochs, device=self.device),
        )


# -- roughness ---------------------------------------------------------------------------------
def roughness(tiles: np.ndarray, live: np.ndarray | None = None) -> np.ndarray:
    """How noisy each tile looks: Geary's C over 4-neighbour pixel pairs, one number per tile.

    For one tile with values x over its N live pixels and the P pairs of live pixels that
    share an edge (left-right or up-down)::

        C = mean over pairs of (x_i - x_j)^2  /  (2 * sample variance of x, ddof = 1)

    which is Geary's contiguity ratio with rook weights. Independent noise gives C = 1 in
    expectation (exactly, for any N and P); a smooth image, whose neighbours are alike,
    gives C well below 1 (a linear ramp across an 8x8 tile: 3/64); an image whose neighbours
    are opposite gives C near 2 (an 8x8 checkerboard: 2 * 63/64). C does not change when a
    tile is scaled or shifted, so a tile that learned more is not called smoother for that.

    ``live`` ([8, 8] bool, default all True) restricts both the pairs and the variance to
    live pixels (``train_features`` passes the pixels that are not 0 in every training
    image). A tile that is constant over its live pixels, or with no live pair, gets NaN.
    """
    tiles = np.asarray(tiles, dtype=np.float64)
    if tiles.ndim != 3:
        raise ValueError(f"tiles must be [units, height, width], got shape {tiles.shape}")
    live = np.ones(tiles.shape[1:], dtype=bool) if live is None else np.asarray(live, dtype=bool)
    if live.shape != tiles.shape[1:]:
        raise ValueError(f"live must have the tiles' shape {tiles.shape[1:]}, got {live.shape}")
    across = live[:, 1:] & live[:, :-1]
    down = live[1:, :] & live[:-1, :]
    pairs = int(across.sum() + down.sum())
    n = int(live.sum())
    if pairs == 0 or n < 2:
        return np.full(tiles.shape[0], math.nan)
    squared = (np.diff(tiles, axis=2) ** 2 * across).sum((1, 2)) + (np.diff(tiles, axis=1) ** 2 * down).sum((1, 2))
    values = tiles[:, live]
    variance = values.var(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        c = (squared / pairs) / (2.0 * variance)
    # A constant tile: 0 / 0 (or rounding noise over a variance of ~1e-32) is no answer.
    scale = np.abs(values).max(axis=1)
    return np.where(variance > (1e-12 * np.maximum(scale, 1e-30)) ** 2, c, math.nan)


def live_pixels(split: Split) -> np.ndarray:
    """[8, 8] bool: the pixels that are not 0 in every training image."""
    return (split.X_train != 0).any(axis=0).reshape(TILE_SHAPE)


# -- the two runs ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FeatureRun:
    """One trained network (or what was trained of it before a cancel)."""

    p: float
    p_input: float
    epochs_done: float
    tiles: np.ndarray  # [units, 8, 8]: unit k's incoming weights as an image
    roughness: np.ndarray  # [units]: Geary's C of each tile over the live pixels (see ``roughness``)
    update_roughness: np.ndarray  # [units]: the same of what training added, tiles - initial tiles (NaN: unchanged)
    sparsity: Sparsity  # of the hidden activations on the validation set, dropout off
    train_acc: float
    val_acc: float
    train_loss: float
    val_loss: float
    knockout_max: float  # largest validation-loss increase when one hidden unit is switched off
    knockout_mean: float

    @property
    def mean_roughness(self) -> float:
        """Mean roughness over the units (all of them, dead ones included; NaN tiles skipped)."""
        return float(np.nanmean(self.roughness)) if np.isfinite(self.roughness).any() else math.nan

    @property
    def mean_activation(self) -> float:
        """Mean hidden activation over validation images and units."""
        return float(self.sparsity.unit_mean.mean())


@dataclass(frozen=True, eq=False)
class FeatureResult:
    """Both runs, measured; ``cancelled`` when they were stopped early (then partly trained)."""

    settings: FeatureSettings
    runs: tuple[FeatureRun, FeatureRun]  # (without dropout, with dropout)
    initial_tiles: np.ndarray  # [units, 8, 8]: the weights both runs started from
    live_pixels: np.ndarray  # [8, 8] bool: pixels not 0 in every training image
    cancelled: bool
    seconds: float


def train_features(
    settings: FeatureSettings | None = None,
    progress: Callable[[float], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> FeatureResult:
    """Train the pair in lockstep (one step without dropout, one with), then measure both.

    ``progress`` gets the fraction of steps done, at most every ``PROGRESS_SECONDS`` and 1.0
    at the end. ``cancelled`` is polled before the first step and then about every
    ``POLL_SECONDS``; once it is true the runs stop and are measured as they are (the
    result says ``cancelled``). Polled before any step, both runs hold equal weights.
    """
    settings = settings or FeatureSettings()
    start = time.perf_counter()
    plain, dropped = settings.run_config(dropout=False), settings.run_config(dropout=True)
    split = make_split(plain.data)
    trainers = (Trainer(plain, split, evaluate=False), Trainer(dropped, split, evaluate=False))
    initial = _frozen(first_layer_tiles(trainers[0].model, TILE_SHAPE))
    total = settings.epochs * math.ceil(settings.n_train / settings.batch_size)
    _, stopped = step_until(lambda: [trainer.step() for trainer in trainers], total, progress=progress,
                            cancelled=cancelled, poll_seconds=POLL_SECONDS, progress_seconds=PROGRESS_SECONDS)
    live = live_pixels(split)
    live.setflags(write=False)
    runs = tuple(_measure(trainer, initial, live) for trainer in trainers)
    if progress is not None and not stopped:
        progress(1.0)
    return FeatureResult(settings, runs, initial, live, stopped, time.perf_counter() - start)


def _measure(trainer: Trainer, initial: np.ndarray, live: np.ndarray) -> FeatureRun:
    model, cfg = trainer.model, trainer.cfg.model
    tiles = _frozen(first_layer_tiles(model, TILE_SHAPE))
    metrics = trainer.evaluate()
    h = hidden_activations(model, trainer.X_val)[0]
    damage = knockout_damage(model, trainer.X_val, trainer.y_val, 0)
    return FeatureRun(
        p=cfg.p_hidden[0], p_input=cfg.p_input, epochs_done=trainer.epoch_float,
        tiles=tiles, roughness=_frozen(roughness(tiles, live)),
        update_roughness=_frozen(roughness(tiles - initial, live)), sparsity=sparsity(h),
        train_acc=metrics["train_acc"], val_acc=metrics["val_acc"],
        train_loss=metrics["train_loss"], val_loss=metrics["val_loss"],
        knockout_max=damage.max, knockout_mean=damage.mean,
    )


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    a.setflags(write=False)
    return a
