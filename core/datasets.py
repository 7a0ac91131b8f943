"""The five 2-D toy datasets, generated in code from (n, noise, seed).

Every generator returns ``X`` as float32 of shape [n, 2] (roughly in [-1.5, 1.5])
and ``y`` as int64 labels in {0, 1}, half of each class. ``noise`` in [0, 1] is the
standard deviation of the Gaussian jitter, relative to the dataset's own scale.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from core.config import DataConfig

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

EXTENT = 1.75
"""Half-width of the square [-EXTENT, EXTENT]^2 that the decision maps cover."""


@dataclass(frozen=True)
class Split:
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray


def generate(name: str, n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    X, y = DATASETS[name](n, noise, np.random.default_rng(seed))
    order = np.random.default_rng(seed + 1).permutation(n)
    return X[order].astype(np.float32), y[order].astype(np.int64)


def make_split(cfg: DataConfig) -> Split:
    """Train and validation sets drawn independently from the same distribution.

    The training set depends only on (dataset, noise, n_train, seed), so changing the
    validation size never changes the points a model trains on.
    """
    X_train, y_train = generate(cfg.dataset, cfg.n_train, cfg.noise, cfg.seed)
    X_val, y_val = generate(cfg.dataset, cfg.n_val, cfg.noise, cfg.seed + 1_000_003)
    return Split(X_train, y_train, X_val, y_val)
