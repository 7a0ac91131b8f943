"""The five 2-D toy datasets, generated in code from (n, noise, seed), and the 8x8 digits.

Every 2-D generator returns ``X`` as float32 of shape [n, 2] (roughly in [-1.5, 1.5])
and ``y`` as int64 labels in {0, 1}, half of each class. ``noise`` in [0, 1] is the
standard deviation of the Gaussian jitter, relative to the dataset's own scale.

``nuisance`` (2-D sets only) appends that many irrelevant inputs, each drawn N(0, NUISANCE_STD^2)
independently of the label, after the two real coordinates; the real coordinates and the labels
are the same whatever ``nuisance`` is. A decision map over the plane sets them to 0, their mean
(``embed``).

``digits`` is the 1,797 8x8 handwritten digits that ship inside scikit-learn (no
download): 64 pixel features scaled to [0, 1], 10 classes. Its training and validation
sets are disjoint draws from those images; ``noise`` adds Gaussian pixel noise of
standard deviation ``noise / 2``.

``uploaded`` is a learner's own points (``core.engine.upload``), carried in the ``DataConfig`` itself
(``train_points``, ``val_points``), already scaled into the plane's square; nuisance inputs apply as above.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import numpy as np

from core.engine.config import UPLOADED, DataConfig, Point

Generator = Callable[[int, float, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _split(n: int) -> tuple[int, int]:
    return n - n // 2, n // 2


def moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n0, n1 = _split(n)
    t0, t1 = rng.uniform(0, np.pi, n0), rng.uniform(0, np.pi, n1)
    upper = np.stack([np.cos(t0), np.sin(t0)], 1)
    lower = np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], 1)
    X = np.concatenate([upper, lower]) - [0.5, 0.25]
    X = X + rng.normal(0, noise * 0.5, X.shape)
    return X, np.repeat([0, 1], [n0, n1])


def circles(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n0, n1 = _split(n)
    r = np.concatenate([rng.uniform(0.0, 0.5, n0), rng.uniform(0.8, 1.2, n1)])
    t = rng.uniform(0, 2 * np.pi, n)
    X = np.stack([r * np.cos(t), r * np.sin(t)], 1) + rng.normal(0, noise * 0.4, (n, 2))
    return X, np.repeat([0, 1], [n0, n1])


def xor(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n0, n1 = _split(n)
    parts = []
    for k, count in enumerate((n0, n1)):  # class 0: quadrants where x*y > 0; class 1: x*y < 0
        corner = rng.uniform(0.05, 1.0, (count, 2))
        sign = rng.choice([-1.0, 1.0], count)
        parts.append(corner * np.stack([sign, sign * (1 - 2 * k)], 1))
    X = np.concatenate(parts) + rng.normal(0, noise * 0.4, (n, 2))
    return X, np.repeat([0, 1], [n0, n1])


def gaussians(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n0, n1 = _split(n)
    std = 0.15 + noise * 0.6
    X = np.concatenate([rng.normal([-0.5, -0.5], std, (n0, 2)), rng.normal([0.5, 0.5], std, (n1, 2))])
    return X, np.repeat([0, 1], [n0, n1])


def spirals(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n0, n1 = _split(n)
    parts = []
    for k, count in enumerate((n0, n1)):
        t = np.sqrt(rng.uniform(0, 1, count)) * 2.5 * np.pi
        r = t / (2.5 * np.pi) * 1.2
        angle = t + k * np.pi
        parts.append(np.stack([r * np.sin(angle), r * np.cos(angle)], 1))
    X = np.concatenate(parts) + rng.normal(0, noise * 0.15, (n, 2))
    return X, np.repeat([0, 1], [n0, n1])


DATASETS: dict[str, Generator] = {
    "moons": moons,
    "circles": circles,
    "xor": xor,
    "gaussians": gaussians,
    "spirals": spirals,
}

NUISANCE_STD = 0.6
"""Spread of a nuisance input: about that of a real coordinate, so only the label tells them apart."""

EXTENT = 1.75
"""Half-width of the square [-EXTENT, EXTENT]^2 that the decision maps cover."""


@dataclass(frozen=True)
class Split:
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    num_classes: int = 2

    @property
    def num_inputs(self) -> int:
        return int(self.X_train.shape[1])


@lru_cache(maxsize=1)
def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # bundled with scikit-learn; imported only when asked for

    bunch = load_digits()
    X = (bunch.data / 16.0).astype(np.float32)
    X.setflags(write=False)
    y = bunch.target.astype(np.int64)
    y.setflags(write=False)
    return X, y


def _digits_split(cfg: DataConfig) -> Split:
    X, y = _digits()
    order = np.random.default_rng(cfg.seed).permutation(len(y))
    train, val = order[: cfg.n_train], order[cfg.n_train : cfg.n_train + cfg.n_val]
    noise = np.random.default_rng(cfg.seed + 1).normal(0.0, cfg.noise / 2, (len(train) + len(val), X.shape[1]))
    X_noisy = (np.concatenate([X[train], X[val]]) + noise).astype(np.float32)
    return Split(X_noisy[: len(train)], y[train], X_noisy[len(train) :], y[val], num_classes=10)


def generate(name: str, n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    X, y = DATASETS[name](n, noise, np.random.default_rng(seed))
    order = np.random.default_rng(seed + 1).permutation(n)
    return X[order].astype(np.float32), y[order].astype(np.int64)


def embed(points: np.ndarray, num_inputs: int) -> np.ndarray:
    """Plane points ``[m, 2]`` as inputs of a network with ``num_inputs`` inputs: the nuisance
    inputs (those after the first two) set to 0, their mean."""
    if points.shape[1] >= num_inputs:
        return points
    pad = np.zeros((points.shape[0], num_inputs - points.shape[1]), dtype=points.dtype)
    return np.concatenate([points, pad], axis=1)


def _with_nuisance(X: np.ndarray, k: int, seed: int) -> np.ndarray:
    if not k:
        return X
    noise = np.random.default_rng([seed, 7]).normal(0.0, NUISANCE_STD, (len(X), k)).astype(np.float32)
    return np.concatenate([X, noise], axis=1)


def from_points(points: tuple[Point, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Uploaded ``(x, y, class)`` points as ``X`` (float32, [n, 2]) and ``y`` (int64), in their order."""
    rows = np.array(points, dtype=np.float64).reshape(-1, 3)
    return rows[:, :2].astype(np.float32), rows[:, 2].astype(np.int64)


def make_split(cfg: DataConfig) -> Split:
    """Train and validation sets drawn independently from the same distribution.

    The training set depends only on (dataset, noise, n_train, seed), so changing the
    validation size never changes the points a model trains on. For digits, both are
    drawn without replacement from the same shuffled images, so they never overlap.
    """
    if cfg.dataset == "digits":
        return _digits_split(cfg)
    if cfg.dataset == UPLOADED:
        (X_train, y_train), (X_val, y_val) = from_points(cfg.train_points), from_points(cfg.val_points)
    else:
        X_train, y_train = generate(cfg.dataset, cfg.n_train, cfg.noise, cfg.seed)
        X_val, y_val = generate(cfg.dataset, cfg.n_val, cfg.noise, cfg.seed + 1_000_003)
    X_train = _with_nuisance(X_train, cfg.nuisance, cfg.seed)
    X_val = _with_nuisance(X_val, cfg.nuisance, cfg.seed + 1_000_003)
    return Split(X_train, y_train, X_val, y_val)
