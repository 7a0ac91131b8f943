"""1-D regression with MC dropout: data with gaps, a dropout MLP and its trainer.

Lesson 5 (MC dropout and uncertainty) trains a small network on points that cover only a
few intervals of the line, then asks it, with dropout still on, what it thinks everywhere
else. Gal and Ghahramani (2016) read the spread of T stochastic passes as the network's
*model* uncertainty: where the data pin the function down the passes agree, away from the
data they need not.

- **Data** (``make_data``): ``y = f(x) + noise`` on a few disjoint intervals of x, seeded,
  generated in code. The grid (``GRID``) runs over ``X_RANGE`` = [-8, 8], far beyond the
  data, so the plot shows gaps between the intervals and a region outside all of them.
- **Model** (``build_regression_mlp``): the Playground's MLP (``core.engine.models``) with 1 input
  and 1 output: Linear -> activation -> ``Dropout(p)`` per hidden layer, then Linear. No
  dropout on the single input (dropping x would drop the whole input).
- **Training** (``RegressionTrainer``): Adam on the mean squared error, minibatches,
  torch's coupled weight decay; ``p`` can change and points can be added between two steps.
- **Bands** (``mc_predict``): T stochastic passes over the grid with only dropout
  stochastic, their mean and standard deviation, and the +-1 and +-2 std bands, with or
  without the observation-noise term ``tau^-1`` (``tau_terms``).

Everything returned is plain data: floats, read-only numpy arrays, frozen dataclasses.
Nothing here draws, prints, sleeps or imports Streamlit.

The maths of the bands (T passes, their spread by region, the tau formula) is
``core.labs.uncertainty.bands``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from core.engine.config import ConfigError, ModelConfig, _check_choice, _check_range
from core.engine.dropout import eval_mode, train_mode
from core.engine.models import MLP, build_mlp
from core.engine.plain import EventLog, bound_series, read_only
from core.labs.uncertainty.bands import (FAR_FROM_DATA, GRID, X_RANGE, HeldoutCoverage, MCBands, TauTerms,
                                         heldout_coverage, mc_predict, network_input, paper_lambda, tau_terms)

MAX_POINTS = 500
"""Most training points a run may hold, added points included."""
DIVERGENCE_LOSS = 1e6
"""A minibatch MSE above this (targets are of order 1-10) counts as diverged."""
ACTIVATIONS = ("relu", "tanh")


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
    tests/core/labs/uncertainty/test_regression.py): with ReLU the band at |x| >= 5 is 11-12 times as wide as
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
        return replace(self, x=read_only(np.concatenate([self.x, x]).astype(np.float32)),
                       y=read_only(np.concatenate([self.y, y]).astype(np.float32)))


def _draw(cfg: RegressionConfig, n: int, rng: np.random.Generator) -> RegressionData:
    spec = DATASETS[cfg.dataset]
    lengths = np.array([hi - lo for lo, hi in spec.intervals])
    share = n * lengths / lengths.sum()
    counts = np.floor(share).astype(int)
    counts[np.argsort(counts - share)[: n - counts.sum()]] += 1
    x = np.concatenate([rng.uniform(lo, hi, k) for (lo, hi), k in zip(spec.intervals, counts)])
    y = spec.function(x) + cfg.noise * rng.standard_normal(x.size)
    return RegressionData(cfg.dataset, read_only(x.astype(np.float32)), read_only(y.astype(np.float32)),
                          spec.intervals, cfg.noise)


def make_data(cfg: RegressionConfig) -> RegressionData:
    """``n_points`` points spread over the intervals in proportion to their lengths (largest
    remainder), x uniform inside each, ``y = f(x) + noise * N(0, 1)``; from ``cfg.seed`` alone."""
    return _draw(cfg, cfg.n_points, np.random.default_rng(cfg.seed))


HELDOUT_POINTS = 400
"""Held-out observations per run: at 90 % coverage one run's share has a standard error of 1.5 points."""


def make_heldout(cfg: RegressionConfig, n: int = HELDOUT_POINTS) -> RegressionData:
    """``n`` new observations drawn as the training points are (the same intervals, function and
    noise) from a stream of their own (``cfg.seed`` and 1), so they share no draw with them: what a
    band for new observations (tau^-1 added) is checked on."""
    return _draw(cfg, n, np.random.default_rng([cfg.seed, 1]))


# -- model ---------------------------------------------------------------------------------
def build_regression_mlp(cfg: RegressionConfig) -> MLP:
    """1 input -> (Linear, activation, Dropout(p)) x depth -> 1 output, weights from ``cfg.seed``."""
    return build_mlp(cfg.model_config(), seed=cfg.seed, device="cpu", num_inputs=1, num_classes=1)


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
        self.heldout = make_heldout(cfg)
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
        self.events = EventLog()  # the latest changes; older ones counted (bounded for runs of any length)
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
        bound_series(self.history)

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

    def heldout_bands(self, n_passes: int = 50, *, seed: int | None = None) -> MCBands:
        """``mc_predict`` at the held-out observations' x (``make_heldout``), with tau^-1 as
        ``noise_var`` and the masks of ``bands`` (the same seed): for ``heldout_coverage``."""
        noise_var = self.tau().tau_inv if self.diverged is None else 0.0
        return mc_predict(self.model, self.heldout.x, n_passes, seed=self.cfg.seed + 3 if seed is None else seed,
                          noise_var=noise_var)

    def heldout_coverage(self, n_passes: int = 50, *, seed: int | None = None, k: float = 2.0) -> HeldoutCoverage:
        """How many held-out observations lie inside mean +- k std, with the passes alone and with tau^-1."""
        return heldout_coverage(self.heldout_bands(n_passes, seed=seed), self.heldout.y, k)

    def _event(self, kind: str, text: str) -> None:
        self.events.append({"epoch": self.epoch_float, "step": self.step_count, "kind": kind, "text": text})
