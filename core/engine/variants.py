"""Dropout's relatives, each our own module, with ``p`` the DROP probability as in ``Dropout``.

Every one is a ``core.engine.dropout.Dropout`` subclass, so the mode helpers (``train_mode``,
``eval_mode``, ``mc_mode``), the ``generator`` and ``last_mask`` work the same way:

- ``GaussianDropout``: multiplies each element by noise drawn from N(1, p / (1 - p)): the same mean (1)
  and variance as inverted Bernoulli dropout's multiplier (Srivastava et al. 2014, section 10).
  ``last_mask`` holds the multipliers (floats), not a boolean mask.
- ``AlphaDropout``: for SELU networks (Klambauer et al. 2017). A dropped element is set to SELU's
  negative saturation value ``-lambda * alpha`` instead of 0, then an affine map ``a * x + b`` puts the
  mean and variance back to 0 and 1 (for inputs of mean 0 and variance 1), so the self-normalizing
  fixed point survives. Standard dropout on a SELU network breaks it.
- ``DropConnectSlot`` with ``DropConnectLinear``: DropConnect (Wan et al. 2013) drops *weights*, not
  units. The slot holds ``p``, the mode and ``last_mask``; the Linear it belongs to draws a fresh
  weight mask per example (``per="example"``, as in the paper) or one per minibatch
  (``per="batch"``), scales the kept weights by ``1 / (1 - p)`` and leaves the bias alone. At
  evaluation it uses the mean weights (the paper samples a moment-matched Gaussian instead).
  ``last_mask`` is example 0's weight mask, ``[out, in]``.
- ``ConcreteDropout``: learns ``p`` (Gal, Hron and Kendall 2017). The mask is a relaxed Bernoulli
  (temperature 0.1) so that ``p`` gets a gradient; ``regularizer`` is the paper's term for the layer
  that reads this dropout's output. ``p`` set from outside is the starting value.
- ``LockedDropout``: variational dropout for sequences (Gal and Ghahramani 2016): one mask per
  sequence, reused at every time step, for inputs shaped ``[N, T, H]``; ``locked=False`` is the naive
  version, a fresh mask at every step. ``mask_for(batch, width)`` draws the per-sequence mask a
  recurrent loop applies itself (``core.engine.variant_models.DropoutRNN``).
- ``DropPath``: stochastic depth (Huang et al. 2016): drops a whole residual branch per example;
  ``last_mask`` is ``[N]``, True = the branch ran.

``VARIANTS`` is the registry: what each one masks, and whether it can stand in the MLP's dropout slot
(``ModelConfig.variants``). The batched sweep and the thinned MC passes run standard dropout only;
given a model with any other variant they fall back to these modules (``uses_variants``).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from core.engine.config import MLP_VARIANTS
from core.engine.dropout import Dropout

SELU_ALPHA = 1.6732632423543772
SELU_LAMBDA = 1.0507009873554805
ALPHA_PRIME = -SELU_LAMBDA * SELU_ALPHA
"""SELU's value as its input goes to minus infinity: where AlphaDropout sends a dropped element."""
CONCRETE_TEMPERATURE = 0.1
_EPS = 1e-7


class Variant(NamedTuple):
    name: str
    masks: str  # what the mask covers: "units", "weights", "time x units" or "branches"
    in_mlp: bool  # can stand in the MLP's dropout slot (ModelConfig.variants)
    words: str


VARIANTS: dict[str, Variant] = {v.name: v for v in (
    Variant("standard", "units", True, "Bernoulli dropout: each unit kept with probability 1 - p, survivors / (1 - p)"),
    Variant("gaussian", "units", True, "each unit multiplied by N(1, p / (1 - p)) noise"),
    Variant("alpha", "units", True, "dropped units set to SELU's floor, then an affine map restores mean 0, variance 1"),
    Variant("dropconnect", "weights", True, "each weight kept with probability 1 - p, a fresh mask per example"),
    Variant("concrete", "units", True, "a relaxed Bernoulli mask whose p is learned"),
    Variant("locked", "time x units", False, "one mask per sequence, the same at every time step"),
    Variant("droppath", "branches", False, "a whole residual branch dropped per example"),
)}
assert MLP_VARIANTS == tuple(name for name, v in VARIANTS.items() if v.in_mlp), "config and registry disagree"


class GaussianDropout(Dropout):
    """Multiply by N(1, sigma^2) noise, sigma^2 = p / (1 - p); the identity at evaluation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self._p
        if not (self.training or self.mc) or p == 0.0:
            self.last_mask = None if p == 0.0 else self.last_mask
            return x
        noise = torch.randn(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)
        multiplier = 1.0 + math.sqrt(p / (1.0 - p)) * noise
        self.last_mask = multiplier
        return x * multiplier


def alpha_affine(p: float) -> tuple[float, float]:
    """AlphaDropout's ``a`` and ``b``: for x of mean 0 and variance 1, ``a * (x * m + alpha' * (1 - m)) + b``
    with m ~ Bernoulli(1 - p) has mean 0 and variance 1 (Klambauer et al. 2017, eq. 11 and 12)."""
    q = 1.0 - p
    a = (q * (1.0 + p * ALPHA_PRIME**2)) ** -0.5
    return a, -a * p * ALPHA_PRIME


class AlphaDropout(Dropout):
    """Dropped elements go to SELU's floor ``alpha'``; ``a``, ``b`` keep mean 0 and variance 1."""

    def __init__(self, p: float = 0.5, *, generator: torch.Generator | None = None):
        super().__init__(p, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self._p
        if not (self.training or self.mc):
            return x
        if p == 0.0:
            self.last_mask = None
            return x
        keep = torch.rand(x.shape, generator=self.generator, device=x.device, dtype=x.dtype) >= p
        self.last_mask = keep
        a, b = alpha_affine(p)
        return a * torch.where(keep, x, torch.full_like(x, ALPHA_PRIME)) + b


class DropConnectSlot(Dropout):
    """The dropout slot of a DropConnect layer: holds ``p``, the mode and ``last_mask``; passes its input
    through unchanged (the masking happens inside the ``DropConnectLinear`` that owns it)."""

    per_example = False  # last_mask is one example's weight mask, [out, in]

    def __init__(self, p: float = 0.5, *, generator: torch.Generator | None = None):
        super().__init__(p, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    @property
    def stochastic(self) -> bool:
        return (self.training or self.mc) and self._p > 0.0


DROPCONNECT_CHUNK = 256
"""Per-example weight masks are drawn for at most this many rows at a time (memory: rows x out x in)."""


class DropConnectLinear(nn.Linear):
    """A Linear whose weights are dropped (DropConnect); its ``slot`` says with which ``p`` and when."""

    def __init__(self, in_features: int, out_features: int, slot: DropConnectSlot, *, per: str = "example"):
        super().__init__(in_features, out_features)
        if per not in ("example", "batch"):
            raise ValueError(f"DropConnect draws its mask per 'example' or per 'batch', got {per!r}")
        self.slot = slot
        self.per = per

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        slot = self.slot
        if not slot.stochastic:
            if slot.p == 0.0:
                slot.last_mask = None
            return F.linear(x, self.weight, self.bias)
        p, gen = slot.p, slot.generator
        scale = 1.0 / (1.0 - p)
        if self.per == "batch":
            keep = torch.rand(self.weight.shape, generator=gen, device=x.device, dtype=x.dtype) >= p
            slot.last_mask = keep
            return F.linear(x, self.weight * keep.to(x.dtype) * scale, self.bias)
        outs, first = [], None
        for rows in x.split(DROPCONNECT_CHUNK):
            keep = torch.rand((rows.shape[0], *self.weight.shape), generator=gen, device=x.device, dtype=x.dtype) >= p
            first = keep[0] if first is None else first
            outs.append(torch.einsum("ni,noi->no", rows, self.weight * keep.to(x.dtype)) * scale + self.bias)
        slot.last_mask = first
        return torch.cat(outs)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", dropconnect p={self.slot.p}, per={self.per}"


class ConcreteDropout(Dropout):
    """Dropout whose ``p`` is a parameter (``logit``), learned through a relaxed Bernoulli mask.

    ``p`` reads the current learned value; setting it restarts the learning from there.
    ``regularizer(weight, n_train)`` is the paper's penalty for the layer reading this output:
    ``length_scale^2 / N * |W|^2 / (1 - p)`` plus ``2 / N * K * (p log p + (1 - p) log(1 - p))``,
    K the width of this output (the dropout regularizer pushes p up, the data pushes it down:
    with more data the second term weakens and the learned p falls)."""

    def __init__(self, p: float = 0.1, *, length_scale: float = 1e-4, generator: torch.Generator | None = None):
        nn.Module.__init__(self)
        self.logit = nn.Parameter(torch.zeros(()))
        self.p = p
        self.length_scale = float(length_scale)
        self.generator = generator
        self.mc = False
        self.classic = False
        self.last_mask = None

    @property
    def p(self) -> float:
        return float(torch.sigmoid(self.logit.detach()))

    @p.setter
    def p(self, value: float) -> None:
        value = float(value)
        if not 0.0 < value < 1.0:
            raise ValueError(f"concrete dropout's starting p must be in (0, 1), got {value}")
        with torch.no_grad():
            self.logit.fill_(math.log(value / (1.0 - value)))

    @property
    def _p(self) -> float:  # Dropout's extra_repr reads it
        return self.p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training or self.mc):
            return x
        p = torch.sigmoid(self.logit)
        u = torch.rand(x.shape, generator=self.generator, device=x.device, dtype=x.dtype)
        drop = torch.sigmoid((torch.log(p + _EPS) - torch.log(1 - p + _EPS) + torch.log(u + _EPS)
                              - torch.log(1 - u + _EPS)) / CONCRETE_TEMPERATURE)
        keep = 1.0 - drop
        self.last_mask = keep.detach()
        return x * keep / (1.0 - p)

    def regularizer(self, weight: torch.Tensor, n_train: int) -> torch.Tensor:
        p = torch.sigmoid(self.logit)
        weight_term = self.length_scale**2 / n_train * weight.pow(2).sum() / (1.0 - p)
        entropy = p * torch.log(p + _EPS) + (1.0 - p) * torch.log(1.0 - p + _EPS)
        return weight_term + 2.0 / n_train * weight.shape[1] * entropy


class LockedDropout(Dropout):
    """Dropout on sequences ``[N, T, H]``: ``locked`` (variational) draws one ``[N, 1, H]`` mask per
    sequence, the same at every step; naive draws a fresh one for every step. ``last_mask``: ``[N, T, H]``."""

    def __init__(self, p: float = 0.5, *, locked: bool = True, generator: torch.Generator | None = None):
        super().__init__(p, generator=generator)
        self.locked = locked

    def mask_for(self, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor | None:
        """A scaled keep-mask of ``shape`` (None when nothing is dropped: evaluation or p = 0)."""
        if not (self.training or self.mc) or self._p == 0.0:
            return None
        keep = torch.rand(shape, generator=self.generator, device=like.device, dtype=like.dtype) >= self._p
        return keep.to(like.dtype) / (1.0 - self._p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3:
            raise ValueError(f"LockedDropout needs sequences shaped [N, T, H], got {tuple(x.shape)}")
        n, t, h = x.shape
        mask = self.mask_for((n, 1, h) if self.locked else (n, t, h), x)
        if mask is None:
            self.last_mask = None
            return x
        mask = mask.expand(n, t, h)
        self.last_mask = mask > 0
        return x * mask

    def extra_repr(self) -> str:
        return f"p={self._p}, " + ("locked" if self.locked else "naive")


class DropPath(Dropout):
    """Stochastic depth for one residual branch: ``branch(x)`` is kept for each example with probability
    ``1 - p`` and scaled by ``1 / (1 - p)``, else dropped whole (the block is the identity there)."""

    def __init__(self, p: float = 0.2, *, generator: torch.Generator | None = None):
        super().__init__(p, generator=generator)

    def forward(self, branch: torch.Tensor) -> torch.Tensor:
        p = self._p
        if not (self.training or self.mc):
            return branch
        if p == 0.0:
            self.last_mask = None
            return branch
        keep = torch.rand((branch.shape[0],), generator=self.generator, device=branch.device) >= p
        self.last_mask = keep
        shape = (branch.shape[0],) + (1,) * (branch.dim() - 1)
        return branch * (keep.to(branch.dtype).view(shape) / (1.0 - p))


def make_slot(variant: str, p: float) -> Dropout:
    """The dropout module of an MLP slot for ``variant`` (``MLP_VARIANTS``); DropConnect's is its slot."""
    if variant == "standard":
        return Dropout(p)
    if variant == "gaussian":
        return GaussianDropout(p)
    if variant == "alpha":
        return AlphaDropout(p)
    if variant == "dropconnect":
        return DropConnectSlot(p)
    if variant == "concrete":
        return ConcreteDropout(p if p > 0 else 0.1)
    raise ValueError(f"an MLP layer's dropout variant must be one of {', '.join(MLP_VARIANTS)}; got {variant!r}")


def uses_variants(model: nn.Module) -> bool:
    """True when ``model`` has any dropout other than the standard one (the fast paths then fall back)."""
    return any(isinstance(m, Dropout) and type(m) is not Dropout for m in model.modules())


def concrete_regularizer(model: nn.Module, n_train: int) -> torch.Tensor | None:
    """The sum of every ``ConcreteDropout``'s penalty in an MLP (``model.regularized``: (dropout, the
    Linear reading its output) pairs), or None when it has none."""
    pairs = getattr(model, "regularized", ())
    if not pairs:
        return None
    return sum(drop.regularizer(linear.weight, n_train) for drop, linear in pairs)
