"""How much of a dropped activation its neighbours can rebuild: the case for spatial dropout.

Element-wise dropout on a convolutional feature map removes single activations. If a pixel is
well predicted by the pixels around it, the next convolution (whose 3x3 window sees those
neighbours) can rebuild most of what was dropped, so the noise barely regularizes; dropping a
whole channel (or a block) leaves nothing nearby to rebuild from. This module puts a number on
"well predicted", for feature maps ``[n, C, H, W]`` taken *before* dropout:

- ``r2``: the R^2 of each interior pixel predicted by ordinary least squares (with an intercept)
  from its 4 neighbours (up, down, left, right) or its 8 neighbours, in the same map.
  One fit **per channel** (channels are different features, with different scales and shapes;
  a pooled fit would be dominated by the loudest channel), pooled over images and interior
  positions; ``r2`` is the mean over the live channels. The fit is **held out**: the weights are
  fitted on the even-numbered images and R^2 is measured on the odd-numbered ones, so that fitting
  noise cannot pass for structure (held-out R^2 of pure noise is about 0, a little below; in-sample
  R^2 is biased upwards by about k / m for k predictors and m samples). ``r2_in_sample``, the same
  fit scored on the images it was fitted on, is reported too: the two agree when m is large.
- ``corr_h`` / ``corr_v``: the Pearson correlation of horizontally / vertically adjacent
  activations in the same map, per channel over all images and positions, then averaged over
  the live channels; ``corr`` is their mean. No fitting, so nothing to hold out.

A channel is *dead* when it is (nearly) constant, as a ReLU channel that never fires is: its
R^2 and correlations are undefined, so it is left out of the means and counted in
``dead_channels``; when every channel is dead the means are NaN (None in JSON), never an error.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from core.engine.plain import strict_json

NEIGHBOURS = (4, 8)
_OFFSETS = {
    4: ((-1, 0), (1, 0), (0, -1), (0, 1)),
    8: ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)),
}
_REL_EPS = 1e-10  # a variance below this times (1 + mean^2) counts as zero: a constant channel


@dataclass(frozen=True)
class Rebuild:
    """The neighbour-rebuild numbers of one layer's feature maps (see the module doc)."""

    r2: float  # held-out R^2, mean over live channels
    r2_in_sample: float
    corr_h: float
    corr_v: float
    corr: float  # (corr_h + corr_v) / 2
    neighbours: int
    channels: int
    dead_channels: int
    samples: int  # held-out pixels per channel that R^2 was measured on
    per_channel_r2: tuple[float, ...]  # NaN for a dead channel

    def to_json(self) -> dict[str, Any]:
        return strict_json(asdict(self))


def _as_maps(maps: Any) -> np.ndarray:
    """``maps`` (a numpy array or a torch tensor) as float64 ``[n, C, H, W]``."""
    if hasattr(maps, "detach"):
        maps = maps.detach().cpu().numpy()
    x = np.asarray(maps, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"feature maps must be shaped [n, C, H, W], got {x.ndim}-D {tuple(x.shape)}")
    if x.shape[2] < 3 or x.shape[3] < 3:
        raise ValueError(f"maps need at least 3x3 pixels to have an interior, got {x.shape[2]}x{x.shape[3]}")
    return x


def _constant(values: np.ndarray) -> bool:
    return float(values.var()) <= _REL_EPS * (1.0 + float(values.mean()) ** 2)


def neighbour_design(channel: np.ndarray, neighbours: int) -> tuple[np.ndarray, np.ndarray]:
    """For one channel ``[n, H, W]``: targets ``[n, m]`` (the interior pixels of each image) and the
    design ``[n, m, 1 + k]`` (an intercept and the ``k`` neighbours of each target)."""
    n, h, w = channel.shape
    target = channel[:, 1:-1, 1:-1].reshape(n, -1)
    columns = [np.ones_like(target)]
    for di, dj in _OFFSETS[neighbours]:
        columns.append(channel[:, 1 + di: h - 1 + di, 1 + dj: w - 1 + dj].reshape(n, -1))
    return target, np.stack(columns, axis=2)


def _r2(y: np.ndarray, X: np.ndarray, weights: np.ndarray) -> float:
    residual = y - X @ weights
    total = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float((residual**2).sum()) / total


def channel_r2(channel: np.ndarray, neighbours: int = 4) -> tuple[float, float]:
    """(held-out, in-sample) R^2 of one channel ``[n, H, W]``'s interior pixels from their neighbours:
    fitted on the even-numbered images, scored on the odd ones (and on the even ones). NaN when a
    half's targets are constant (nothing to explain) or there is only one image."""
    target, design = neighbour_design(channel, neighbours)
    if len(target) < 2:
        return np.nan, np.nan
    y_fit, X_fit = target[0::2].ravel(), design[0::2].reshape(-1, design.shape[2])
    y_test, X_test = target[1::2].ravel(), design[1::2].reshape(-1, design.shape[2])
    if _constant(y_fit) or _constant(y_test):
        return np.nan, np.nan
    weights, *_ = np.linalg.lstsq(X_fit, y_fit, rcond=None)
    return _r2(y_test, X_test, weights), _r2(y_fit, X_fit, weights)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel() - a.mean(), b.ravel() - b.mean()
    denominator = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum()) / denominator if denominator > 0 else np.nan


def channel_correlation(channel: np.ndarray) -> tuple[float, float]:
    """Pearson correlation of horizontally and of vertically adjacent activations in ``[n, H, W]``."""
    return _pearson(channel[:, :, :-1], channel[:, :, 1:]), _pearson(channel[:, :-1, :], channel[:, 1:, :])


def _mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else np.nan


def _channel_numbers(channel: np.ndarray, neighbours: int) -> tuple[float, float, float, float]:
    """(held-out R^2, in-sample R^2, horizontal and vertical correlation) of one live channel."""
    return (*channel_r2(channel, neighbours), *channel_correlation(channel))


def measure(maps: Any, neighbours: int = 4) -> Rebuild:
    """The neighbour-rebuild numbers of feature maps ``[n, C, H, W]`` (before dropout)."""
    if neighbours not in NEIGHBOURS:
        raise ValueError(f"neighbours must be 4 or 8, got {neighbours!r}")
    x = _as_maps(maps)
    n, c, h, w = x.shape
    live = [k for k in range(c) if not _constant(x[:, k])]
    rows = {k: _channel_numbers(x[:, k], neighbours) for k in live}
    held_out, in_sample, horizontal, vertical = ([row[i] for row in rows.values()] for i in range(4))
    corr_h, corr_v = _mean(horizontal), _mean(vertical)
    return Rebuild(
        r2=_mean(held_out), r2_in_sample=_mean(in_sample), corr_h=corr_h, corr_v=corr_v,
        corr=_mean([corr_h, corr_v]), neighbours=neighbours, channels=c, dead_channels=c - len(live),
        samples=(n // 2) * (h - 2) * (w - 2),
        per_channel_r2=tuple(float(rows[k][0]) if k in rows else np.nan for k in range(c)),
    )
