"""1-D regression with MC dropout: data with gaps, a dropout MLP, and the uncertainty bands.

Lesson 5 (MC dropout and uncertainty) trains a small network on points that cover only a
few intervals of the line, then asks it, with dropout still on, what it thinks everywhere
else. Gal and Ghahramani (2016) read the spread of T stochastic passes as the network's
*model* uncertainty: where the data pin the function down the passes agree, away from the
data they need not.

- **Data** (``make_data``): ``y = f(x) + noise`` on a few disjoint intervals of x, seeded,
  generated in code. The grid (``GRID``) runs over ``X_RANGE`` = [-8, 8], far beyond the
  data, so the plot shows gaps between the intervals and a region outside all of them.
- **Model** (``build_regression_mlp``): the Playground's MLP (``core.models``) with 1 input
  and 1 output: Linear -> activation -> ``Dropout(p)`` per hidden layer, then Linear. No
  dropout on the single input (dropping x would drop the whole input).
- **Training** (``RegressionTrainer``): Adam on the mean squared error, minibatches,
  torch's coupled weight decay; ``p`` can change and points can be added between two steps.
- **Bands** (``mc_predict``): T stochastic passes over the grid with only dropout
  stochastic, their mean and standard deviation, and the +-1 and +-2 std bands, with or
  without the observation-noise term ``tau^-1`` (``tau_terms``).

Everything returned is plain data: floats, read-only numpy arrays, frozen dataclasses.
Nothing here draws, prints, sleeps or imports Streamlit.

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
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.config import ConfigError, ModelConfig, _check_choice, _check_range
from core.dropout import eval_mode, train_mode
from core.models import MLP, build_mlp

X_RANGE = (-8.0, 8.0)
"""The plotted stretch of x: well beyond every dataset's intervals."""
GRID_SIZE = 400
GRID = np.linspace(*X_RANGE, GRID_SIZE, dtype=np.float32)
GRID.setflags(write=False)
FAR_FROM_DATA = 5.0
"""Grid points with |x| >= this count as far from the data (every dataset lies inside (-5, 5))."""
MAX_PASSES = 200
"""Most stochastic passes ``mc_predict`` takes (the page's slider for T runs 1..MAX_PASSES)."""
MAX_POINTS = 500
"""Most training points a run may hold, added points included."""
DIVERGENCE_LOSS = 1e6
"""A minibatch MSE above this (targets are of order 1-10) counts as diverged."""
ACTIVATIONS = ("relu", "tanh")
_CHUNK_ELEMENTS = 1 << 20
"""Most values (1 M floats, 4 MB) of one [passes, grid, width] block in ``mc_predict``; it bounds
memory at width 256 and 200 passes (blocks of 8 to 200 passes timed alike at width 64)."""


# -- data ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetSpec:
    """A target function and the x intervals its training points are drawn from."""

    title: str
    function: Callable[[np.ndarray], np.ndarray]
    intervals: tuple[tuple[float, float], ...]


def _x_sin_x(x: np.ndarray) -> np.ndarray:
    return x * np.sin(x)


def _sine(x: np.ndarray) -> np.ndarray:
    return np.sin(1.5 * x)


DATASETS: dict[str, DatasetSpec] = {
    "x_sin_x": DatasetSpec("y = x sin x on three intervals", _x_sin_x, ((-4.0, -2.5), (-1.0, 1.0), (2.0, 3.0))),
    "sine": DatasetSpec("noisy sine, y = sin 1.5x, on two intervals", _sine, ((-4.0, -1.5), (0.5, 3.0))),
}
"""Datasets by name. Intervals are sorted, disjoint and inside (-FAR_FROM_DATA, FAR_FROM_DATA)."""


@dataclass(frozen=True)
class RegressionConfig:
    """One regression run: data, model and training. Equal configs give equal runs.

    ``p`` is the DROP probability after every hidden layer. ``weight_decay`` is torch's
    (added as ``wd * w`` to each gradient); ``lam`` is the paper's lambda it amounts to.
    ``length_scale`` is the prior length-scale l of the tau formula; it does not change
    training. ``batch_size`` is capped by the number of points: by default every step sees
    all points (full batch) until more than 64 are held.

    The defaults (one hidden layer of 128, p = 0.2) are the measured ones (numbers in
    tests/core/test_regression.py): with ReLU the band at |x| >= 5 is 11-12 times as wide as
    inside the data, on each side and in every seed at least 3 times, and T = 200 passes on
    the grid take about a millisecond. Two hidden layers fit better but often extrapolate
    flat on one side, where every pass then agrees (and cost about 8 ms for T = 200).
    """

    dataset: str = "x_sin_x"
    n_points: int = 40
    noise: float = 0.1
    seed: int = 0
    p: float = 0.2
    activation: str = "relu"
    width: int = 128
    depth: int = 1
    lr: float = 0.01
    weight_decay: float = 1e-3
    batch_size: int = 64
    max_epochs: int = 3000
    length_scale: float = 1.0

    def __post_init__(self) -> None:
        _check_choice("dataset", self.dataset, tuple(DATASETS))
        _check_range("n_points", self.n_points, 5, MAX_POINTS)
        _check_range("noise", self.noise, 0.0, 1.0)
        _check_range("seed", self.seed, 0, 2**31 - 1)
        _check_range("p", self.p, 0.0, 0.9)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_range("width", self.width, 4, 256)
        _check_range("depth", self.depth, 1, 4)
        _check_range("lr", self.lr, 1e-5, 1.0)
        _check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        _check_range("batch_size", self.batch_size, 1, MAX_POINTS)
        _check_range("max_epochs", self.max_epochs, 1, 1_000_000)
        _check_range("length_scale", self.length_scale, 0.01, 100.0)
        for name in ("n_points", "seed", "width", "depth", "batch_size", "max_epochs"):
            if isinstance(getattr(self, name), bool) or not float(getattr(self, name)).is_integer():
                raise ConfigError(f"{name} must be a whole number, got {getattr(self, name)!r}")
            object.__setattr__(self, name, int(getattr(self, name)))

    @property
    def keep(self) -> float:
        return 1.0 - self.p

    @property
    def lam(self) -> float:
        return paper_lambda(self.weight_decay)

    def model_config(self) -> ModelConfig:
        return ModelConfig(num_hiddens=(self.width,) * self.depth, activation=self.activation,
                           p_input=0.0, p_hidden=(self.p,) * self.depth)

    def to_flat(self) -> dict[str, Any]:
        """Plain str/int/float values, for a snapshot or a link."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class RegressionData:
    """Training points ``x``, ``y`` (float32, [N]) drawn on ``intervals``, and where the gaps are.

    Region masks take any x array: ``in_data`` is True inside an interval, ``far`` where
    |x| >= FAR_FROM_DATA, ``gap`` in the middle half of the widest gap between two intervals.
    """

    dataset: str
    x: np.ndarray
    y: np.ndarray
    intervals: tuple[tuple[float, float], ...]
    noise: float

    @property
    def n(self) -> int:
        return int(self.x.size)

    def truth(self, x: np.ndarray) -> np.ndarray:
        """The noise-free target ``f(x)``."""
        return DATASETS[self.dataset].function(np.asarray(x, dtype=np.float32)).astype(np.float32)

    @property
    def gaps(self) -> tuple[tuple[float, float], ...]:
        return tuple((a[1], b[0]) for a, b in zip(self.intervals, self.intervals[1:]))

    @property
    def widest_gap(self) -> tuple[float, float]:
        return max(self.gaps, key=lambda g: g[1] - g[0])

    def in_data(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        return np.any([(lo <= x) & (x <= hi) for lo, hi in self.intervals], axis=0)

    def far(self, x: np.ndarray) -> np.ndarray:
        return np.abs(np.asarray(x)) >= FAR_FROM_DATA

    def gap(self, x: np.ndarray) -> np.ndarray:
        lo, hi = self.widest_gap
        quarter = (hi - lo) / 4
        x = np.asarray(x)
        return (lo + quarter <= x) & (x <= hi - quarter)

    def with_points(self, x: np.ndarray, y: np.ndarray) -> RegressionData:
        """The same data plus points (x, y): the intervals stay the ones drawn from."""
        return replace(self, x=_frozen(np.concatenate([self.x, x]).astype(np.float32)),
                       y=_frozen(np.concatenate([self.y, y]).astype(np.float32)))


def make_data(cfg: RegressionConfig) -> RegressionData:
    """``n_points`` points spread over the intervals in proportion to their lengths (largest
    remainder), x uniform inside each, ``y = f(x) + noise * N(0, 1)``; from ``cfg.seed`` alone."""
    spec = DATASETS[cfg.dataset]
    rng = np.random.default_rng(cfg.seed)
    lengths = np.array([hi - lo for lo, hi in spec.intervals])
    share = cfg.n_points * lengths / lengths.sum()
    counts = np.floor(share).astype(int)
    counts[np.argsort(counts - share)[: cfg.n_points - counts.sum()]] += 1
    x = np.concatenate([rng.uniform(lo, hi, k) for (lo, hi), k in zip(spec.intervals, counts)])
    y = spec.function(x) + cfg.noise * rng.standard_normal(x.size)
    return RegressionData(cfg.dataset, _frozen(x.astype(np.float32)), _frozen(y.astype(np.float32)),
                          spec.intervals, cfg.noise)


# -- model ---------------------------------------------------------------------------------
INPUT_SCALE = 4.0
"""The network sees ``x / INPUT_SCALE``: the data's x (within +-4) are then of order 1, as
inputs usually are. Fixed, not fitted to the data, so added points do not rescale anything."""


def network_input(x: np.ndarray) -> torch.Tensor:
    """What the network sees for x [G]: ``x / INPUT_SCALE`` as a [G, 1] float32 tensor."""
    return torch.from_numpy(np.array(x, dtype=np.float32) / np.float32(INPUT_SCALE)).reshape(-1, 1)


def build_regression_mlp(cfg: RegressionConfig) -> MLP:
    """1 input -> (Linear, activation, Dropout(p)) x depth -> 1 output, weights from ``cfg.seed``."""
    return build_mlp(cfg.model_config(), seed=cfg.seed, device="cpu", num_inputs=1, num_classes=1)


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
    """``model.hidden`` as (Linear, activation, Dropout) triples."""
    modules = list(model.hidden)
    if len(modules) % 3 or any(not isinstance(m, nn.Linear) for m in modules[::3]):
        raise ValueError("expected hidden layers of the form [Linear, activation, Dropout] (no BatchNorm)")
    return [tuple(modules[i : i + 3]) for i in range(0, len(modules), 3)]


def draw_masks(model: MLP, n_passes: int, seed: int) -> list[torch.Tensor]:
    """One keep-mask per pass and hidden layer, ``[T, width]`` float (1 kept, 0 dropped), drawn
    as in ``core.dropout.Dropout``: kept where a uniform draw is >= that layer's p. Each layer
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
    as_np = lambda t: _frozen(t.float().numpy())  # noqa: E731
    return MCBands(_frozen(np.asarray(x, dtype=np.float32).copy()), as_np(passes), as_np(mean), as_np(var.sqrt()),
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


# -- training ------------------------------------------------------------------------------
class RegressionTrainer:
    """Trains one regression MLP step by step. Equal configs give equal runs.

    Between two steps, ``set_p`` changes the drop probability and ``add_points`` adds
    training points; both apply from the next step (added points join the next minibatch:
    the epoch in progress restarts). A non-finite or exploding loss sets ``diverged`` (a
    sentence) and every later ``step`` is refused without training.
    """

    def __init__(self, cfg: RegressionConfig, data: RegressionData | None = None):
        self.cfg = cfg
        self.data = data if data is not None else make_data(cfg)
        self.model = build_regression_mlp(cfg)
        self.mask_generator = torch.Generator().manual_seed(cfg.seed + 1)
        self.model.set_generator(self.mask_generator)
        self.shuffle_generator = torch.Generator().manual_seed(cfg.seed + 2)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                                          fused=True)
        self._set_tensors()
        self.step_count = 0
        self.epoch = 0
        self._batches: tuple[torch.Tensor, ...] = ()
        self._batch_index = 0
        self._pos = 0
        self.diverged: str | None = None
        self.history: dict[str, list[float]] = {"epoch": [], "step": [], "batch_loss": [], "train_mse": []}
        self.events: list[dict[str, Any]] = []
        self._batch_losses: list[float] = []
        train_mode(self.model)

    def _set_tensors(self) -> None:
        self.X = network_input(self.data.x)
        self.y = torch.from_numpy(self.data.y.copy())

    @property
    def n_train(self) -> int:
        return self.data.n

    @property
    def batch_size(self) -> int:
        return min(self.cfg.batch_size, self.n_train)

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.n_train // self.batch_size)

    @property
    def epoch_float(self) -> float:
        return self.epoch + self._pos / self.n_train

    @property
    def finished(self) -> bool:
        return self.epoch >= self.cfg.max_epochs

    def step(self) -> dict[str, Any]:
        """One Adam step on the next minibatch; returns ``{"step", "epoch", "loss", "diverged"}``."""
        if self.diverged is not None:
            return {"step": self.step_count, "epoch": self.epoch, "loss": math.nan, "diverged": self.diverged}
        n = self.n_train
        if self._pos == 0:
            # ceil(N / batch_size) batches whose sizes differ by at most one: no ragged last
            # batch of a few points (one step in two on 3 added points kept Adam from fitting them).
            self._batches = torch.randperm(n, generator=self.shuffle_generator).tensor_split(self.steps_per_epoch)
            self._batch_index = 0
        batch = self._batches[self._batch_index]
        self._batch_index += 1
        loss = F.mse_loss(self.model(self.X[batch]).squeeze(1), self.y[batch])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.step_count += 1
        self._pos += int(batch.shape[0])
        value = loss.item()
        self._batch_losses.append(value)
        if self._pos >= n:
            self._pos = 0
            self.epoch += 1
            self._record_epoch()
        if not math.isfinite(value) or value > DIVERGENCE_LOSS:
            self.diverged = (f"the training loss became {value:.3g} at step {self.step_count}: the run diverged. "
                             "Lower the learning rate, then start again.")
        return {"step": self.step_count, "epoch": self.epoch, "loss": value, "diverged": self.diverged}

    def train_steps(self, n: int) -> None:
        """``n`` steps (fewer when the run diverges)."""
        for _ in range(n):
            if self.step()["diverged"]:
                break

    def _record_epoch(self) -> None:
        losses, self._batch_losses = self._batch_losses, []
        for key, value in (("epoch", float(self.epoch)), ("step", float(self.step_count)),
                           ("batch_loss", sum(losses) / len(losses)), ("train_mse", self.train_mse())):
            self.history[key].append(value)

    @torch.no_grad()
    def predict(self, x: np.ndarray) -> np.ndarray:
        """The network with dropout off (the 'standard' prediction) at x [G]."""
        eval_mode(self.model)
        out = self.model(network_input(x)).squeeze(1)
        train_mode(self.model)
        return out.numpy()

    def train_mse(self) -> float:
        """MSE on all training points with dropout off."""
        return float(np.mean((self.predict(self.data.x) - self.data.y) ** 2))

    # -- changes between steps ------------------------------------------------------------
    def set_p(self, p: float) -> None:
        """Drop probability of every hidden layer from the next step on (validated like the config)."""
        new = replace(self.cfg, p=float(p))
        if new == self.cfg:
            return
        old, self.cfg = self.cfg.p, new
        for module in self.model.dropouts[1:]:
            module.p = new.p
        self._event("p", f"p {old:g} → {new.p:g}")

    def add_points(self, x: Any, y: Any) -> int:
        """Add training points (x, y) (scalars or equal-length sequences) inside X_RANGE; returns N."""
        x = np.atleast_1d(np.asarray(x, dtype=np.float64)).ravel()
        y = np.atleast_1d(np.asarray(y, dtype=np.float64)).ravel()
        if x.size == 0 or x.size != y.size:
            raise ValueError(f"need as many y as x values (at least one), got {x.size} x and {y.size} y")
        if not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError("points must be finite numbers")
        if ((x < X_RANGE[0]) | (x > X_RANGE[1])).any():
            raise ValueError(f"x must be in [{X_RANGE[0]:g}, {X_RANGE[1]:g}], got {x.tolist()}")
        if np.abs(y).max() > 100:
            raise ValueError(f"y must be in [-100, 100], got {y.tolist()}")
        if self.n_train + x.size > MAX_POINTS:
            raise ValueError(f"a run holds at most {MAX_POINTS} points; it has {self.n_train}")
        self.data = self.data.with_points(x, y)
        self._set_tensors()
        self._pos = 0  # a fresh epoch: the new points are in the next minibatches
        self._event("points", f"+{x.size} point{'s' if x.size > 1 else ''} (N = {self.n_train})")
        return self.n_train

    def tau(self) -> TauTerms:
        """The tau formula's terms for this run now (N counts added points)."""
        return tau_terms(self.cfg.length_scale, self.cfg.p, self.n_train, self.cfg.weight_decay)

    def bands(self, n_passes: int = 50, *, seed: int | None = None, observation_noise: bool = False) -> MCBands:
        """``mc_predict`` on the grid; masks from ``seed`` (default: the run's seed + 3)."""
        noise_var = self.tau().tau_inv if observation_noise else 0.0
        if self.diverged is not None:
            noise_var = 0.0
        return mc_predict(self.model, GRID, n_passes, seed=self.cfg.seed + 3 if seed is None else seed,
                          noise_var=noise_var)

    def _event(self, kind: str, text: str) -> None:
        self.events.append({"epoch": self.epoch_float, "step": self.step_count, "kind": kind, "text": text})


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a
