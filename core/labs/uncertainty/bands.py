"""Lesson 5's uncertainty bands: T stochastic passes of the regression MLP over a grid, their spread
by region, and the observation-noise term tau^-1 (``core.labs.uncertainty.regression`` holds the data,
the network and its trainer).

The formula, as Gal and Ghahramani write it. Their objective (eq. 1) is
``L = 1/N sum_i E(y_i, yhat_i) + lambda sum_i (||W_i||^2 + ||b_i||^2)`` where each binary
dropout variable "takes value 1 with probability p_i" (their p is the KEEP probability),
and for regression ``E`` is the Gaussian negative log-likelihood divided by tau, i.e.
``E = 1/2 ||y - yhat||^2``. The predictive variance (their section 4) is
``Var(y*) ~= tau^-1 + 1/T sum_t yhat_t^2 - (1/T sum_t yhat_t)^2`` with the model precision
``tau = p l^2 / (2 N lambda)`` (l: the prior length-scale, N: training points). In this
project's vocabulary, p is the DROP probability, so their p is our ``keep = 1 - p``::

    tau = l^2 (1 - p) / (2 N lambda)

(the form the authors' experiment code uses: ``reg = lengthscale**2 * (1 - dropout) /
(2. * N * tau)``, with ``dropout`` the drop rate). The variance of the passes is the
paper's 1/T form (numpy's ``ddof=0``), not the 1/(T-1) sample variance.

Weight decay to lambda: this trainer minimises ``MSE = 1/B sum (y - yhat)^2`` (twice the
paper's E), and torch's ``weight_decay`` (Adam, SGD) adds ``wd * w`` to every parameter's
gradient, biases included: the gradient of a penalty ``wd/2 ||w||^2``. So the objective is
``MSE + wd/2 ||w||^2 = 2 (1/2 MSE + wd/4 ||w||^2)``, the paper's with ``lambda = wd / 4``
(``paper_lambda``). With ``weight_decay = 0`` the formula gives tau = infinity, tau^-1 = 0.
Conventions elsewhere differ by such constant factors (the authors' code hands ``reg`` to
Keras' ``l2``, a penalty ``reg ||w||^2`` beside a mean squared error, i.e. lambda = reg / 2 in
the reading above); the factor here follows eq. 1 with E = 1/2 squared error.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
from torch import nn

from core.engine.config import ConfigError
from core.engine.models import MLP
from core.engine.plain import read_only

if TYPE_CHECKING:  # for annotations only: the data module imports this one
    from core.labs.uncertainty.regression import RegressionData

X_RANGE = (-8.0, 8.0)
"""The plotted stretch of x: well beyond every dataset's intervals."""
GRID_SIZE = 400
GRID = np.linspace(*X_RANGE, GRID_SIZE, dtype=np.float32)
GRID.setflags(write=False)
FAR_FROM_DATA = 5.0
"""Grid points with |x| >= this count as far from the data (every dataset lies inside (-5, 5))."""
MAX_PASSES = 200
"""Most stochastic passes ``mc_predict`` takes (the page's slider for T runs 1..MAX_PASSES)."""
_CHUNK_ELEMENTS = 1 << 20
"""Most values (1 M floats, 4 MB) of one [passes, grid, width] block in ``mc_predict``; it bounds
memory at width 256 and 200 passes (blocks of 8 to 200 passes timed alike at width 64)."""

INPUT_SCALE = 4.0
"""The network sees ``x / INPUT_SCALE``: the data's x (within +-4) are then of order 1, as
inputs usually are. Fixed, not fitted to the data, so added points do not rescale anything."""


def network_input(x: np.ndarray) -> torch.Tensor:
    """What the network sees for x [G]: ``x / INPUT_SCALE`` as a [G, 1] float32 tensor."""
    return torch.from_numpy(np.array(x, dtype=np.float32) / np.float32(INPUT_SCALE)).reshape(-1, 1)


# -- the tau formula -----------------------------------------------------------------------
def paper_lambda(weight_decay: float) -> float:
    """The paper's lambda (eq. 1, with E = 1/2 squared error) that torch's ``weight_decay``
    amounts to when the loss is the mean squared error: ``weight_decay / 4`` (module docstring)."""
    return weight_decay / 4.0


@dataclass(frozen=True)
class TauTerms:
    """The model precision ``tau = l^2 (1 - p) / (2 N lambda)`` with every term as a number.

    ``tau`` is ``inf`` and ``tau_inv`` 0 when lambda is 0 (no weight decay).
    """

    length_scale: float
    p: float
    keep: float
    n: int
    weight_decay: float
    lam: float
    tau: float
    tau_inv: float

    @property
    def noise_std(self) -> float:
        """sqrt(tau^-1): the observation noise's standard deviation the formula implies."""
        return math.sqrt(self.tau_inv)

    def text(self) -> str:
        """The formula filled in, e.g. ``τ = 1² · 0.8 / (2 · 40 · 0.00025) = 40, so τ⁻¹ = 0.025``."""
        head = f"τ = {self.length_scale:g}² · {self.keep:g} / (2 · {self.n} · {self.lam:g})"
        if self.lam == 0:
            return head + " is infinite (no weight decay), so τ⁻¹ = 0"
        return f"{head} = {self.tau:.4g}, so τ⁻¹ = {self.tau_inv:.4g}"


def tau_terms(length_scale: float, p: float, n: int, weight_decay: float) -> TauTerms:
    """Gal and Ghahramani's ``tau = l^2 keep / (2 N lambda)``, ``lambda = weight_decay / 4``."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"p (drop probability) must be in [0, 1), got {p}")
    if n < 1 or length_scale <= 0 or weight_decay < 0:
        raise ValueError(f"need n >= 1, length_scale > 0, weight_decay >= 0; got {n}, {length_scale}, {weight_decay}")
    keep, lam = 1.0 - p, paper_lambda(weight_decay)
    tau = math.inf if lam == 0 else length_scale**2 * keep / (2 * n * lam)
    return TauTerms(float(length_scale), float(p), keep, int(n), float(weight_decay), lam, tau,
                    0.0 if lam == 0 else 1.0 / tau)


# -- MC bands ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class MCBands:
    """T stochastic passes on a grid and what a plot of them shows.

    ``passes[t]`` is the network's output on ``x`` with dropout mask set t (one mask set per
    pass, shared by every grid point, so each pass is one whole function: a thin line; at any
    single x the T values are still T independent draws). ``mean`` and ``std`` are over the
    passes, ``std`` with the paper's 1/T. ``total_std = sqrt(std^2 + noise_var)``, where
    ``noise_var`` is tau^-1 when the observation-noise term is included, else 0 (then
    ``total_std == std``). Bands: ``mean +- k * total_std``, k = 1, 2.
    """

    x: np.ndarray  # [G]
    passes: np.ndarray  # [T, G]
    mean: np.ndarray  # [G]
    std: np.ndarray  # [G]
    noise_var: float
    total_std: np.ndarray  # [G]

    @property
    def n_passes(self) -> int:
        return int(self.passes.shape[0])

    def band(self, k: float) -> tuple[np.ndarray, np.ndarray]:
        """(lower, upper) = mean -+ k * total_std."""
        return self.mean - k * self.total_std, self.mean + k * self.total_std

    def to_plain(self) -> dict[str, Any]:
        lower1, upper1 = self.band(1)
        lower2, upper2 = self.band(2)
        return {"x": self.x, "passes": self.passes, "mean": self.mean, "std": self.std,
                "noise_var": self.noise_var, "total_std": self.total_std,
                "lower1": lower1, "upper1": upper1, "lower2": lower2, "upper2": upper2}


def _check_passes(n_passes: int) -> int:
    if isinstance(n_passes, bool) or not float(n_passes).is_integer() or not 1 <= n_passes <= MAX_PASSES:
        raise ConfigError(f"T (stochastic passes) must be a whole number in [1, {MAX_PASSES}], got {n_passes!r}")
    return int(n_passes)


def _hidden_layers(model: MLP) -> list[tuple[nn.Linear, nn.Module, Any]]:
    """The hidden layers as (Linear, activation, Dropout) triples: the regression MLP has no BatchNorm."""
    layers = model.hidden_layers()
    if any(layer.batchnorm is not None for layer in layers):
        raise ValueError("expected hidden layers of the form [Linear, activation, Dropout] (no BatchNorm)")
    return [(layer.linear, layer.activation, layer.dropout) for layer in layers]


def draw_masks(model: MLP, n_passes: int, seed: int) -> list[torch.Tensor]:
    """One keep-mask per pass and hidden layer, ``[T, width]`` float (1 kept, 0 dropped), drawn
    as in ``core.engine.dropout.Dropout``: kept where a uniform draw is >= that layer's p. Each layer
    has its own generator (seeded with ``8 * seed + layer``; at most 4 hidden layers), so the
    masks of the first T passes do not depend on how many passes are drawn."""
    return [(torch.rand(n_passes, linear.out_features, generator=torch.Generator().manual_seed(seed * 8 + i))
             >= dropout.p).float()
            for i, (linear, _, dropout) in enumerate(_hidden_layers(model))]


def _activation_inplace(act: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The activation as an in-place function of a fresh tensor. tanh is computed as
    ``2 sigmoid(2z) - 1`` (equal to float32 rounding): torch's CPU tanh took 2 ns a value,
    ten times its sigmoid, and was half the time of 200 passes."""
    if isinstance(act, nn.ReLU):
        return torch.relu_
    if isinstance(act, nn.Tanh):
        return lambda z: z.mul_(2.0).sigmoid_().mul_(2.0).sub_(1.0)
    return act


@torch.no_grad()
def passes_with_masks(model: MLP, x: np.ndarray, masks: list[torch.Tensor]) -> torch.Tensor:
    """The network's outputs ``[T, G]`` on inputs ``x`` [G], pass t using ``masks[layer][t]``
    for every input, with inverted dropout's 1/keep scaling and everything else evaluating.

    The first Linear and activation do not depend on any mask, so they run once on the grid.
    A mask on a layer's output is folded into the next layer's weights instead of the
    activations, ``(h * m) W^T = h (W * m)^T``: pass t is a product with its own masked copy
    of W (a [T, H, H'] stack, small), and no [T, G, H] array is masked element by element.
    Passes run in blocks of at most ``_CHUNK_ELEMENTS`` values per hidden layer.
    """
    if model.input_dropout.p != 0:
        raise ValueError("input dropout must be off for a 1-D input (it would drop x itself)")
    layers = _hidden_layers(model)
    if masks[0].shape[0] > 1 and all(dropout.p == 0 for _, _, dropout in layers):
        # Nothing is dropped: every pass is the same function. One pass, repeated, makes the
        # spread exactly 0 (separate products can differ in the last bit).
        return passes_with_masks(model, x, [m[:1] for m in masks]).expand(masks[0].shape[0], -1).clone()
    X = network_input(x)
    first_linear, first_act, _ = layers[0]
    h0 = first_act(first_linear(X))  # [G, H], the same for every pass
    n_grid, n_passes = X.shape[0], masks[0].shape[0]
    block = max(1, _CHUNK_ELEMENTS // max(1, n_grid * max(linear.out_features for linear, _, _ in layers)))
    nexts = [linear for linear, _, _ in layers[1:]] + [model.out]
    acts = [_activation_inplace(act) for _, act, _ in layers[1:]] + [None]
    out = []
    for start in range(0, n_passes, block):
        h = h0
        for (_, _, dropout), mask, nxt, act in zip(layers, masks, nexts, acts):
            scaled = mask[start : start + block] * (1.0 / (1.0 - dropout.p))  # [t, H]
            weight_t = (nxt.weight.unsqueeze(0) * scaled.unsqueeze(1)).transpose(1, 2)  # [t, H, H']
            if h.dim() == 2:
                h = h.expand(weight_t.shape[0], *h.shape)
            h = torch.baddbmm(nxt.bias, h, weight_t)  # [t, G, H']
            if act is not None:
                h = act(h)
        out.append(h.squeeze(2))
    return torch.cat(out)


def mc_predict(
    model: MLP, x: np.ndarray = GRID, n_passes: int = 50, *, seed: int = 0, noise_var: float = 0.0
) -> MCBands:
    """``n_passes`` stochastic passes on ``x`` (default: the grid) and their mean, std and bands.

    Masks come from ``draw_masks(model, n_passes, seed)``: equal seeds give equal passes, and the
    first T passes of a larger T are the same lines. ``noise_var`` (tau^-1 or 0) is added to
    the variance of the passes for ``total_std``. The model's weights and modes are untouched.
    Non-finite weights give NaN arrays, not an error.
    """
    n_passes = _check_passes(n_passes)
    if not noise_var >= 0:
        raise ValueError(f"noise_var must be >= 0, got {noise_var}")
    passes = passes_with_masks(model, x, draw_masks(model, n_passes, int(seed)))
    wide = passes.double()  # float64 sums: T equal passes give a mean equal to each, a spread of exactly 0
    mean = wide.mean(0)
    var = (wide - mean).square().mean(0)  # the paper's 1/T
    as_np = lambda t: read_only(t.float().numpy())  # noqa: E731
    return MCBands(read_only(np.asarray(x, dtype=np.float32).copy()), as_np(passes), as_np(mean), as_np(var.sqrt()),
                   float(noise_var), as_np((var + noise_var).sqrt()))


@dataclass(frozen=True)
class ByRegion:
    """One number per region of the grid: inside the intervals, far (|x| >= FAR_FROM_DATA),
    and the middle half of the widest gap (``RegressionData``'s masks)."""

    in_data: float
    far: float
    gap: float

    @property
    def far_ratio(self) -> float:
        """far / in_data: how many times wider the band is far from the data."""
        return self.far / self.in_data if self.in_data > 0 else math.inf

    @property
    def gap_ratio(self) -> float:
        return self.gap / self.in_data if self.in_data > 0 else math.inf


def _by_region(values: np.ndarray, x: np.ndarray, data: RegressionData) -> ByRegion:
    return ByRegion(*(float(values[mask].mean()) for mask in (data.in_data(x), data.far(x), data.gap(x))))


def region_std(bands: MCBands, data: RegressionData) -> ByRegion:
    """Mean of ``bands.std`` (the spread of the passes, without tau^-1) over each region."""
    return _by_region(bands.std, bands.x, data)


def region_coverage(bands: MCBands, data: RegressionData, k: float = 2.0) -> ByRegion:
    """Share of each region's grid points where the true curve lies inside mean +- k * total_std."""
    lower, upper = bands.band(k)
    truth = data.truth(bands.x)
    return _by_region(((lower <= truth) & (truth <= upper)).astype(np.float64), bands.x, data)


@dataclass(frozen=True)
class HeldoutCoverage:
    """Shares of held-out observations inside ``mean +- k std``: with the spread of the passes alone
    (``passes``) and with tau^-1 added to its variance (``with_noise``); ``n`` observations."""

    k: float
    n: int
    passes: float
    with_noise: float


def heldout_coverage(bands: MCBands, y: np.ndarray, k: float = 2.0) -> HeldoutCoverage:
    """Coverage of observations ``y`` [G] at ``bands.x`` by the band of the passes (``std``) and by
    the band with the observation noise (``total_std``): a band meant for new observations must be
    checked on noisy ones, not on the noise-free curve."""
    y = np.asarray(y, dtype=np.float64)
    if y.shape != bands.mean.shape:
        raise ValueError(f"need one observation per point of the bands ({bands.mean.shape}), got {y.shape}")
    gap = np.abs(y - bands.mean)
    inside = lambda std: float(np.mean(gap <= k * np.asarray(std, dtype=np.float64)))  # noqa: E731
    return HeldoutCoverage(float(k), int(y.size), inside(bands.std), inside(bands.total_std))
