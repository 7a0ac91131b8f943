"""The two small models whose dropout variants do not fit an MLP's dropout slot.

- ``DropoutRNN``: a GRU (``nn.GRUCell``, unrolled here so the masks can be placed) reading a sequence
  ``[N, T, D]`` and predicting one number per sequence. Dropout goes on the cell's input ``x_t`` and
  on its recurrent input ``h_{t-1}``, from two ``LockedDropout`` modules: ``locked=True`` is
  variational dropout (Gal and Ghahramani 2016: the same masks at every time step of a sequence),
  ``locked=False`` the naive way (fresh masks at every step, recurrent connections included).
  ``last_masks`` keeps example 0's recurrent mask as time x units.
- ``ResidualMLP``: ``depth`` residual blocks ``h + DropPath(branch(h))`` (branch: Linear, ReLU,
  Linear) between an input and an output Linear, with stochastic depth (Huang et al. 2016) at drop
  probability ``p`` per block. ``blocks_used()`` says how many branches the last training pass ran,
  on average per example.

Weights come from the seed alone (``models.seeded``), so equal seeds give equal networks whatever
the masks: the locked and naive RNNs of one seed, or the residual nets with and without DropPath,
start from the same weights.
"""
from __future__ import annotations

import torch
from torch import nn

from core.engine.models import seeded
from core.engine.variants import DropPath, LockedDropout


class DropoutRNN(nn.Module):
    """GRU over ``[N, T, inputs]`` with input and recurrent dropout (locked or naive), then a Linear."""

    def __init__(self, inputs: int = 1, hidden: int = 32, outputs: int = 1, *, p: float = 0.25, locked: bool = True):
        super().__init__()
        self.cell = nn.GRUCell(inputs, hidden)
        self.head = nn.Linear(hidden, outputs)
        self.input_dropout = LockedDropout(p, locked=locked)
        self.recurrent_dropout = LockedDropout(p, locked=locked)
        self.hidden_size = hidden
        self.last_masks: torch.Tensor | None = None  # example 0's recurrent keep-mask, [T, hidden]

    @property
    def dropouts(self) -> list[LockedDropout]:
        return [self.input_dropout, self.recurrent_dropout]

    def set_generator(self, generator: torch.Generator) -> None:
        for d in self.dropouts:
            d.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3:
            raise ValueError(f"DropoutRNN reads sequences shaped [N, T, inputs], got {tuple(x.shape)}")
        n, steps, d = x.shape
        h = x.new_zeros(n, self.hidden_size)
        locked = self.input_dropout.locked
        in_mask = self.input_dropout.mask_for((n, d), x) if locked else None
        rec_mask = self.recurrent_dropout.mask_for((n, self.hidden_size), x) if locked else None
        shown = []
        for t in range(steps):
            if not locked:
                in_mask = self.input_dropout.mask_for((n, d), x)
                rec_mask = self.recurrent_dropout.mask_for((n, self.hidden_size), x)
            xt = x[:, t] if in_mask is None else x[:, t] * in_mask
            ht = h if rec_mask is None else h * rec_mask
            h = self.cell(xt, ht)
            if rec_mask is not None:
                shown.append(rec_mask[0] > 0)
        self.last_masks = torch.stack(shown) if shown else None
        return self.head(h)


class ResidualMLP(nn.Module):
    """``inputs -> width``, ``depth`` blocks ``h + DropPath(W2 relu(W1 h))``, ``width -> classes``."""

    def __init__(self, inputs: int = 2, width: int = 32, depth: int = 16, classes: int = 2, *, p: float = 0.2):
        super().__init__()
        self.inp = nn.Linear(inputs, width)
        self.branches = nn.ModuleList(nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))
                                      for _ in range(depth))
        self.paths = nn.ModuleList(DropPath(p) for _ in range(depth))
        self.out = nn.Linear(width, classes)
        self.depth = depth

    @property
    def dropouts(self) -> list[DropPath]:
        return list(self.paths)

    def set_generator(self, generator: torch.Generator) -> None:
        for d in self.paths:
            d.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.inp(x))
        for branch, path in zip(self.branches, self.paths):
            h = h + path(branch(h))
        return self.out(h)

    def blocks_used(self) -> float:
        """Branches the last training pass ran, averaged over its examples (``depth`` when none dropped)."""
        return float(sum(1.0 if m is None else m.float().mean() for m in (d.last_mask for d in self.paths)))

    def path_masks(self) -> torch.Tensor | None:
        """The last training pass's branch masks, ``[depth, N]`` (True = ran), or None when p = 0."""
        masks = [d.last_mask for d in self.paths]
        return None if any(m is None for m in masks) else torch.stack(masks)


def build_rnn(seed: int, *, inputs: int = 1, hidden: int = 32, outputs: int = 1, p: float = 0.25,
              locked: bool = True) -> DropoutRNN:
    return seeded(seed, lambda: DropoutRNN(inputs, hidden, outputs, p=p, locked=locked))


def build_residual(seed: int, *, inputs: int = 2, width: int = 32, depth: int = 16, classes: int = 2,
                   p: float = 0.2) -> ResidualMLP:
    return seeded(seed, lambda: ResidualMLP(inputs, width, depth, classes, p=p))
