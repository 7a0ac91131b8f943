"""Co-adaptation made measurable: how much the network leans on single hidden units.

Srivastava et al. (2014) argue that without dropout, hidden units *co-adapt*: each one
fixes the mistakes of the others, so that the network as a whole depends on fragile
coalitions of units. The numbers here make that visible on one hidden layer, always on
the given set (the Playground passes the validation set) with dropout OFF (``eval_mode``);
the model's previous mode, Monte-Carlo flags included, is restored afterwards.

- **Knock-out damage** (``knockout_damage``, in ``core.analysis.knockout``): for each unit of the
  layer, what switching it off alone costs at evaluation.
- **Correlation** (``correlation``): the units' correlation matrix over the samples
  (centred ``H^T H`` in float32, in torch), a unit ordering for heatmaps that puts correlated units
  next to each other, and the mean absolute off-diagonal correlation.
- **Sparsity** (``sparsity``): the fraction of exactly-zero activations, per-unit means,
  dead units, and histograms on fixed bins (``ACTIVATION_BINS``, ``MEAN_BINS``) so that
  two runs can be drawn side by side (the paper's Figure 8).
- **First-layer tiles** (``first_layer_tiles``): for the 8x8 digits, each hidden unit's
  incoming weights as an image (the paper's Figure 7).

``measure`` computes all three statistics of one layer from ONE forward pass;
``CoadaptationRecorder`` is a ``Trainer`` callback that calls it every few epochs and
keeps the lead numbers as plain lists, plus the latest full ``Snapshot``.

Everything returned is plain data: floats, ints, read-only numpy arrays, frozen
dataclasses. Nothing here draws, prints or imports Streamlit.

Layers are counted from 0 (the first hidden layer). "Activations" are the outputs of a
hidden layer's activation function, before its dropout module; at evaluation inverted
dropout is the identity, so this is what the next Linear sees (classic dropout scales it
by ``1 - p`` first; knock-out runs the dropout module, so it is right for both).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from core.analysis.knockout import Knockout, knockout_from
from core.analysis.layers import activations_off, check_layer, dropout_off
from core.engine.plain import read_only

ACTIVATION_BINS = np.linspace(-1.0, 4.0, 51)
"""Bin edges for the histogram of activations: width 0.1 from -1 to 4. Values outside go to the end bins."""

MEAN_BINS = np.linspace(-0.5, 2.0, 26)
"""Bin edges for the histogram of per-unit mean activations: width 0.1 from -0.5 to 2. Outside: end bins."""
ACTIVATION_BINS.setflags(write=False)
MEAN_BINS.setflags(write=False)


# -- correlation ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Correlation:
    """The units' correlation over the samples.

    ``matrix[i, j]`` is Pearson's correlation of units i and j; a unit of zero variance
    (``dead``: constant on the set, for ReLU a unit that never fires) has 0 everywhere in
    its row and column, its diagonal included. ``order`` lists the units so that
    correlated ones sit next to each other (``matrix[np.ix_(order, order)]`` for a
    heatmap; see ``heatmap_order``), dead units last. ``mean_abs_offdiag`` is the mean of
    |C_ij| over pairs i != j of live units (NaN with fewer than two live units).
    """

    matrix: np.ndarray  # [units, units], float32
    order: np.ndarray  # [units], a permutation
    dead: np.ndarray  # indices of the units of zero variance
    mean_abs_offdiag: float

    @property
    def n_dead(self) -> int:
        return int(self.dead.size)

    @property
    def ordered(self) -> np.ndarray:
        """The matrix with rows and columns in ``order``: what a heatmap shows."""
        return self.matrix[np.ix_(self.order, self.order)]


def _as_numpy32(H: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(H, torch.Tensor):
        H = H.detach().cpu().numpy()
    H = np.asarray(H, dtype=np.float32)
    if H.ndim != 2:
        raise ValueError(f"activations must be [samples, units], got shape {H.shape}")
    return H


def heatmap_order(abs_corr: np.ndarray, live: np.ndarray) -> np.ndarray:
    """A greedy nearest-neighbour chain through the live units, then the dead ones.

    Start at the live unit with the largest total |correlation| to the others; then
    repeatedly append the unused live unit most correlated (in absolute value) with the
    last one appended. Each unit is followed by its strongest remaining partner, so a
    block of mutually correlated units comes out contiguous, and a pair correlated more
    strongly with each other than with anything else ends up adjacent. O(units^2).
    """
    live_idx = np.flatnonzero(live)
    order: list[int] = []
    if live_idx.size:
        sub = abs_corr[np.ix_(live_idx, live_idx)].astype(np.float64)
        np.fill_diagonal(sub, 0.0)
        used = np.zeros(live_idx.size, dtype=bool)
        current = int(sub.sum(1).argmax())
        for _ in range(live_idx.size):
            used[current] = True
            order.append(current)
            if used.all():
                break
            current = int(np.where(used, -np.inf, sub[current]).argmax())
        order = [int(live_idx[i]) for i in order]
    return np.array(order + [int(i) for i in np.flatnonzero(~live)], dtype=np.int64)


def correlation(H: torch.Tensor | np.ndarray) -> Correlation:
    """Correlation matrix of activations ``H`` [samples, units]; dead units get 0, not NaN."""
    H = _as_numpy32(H)
    n = H.shape[0]
    # The product in torch: it keeps to the process's one thread, where numpy's OpenBLAS starts its own
    # threads; with the other core busy those made a 400 x 128 product 15 ms instead of 0.1-0.3 ms.
    T = torch.from_numpy(H if H.flags.writeable else H.copy())  # torch wants a writable array
    centred = T - T.mean(0, keepdim=True)
    cov = (centred.T @ centred).numpy() / np.float32(max(n, 1))
    std = np.sqrt(np.maximum(np.diag(cov), 0.0))
    # Zero variance, allowing float32 rounding of a constant column's mean.
    scale = np.abs(H).max(0) if n else np.zeros(H.shape[1], np.float32)
    live = std > 1e-6 * np.maximum(scale, np.float32(1e-30))
    inv = np.where(live, 1.0 / np.where(live, std, 1.0), 0.0).astype(np.float32)
    matrix = np.clip(cov * inv[:, None] * inv[None, :], -1.0, 1.0).astype(np.float32)
    np.fill_diagonal(matrix, live.astype(np.float32))
    abs_corr = np.abs(matrix)
    n_live = int(live.sum())
    if n_live >= 2:
        live_block = abs_corr[np.ix_(live, live)].astype(np.float64)
        mean_abs = float((live_block.sum() - n_live) / (n_live * (n_live - 1)))
    else:
        mean_abs = math.nan
    order = heatmap_order(abs_corr, live)
    return Correlation(read_only(matrix), read_only(order), read_only(np.flatnonzero(~live)), mean_abs)


# -- sparsity ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Sparsity:
    """How sparse a layer's activations are on a set.

    ``zero_fraction``: share of the N x U activations that are exactly 0 (for ReLU, the
    units that are off). ``dead``: units that are 0 on every sample. Histograms use
    fixed edges (``ACTIVATION_BINS`` and ``MEAN_BINS`` unless given): values beyond the
    first or last edge are counted in the first or last bin, so counts always sum to
    N x U (activations) and U (means), and two runs compare bin by bin.
    """

    zero_fraction: float
    unit_mean: np.ndarray  # [units]
    unit_zero_fraction: np.ndarray  # [units]
    dead: np.ndarray  # indices of the units that are 0 on every sample
    hist_counts: np.ndarray  # [len(hist_edges) - 1], histogram of all activations
    hist_edges: np.ndarray
    mean_counts: np.ndarray  # [len(mean_edges) - 1], histogram of the per-unit means
    mean_edges: np.ndarray

    @property
    def n_dead(self) -> int:
        return int(self.dead.size)


def _histogram(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    clipped = np.clip(values, edges[0], edges[-1])  # the end bins take what lies beyond
    return np.histogram(clipped, bins=edges)[0].astype(np.int64)


def sparsity(
    H: torch.Tensor | np.ndarray, bins: np.ndarray = ACTIVATION_BINS, mean_bins: np.ndarray = MEAN_BINS
) -> Sparsity:
    """Zeros, dead units, per-unit means and histograms of activations ``H`` [samples, units]."""
    H = _as_numpy32(H)
    bins, mean_bins = np.asarray(bins, dtype=np.float64), np.asarray(mean_bins, dtype=np.float64)
    zero = H == 0
    unit_zero = zero.mean(0, dtype=np.float64) if H.shape[0] else np.ones(H.shape[1])
    unit_mean = H.mean(0, dtype=np.float64) if H.shape[0] else np.zeros(H.shape[1])
    return Sparsity(
        zero_fraction=float(zero.mean()) if H.size else math.nan,
        unit_mean=read_only(unit_mean),
        unit_zero_fraction=read_only(unit_zero),
        dead=read_only(np.flatnonzero(unit_zero == 1.0)),
        hist_counts=read_only(_histogram(H.ravel(), bins)),
        hist_edges=read_only(bins.copy()),
        mean_counts=read_only(_histogram(unit_mean, mean_bins)),
        mean_edges=read_only(mean_bins.copy()),
    )


# -- first-layer weights as images ---------------------------------------------------------
def first_layer_tiles(model: nn.Module, shape: tuple[int, int] = (8, 8)) -> np.ndarray:
    """The first Linear's weights as ``[units, *shape]`` images: tile k is what unit k looks for."""
    weight = model.linears[0].weight.detach().cpu().numpy()
    if weight.shape[1] != shape[0] * shape[1]:
        raise ValueError(
            f"the first layer has {weight.shape[1]} inputs; tiles of shape {shape} need {shape[0] * shape[1]}"
        )
    return weight.reshape(weight.shape[0], *shape).copy()


# -- all of it, from one forward pass ------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Snapshot:
    """The three statistics of one hidden layer, from one forward pass, at one moment."""

    epoch: int
    layer: int
    knockout: Knockout
    correlation: Correlation
    sparsity: Sparsity

    def lead(self) -> dict[str, float]:
        """The lead numbers (the recorder's time series), as plain floats and ints."""
        return {
            "ko_mean": self.knockout.mean,
            "ko_max": self.knockout.max,
            "acc_drop_max": self.knockout.max_acc_drop,
            "corr_mean_abs": self.correlation.mean_abs_offdiag,
            "zero_fraction": self.sparsity.zero_fraction,
            "dead_units": self.sparsity.n_dead,
        }


def measure(model: nn.Module, X: torch.Tensor, y: torch.Tensor, layer: int = 0, epoch: int = 0) -> Snapshot:
    """Knock-out damage, correlation and sparsity of hidden layer ``layer`` on (X, y), dropout off."""
    check_layer(model, layer)
    with dropout_off(model):
        h = activations_off(model, X)[layer]
        knockout = knockout_from(model, h, y, layer)
    H = h.cpu().numpy()
    return Snapshot(int(epoch), layer, knockout, correlation(H), sparsity(H))


class CoadaptationRecorder:
    """A ``Trainer`` callback: every ``every`` epochs, ``measure`` on the validation set.

    ``series`` holds one list per key of ``KEYS`` (epoch and step as ints, the rest
    floats, dead units an int), one entry per measurement, at epochs ``every``,
    ``2 * every``, ... . When more than ``max_points`` have piled up, every other one is
    dropped and ``every`` doubles, so a long run keeps an evenly spaced, bounded series.
    ``latest`` is the last full ``Snapshot`` (None before the first), for the histograms
    and heatmaps of a page.
    """

    KEYS = ("epoch", "step", "ko_mean", "ko_max", "acc_drop_max", "corr_mean_abs", "zero_fraction", "dead_units")

    def __init__(self, every: int = 5, layer: int = 0, max_points: int = 200):
        if every < 1:
            raise ValueError(f"every must be at least 1 epoch, got {every}")
        if max_points < 2:
            raise ValueError(f"max_points must be at least 2, got {max_points}")
        self.every = int(every)
        self.layer = int(layer)
        self.max_points = int(max_points)
        self.series: dict[str, list[Any]] = {k: [] for k in self.KEYS}
        self.latest: Snapshot | None = None

    def on_step(self, trainer: Any, loss: float) -> None:
        pass

    def on_epoch(self, trainer: Any, metrics: dict[str, float]) -> None:
        if trainer.epoch % self.every:
            return
        snap = measure(trainer.model, trainer.X_val, trainer.y_val, self.layer, epoch=trainer.epoch)
        self.latest = snap
        row = {"epoch": int(trainer.epoch), "step": int(trainer.step_count), **snap.lead()}
        for key in self.KEYS:
            self.series[key].append(row[key])
        if len(self.series["epoch"]) > self.max_points:
            self._thin()

    def _thin(self) -> None:
        self.every *= 2
        keep = [i for i, e in enumerate(self.series["epoch"]) if e % self.every == 0]
        self.series = {k: [v[i] for i in keep] for k, v in self.series.items()}
