"""Dropout written out: ``p`` is the DROP probability, as in ``torch.nn.Dropout``.

Inverted (the default, what PyTorch does): while training, each unit is kept with
probability ``keep = 1 - p`` and survivors are scaled by ``1 / keep``; at evaluation
the layer is the identity. Classic (the 2014 paper's form): no scaling while
training, outputs multiplied by ``keep`` at evaluation. Both have the same expected
output in training as at evaluation.

Modes go through the named helpers below, never through ad-hoc ``model.train()``:
``train_mode`` (everything training), ``eval_mode`` (everything evaluating, dropout
off) and ``mc_mode`` (only dropout stochastic; BatchNorm and the rest evaluating).
"""
from __future__ import annotations

import torch
from torch import nn


class Dropout(nn.Module):
    """Drop each element with probability ``p``; remember the last keep-mask.

    ``per_example``: the first axis of ``last_mask`` is the batch's (a subclass whose mask is not per
    example, such as DropConnect's weight mask, sets it False).

    ``p`` may be changed at any time (the next forward pass uses it). ``last_mask`` is
    the boolean keep-mask of the last stochastic forward pass (True = kept), or None when
    that pass dropped nothing (p = 0) or none has run.
    ``generator`` (optional) makes the masks reproducible independently of the global RNG.
    """

    per_example = True

    def __init__(self, p: float = 0.5, *, classic: bool = False, generator: torch.Generator | None = None):
        super().__init__()
        self.p = p
        self.classic = classic
        self.generator = generator
        self.mc = False  # set by mc_mode: sample masks even though the module is evaluating
        self.last_mask: torch.Tensor | None = None

    @property
    def p(self) -> float:
        return self._p

    @p.setter
    def p(self, value: float) -> None:
        value = float(value)
        if not 0.0 <= value < 1.0:
            raise ValueError(f"dropout p (drop probability) must be in [0, 1), got {value}")
        self._p = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self._p
        if not (self.training or self.mc):
            return x * (1.0 - p) if self.classic and p > 0 else x
        if p == 0.0:
            self.last_mask = None  # nothing dropped; no mask drawn
            return x
        mask = torch.rand(x.shape, generator=self.generator, device=x.device, dtype=x.dtype) >= p
        self.last_mask = mask
        scale = 1.0 if self.classic else 1.0 / (1.0 - p)
        return x * (mask.to(x.dtype) * scale)

    def extra_repr(self) -> str:
        return f"p={self._p}" + (", classic" if self.classic else "")


def dropout_modules(model: nn.Module) -> list[Dropout]:
    return [m for m in model.modules() if isinstance(m, Dropout)]


def train_mode(model: nn.Module) -> nn.Module:
    """Training: every module trains, dropout samples masks."""
    model.train()
    for m in dropout_modules(model):
        m.mc = False
    return model


def eval_mode(model: nn.Module) -> nn.Module:
    """Evaluation: every module evaluates, dropout is deterministic (classic dropout scales by keep)."""
    model.eval()
    for m in dropout_modules(model):
        m.mc = False
    return model


def mc_mode(model: nn.Module) -> nn.Module:
    """Monte-Carlo dropout: only dropout stays stochastic; BatchNorm and the rest evaluate."""
    model.eval()
    for m in dropout_modules(model):
        m.mc = True
    return model
