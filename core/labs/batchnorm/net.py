"""Lesson 8's network: ``depth`` blocks of Linear -> BatchNorm -> ReLU -> noise, then a Linear head.

Every block's noise feeds the next block's Linear and BatchNorm, so each BatchNorm layer after the
first normalizes units that read a dropped layer: the order Li et al. (2019) found to hurt. The noise is
multiplicative with mean 1 and variance ``s2`` while training and the identity when evaluating:
``dropout`` (inverted Bernoulli, s2 = p / (1 - p)), ``gaussian`` (N(1, s2) at the same s2) or ``uout``
(1 + U(-beta, beta), s2 = beta^2 / 3, Li et al.'s variance-stable form). ``last_only`` keeps only the
last block's noise, after the last BatchNorm: the order that leaves every BatchNorm unshifted.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from torch import nn

from core.engine.config import DataConfig
from core.engine.datasets import make_split
from core.engine.dropout import Dropout
from core.engine.variants import GaussianDropout

NOISES = ("dropout", "gaussian", "uout")


class Uout(Dropout):
    """Multiply by 1 + U(-beta, beta) while training (variance beta^2 / 3); the identity when evaluating.
    ``p`` holds beta, so that the mode helpers and ``set_generator`` treat it as any dropout module."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self._p
        if not (self.training or self.mc) or beta == 0.0:
            return x
        u = torch.rand(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)
        multiplier = 1.0 + beta * (2.0 * u - 1.0)
        self.last_mask = multiplier
        return x * multiplier


def noise_variance(noise: str, p: float, beta: float) -> float:
    """The variance s2 of the multiplier (its mean is 1): what every closed form of the lesson uses."""
    if noise == "uout":
        return beta * beta / 3.0
    return p / (1.0 - p) if p < 1.0 else math.inf


def make_noise(noise: str, p: float, beta: float) -> Dropout:
    if noise == "dropout":
        return Dropout(p)
    if noise == "gaussian":
        return GaussianDropout(p)
    if noise == "uout":
        return Uout(beta)
    raise ValueError(f"noise must be one of {', '.join(NOISES)}; got {noise!r}")


class BNNet(nn.Module):
    def __init__(self, num_inputs: int, width: int, depth: int, num_classes: int, p: float,
                 noise: str = "dropout", beta: float = 0.1, last_only: bool = False):
        super().__init__()
        self.linears = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.noises = nn.ModuleList()
        width_in = num_inputs
        for k in range(depth):
            self.linears.append(nn.Linear(width_in, width))
            self.norms.append(nn.BatchNorm1d(width))
            on = not last_only or k == depth - 1
            self.noises.append(make_noise(noise, p if on else 0.0, beta if on else 0.0))
            width_in = width
        self.head = nn.Linear(width_in, num_classes)

    def blocks(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per block, (BatchNorm's input, the ReLU's output that its noise reads), in the current modes."""
        out = []
        for linear, norm, noise in zip(self.linears, self.norms, self.noises):
            z = linear(x)
            h = torch.relu(norm(z))
            out.append((z, h))
            x = noise(h)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for linear, norm, noise in zip(self.linears, self.norms, self.noises):
            x = noise(torch.relu(norm(linear(x))))
        return self.head(x)

    def set_generator(self, generator: torch.Generator) -> None:
        for m in self.noises:
            m.generator = generator


def fit(net: BNNet, X: torch.Tensor, y: torch.Tensor, steps: int, *, seed: int, batch_size: int = 64,
        lr: float = 0.003, tick: Callable[[], None] | None = None) -> list[float]:
    """Adam on cross-entropy for ``steps`` minibatches drawn from ``seed`` (the same order for every
    network given the same seed); returns the losses. ``tick`` is called after each step."""
    generator = torch.Generator().manual_seed(seed)
    net.set_generator(torch.Generator().manual_seed(seed + 1))
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    losses = []
    order, pos = torch.randperm(len(y), generator=generator), 0
    for _ in range(steps):
        if pos + batch_size > len(y):
            order, pos = torch.randperm(len(y), generator=generator), 0
        idx = order[pos:pos + batch_size]
        pos += batch_size
        loss = nn.functional.cross_entropy(net(X[idx]), y[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if tick is not None:
            tick()
    return losses


def digits(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The lesson's data: scikit-learn's 1797 8x8 digits, 1000 to train on and 797 held out
    (X_train, y_train, X_val, y_val; the split is fixed by ``seed``)."""
    split = make_split(DataConfig(dataset="digits", noise=0.0, n_train=1000, n_val=797, seed=seed))
    return (torch.from_numpy(split.X_train), torch.from_numpy(split.y_train),
            torch.from_numpy(split.X_val), torch.from_numpy(np.asarray(split.y_val)))
