"""Learned features on the 8x8 digits, with and without dropout (Srivastava et al. 2014, Fig. 7 and 8).

Two copies of one small network (64 pixels -> one hidden layer of ReLU units -> 10 classes)
are trained side by side by ``core.engine.trainer.Trainer``: the same seed, so the same training
images, the same initial weights and the same minibatch order; only the dropout differs
(``p = p_input = 0`` for the first run, the settings' ``p`` and ``p_input`` for the second).
For each run this module reports

- the first-layer weights as 8x8 **tiles** (Fig. 7: what each hidden unit looks for),
- each tile's **roughness** (``roughness``: how noisy it looks, as a number; a proxy of this
  project's: the paper judges its Fig. 7 by eye, units that "seem to detect edges, strokes and
  spots", and a smooth tile need not be such a detector),
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

from core.analysis.coadaptation import Sparsity, first_layer_tiles, sparsity
from core.analysis.knockout import knockout_damage
from core.analysis.layers import hidden_activations
from core.engine.digits import DigitNetSettings
from core.engine.datasets import Split, make_split
from core.engine.plain import read_only
from core.engine.trainer import Trainer, step_until

TILE_SHAPE = (8, 8)
POLL_SECONDS = 0.1
"""Most seconds between two calls of ``cancelled``."""
PROGRESS_SECONDS = 0.25
"""Least seconds between two calls of ``progress`` (the last one, 1.0, comes whatever the clock says)."""


@dataclass(frozen=True)
class FeatureSettings(DigitNetSettings):
    """One comparison: p = 0 against (``p_input``, ``p``), one hidden layer, every image not trained on
    is validation.

    The defaults take about 1 s on one CPU core once torch and scikit-learn are loaded. p_input
    = 0.2 is the paper's (it kept input pixels with probability 0.8), and here it is what makes
    the tiles smoother: measured over paired seeds (see tests/core/labs/coadaptation/test_features.py), hidden
    dropout alone (p_input = 0) leaves the roughness where it was (slightly higher, if anything)
    while input dropout alone (p = 0) lowers it as much as both together. The sparser hidden
    activations come mostly from the hidden dropout. Validation accuracy does not measurably move
    at these defaults.
    """

    p_input: float = 0.2
    n_train: int = 500
    epochs: int = 100


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
    initial = read_only(first_layer_tiles(trainers[0].model, TILE_SHAPE))
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
    tiles = read_only(first_layer_tiles(model, TILE_SHAPE))
    metrics = trainer.evaluate()
    h = hidden_activations(model, trainer.X_val)[0]
    damage = knockout_damage(model, trainer.X_val, trainer.y_val, 0)
    return FeatureRun(
        p=cfg.p_hidden[0], p_input=cfg.p_input, epochs_done=trainer.epoch_float,
        tiles=tiles, roughness=read_only(roughness(tiles, live)),
        update_roughness=read_only(roughness(tiles - initial, live)), sparsity=sparsity(h),
        train_acc=metrics["train_acc"], val_acc=metrics["val_acc"],
        train_loss=metrics["train_loss"], val_loss=metrics["val_loss"],
        knockout_max=damage.max, knockout_mean=damage.mean,
    )
