"""Lesson 5's classification maps, zoomed out: how sure MC dropout is where there was no data.

The Playground's maps cover [-EXTENT, EXTENT]^2 (``core.engine.datasets``), barely more than the
data; lesson 5's MC maps cover ``WIDE_EXTENT``, twice as far, so that a probe can go well away
from every training point. A map cell counts as **far** when it is farther than ``FAR_DISTANCE``
from every training point, and as **confident** when the entropy of the MC mean is below
``CONFIDENT_ENTROPY`` nats (a largest probability above about 0.98). Cells that are both are
where MC dropout claims to know without any data to know from.

Plain numpy on what a snapshot carries (the map's values, its axis, the training points); nothing
here trains, draws or imports Streamlit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.engine.datasets import EXTENT
from core.engine.plain import read_only

WIDE_EXTENT = 2 * EXTENT
"""Half-width of lesson 5's MC maps and the range of its probe: 3.5, twice the Playground's."""
FAR_DISTANCE = 1.0
"""A point farther than this from every training point is far from the data (the moons' two arcs
have radius 1, and 40 training points lie about 0.1-0.3 apart along them)."""
CONFIDENT_ENTROPY = 0.1
"""Entropy of the MC mean (nats) below which a prediction counts as confident: of two classes,
the larger probability is then above 0.979."""
BOUNDARY = (0.3, 0.7)
"""A cell that is not far and whose MC mean P(class 1) lies in this range is on the class boundary."""


def map_points(axis: np.ndarray) -> np.ndarray:
    """The cells of a square map over ``axis``, row-major ([len(axis)^2, 2], x varying fastest),
    as ``core.live.pair`` lays them out."""
    return np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)


def nearest_distance(points: np.ndarray, X_train: np.ndarray) -> np.ndarray:
    """Euclidean distance [M] from each point [M, 2] to its nearest training point (plane coordinates)."""
    P = np.asarray(points, dtype=np.float64)[:, :2]
    X = np.asarray(X_train, dtype=np.float64)[:, :2]
    return np.sqrt(((P[:, None, :] - X[None, :, :]) ** 2).sum(-1)).min(1)


@dataclass(frozen=True, eq=False)
class FarFromData:
    """An MC map read by distance to the data. ``far`` and ``confident_far`` are masks over the
    map's cells [M]; the ``far_`` numbers are means over the far cells, the ``boundary_`` ones over
    the cells on the class boundary (``BOUNDARY``); NaN where there are none."""

    far: np.ndarray  # [M] bool: farther than FAR_DISTANCE from every training point
    confident_far: np.ndarray  # [M] bool: far, and entropy below CONFIDENT_ENTROPY
    far_share: float  # share of the map's cells that are far
    confident_share: float  # share of the far cells that are confident
    far_entropy: float  # mean entropy of the MC mean over the far cells, nats
    far_mutual_info: float  # mean mutual information over the far cells, nats
    boundary_entropy: float
    boundary_mutual_info: float


def far_from_data(mean: np.ndarray, entropy: np.ndarray, mutual_info: np.ndarray, axis: np.ndarray,
                  X_train: np.ndarray) -> FarFromData:
    """Where on the map over ``axis`` (MC mean P(class 1), its entropy and the mutual information,
    each [len(axis)^2], row-major) the MC mean is confident although no training point is near,
    and how sure it is there compared with on the class boundary."""
    mean, entropy, mutual_info = (np.asarray(v, dtype=np.float64) for v in (mean, entropy, mutual_info))
    far = nearest_distance(map_points(np.asarray(axis)), X_train) > FAR_DISTANCE
    if not mean.shape == entropy.shape == mutual_info.shape == far.shape:
        raise ValueError(f"need one value per map cell ({far.size}), got {mean.shape}, {entropy.shape} and "
                         f"{mutual_info.shape}")
    confident = far & (entropy < CONFIDENT_ENTROPY)
    boundary = ~far & (BOUNDARY[0] <= mean) & (mean <= BOUNDARY[1])
    over = lambda values, mask: float(values[mask].mean()) if mask.any() else float("nan")  # noqa: E731
    n_far = int(far.sum())
    return FarFromData(read_only(far), read_only(confident), n_far / far.size,
                       float(confident.sum() / n_far) if n_far else float("nan"), over(entropy, far),
                       over(mutual_info, far), over(entropy, boundary), over(mutual_info, boundary))
