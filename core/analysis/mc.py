"""Monte-Carlo dropout for classification: T stochastic passes and their spread, over a map or a set.

Gal and Ghahramani (2016) keep dropout on at test time and read T stochastic forward
passes as samples from an approximate posterior predictive. Only dropout is stochastic;
BatchNorm and the rest evaluate, as ``core.engine.dropout.mc_mode`` sets. For one input with
per-pass class probabilities ``p_t`` (natural logarithms, ``0 log 0 = 0``):

- **predictive mean** ``mean = 1/T sum_t p_t`` and its **entropy** ``H[mean]`` (total uncertainty);
- **expected entropy** ``E_t H[p_t]`` (what each sampled network is unsure of: aleatoric);
- **mutual information** ``MI = H[mean] - E_t H[p_t]`` >= 0 (how much the sampled networks
  disagree: epistemic; the BALD score);
- **per-class std** of ``p_t`` over the passes (1/T, numpy's ``ddof=0``; 0 for T = 1);
- **weight scaling**: the deterministic prediction with dropout off (``eval_mode``), the
  paper's cheap approximation of the MC average (Srivastava et al. 2014, section 7.5).

**One mask per pass, shared by all the points.** The textbook loop draws a fresh mask for
every point in every pass. Here pass t draws one keep-mask per dropout layer and applies it
to every point, so pass t IS one sampled thinned network, evaluated everywhere. For any one
point the T passes are still T independent draws of the same thinned-network distribution,
so every per-point number (mean, std, entropies, MI, the histogram of a point probe) has
exactly the textbook distribution. What changes is across points: the noise of two points
is correlated (they saw the same T networks), so a map of the mean looks smooth where the
textbook's looks speckled, and accuracy over a set varies more between repeats. Masks
depend only on ``(seed, t)``, so the same seed gives the same T networks on any set of
inputs: a point probe matches the map at that point, and raising T adds passes without
changing the first ones.

The network is read frozen and its passes thinned (``core.analysis.thinned`` says why that is fast,
and how it treats models and threads); Figure 11 and calibration are ``core.analysis.calibration``.

Everything returned is plain data: floats, read-only numpy arrays, frozen dataclasses.
Nothing here draws, prints or imports Streamlit.
"""
from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from typing import Any, Hashable

import numpy as np
import torch
from scipy.special import entr
from torch import nn

from core.analysis.thinned import (CHUNK_ELEMENTS, FrozenMLP, as_points, dropout_settings, first_stochastic, freeze,
                                   pass_logits, run_linears, thinned_pass)
from core.engine.dropout import dropout_modules, eval_mode, mc_mode
from core.engine.plain import read_only
from core.engine.variants import uses_variants

DEFAULT_T = 50
"""Stochastic passes per map unless told otherwise."""
FIG11_TS = (1, 2, 5, 10, 20, 50, 100)
"""The numbers of passes ``mc_vs_weight_scaling`` compares by default."""
PROBE_BINS = np.linspace(0.0, 1.0, 21)
"""Histogram edges for a point probe's probabilities: width 0.05."""
PROBE_BINS.setflags(write=False)
_KEPT_RESULTS = 8  # summaries kept per map, one per T asked for


# -- uncertainty of a set of passes -------------------------------------------------------------
def entropy(probs: np.ndarray, axis: int = -1) -> np.ndarray:
    """``-sum_c p_c ln p_c`` along ``axis`` (natural log, ``0 ln 0 = 0``), in float64."""
    return entr(np.asarray(probs, dtype=np.float64)).sum(axis)


def mutual_information(probs: np.ndarray) -> np.ndarray:
    """``H[mean_t p_t] - mean_t H[p_t]`` for passes ``probs`` [T, ..., C], in float64.

    Never negative in exact arithmetic (entropy is concave); rounding can leave about
    -1e-16, which is returned as 0."""
    p = np.asarray(probs, dtype=np.float64)
    return np.maximum(entropy(p.mean(0)) - entropy(p).mean(0), 0.0)


@dataclass(frozen=True, eq=False)
class MCPrediction:
    """T stochastic passes over N inputs and their per-input summaries (all float32, read-only).

    ``probs[t, n]`` are pass t's class probabilities at input n. ``mean``, ``std`` [N, C] and
    ``entropy``, ``expected_entropy``, ``mutual_info`` [N] are the module docstring's
    quantities; ``deterministic`` [N, C] is the weight-scaling prediction (dropout off).
    """

    probs: np.ndarray  # [T, N, C]
    mean: np.ndarray  # [N, C]
    std: np.ndarray  # [N, C]
    entropy: np.ndarray  # [N]
    expected_entropy: np.ndarray  # [N]
    mutual_info: np.ndarray  # [N]
    deterministic: np.ndarray  # [N, C]
    seed: int

    @property
    def T(self) -> int:
        return int(self.probs.shape[0])

    @property
    def n_points(self) -> int:
        return int(self.probs.shape[1])

    @property
    def num_classes(self) -> int:
        return int(self.probs.shape[2])


@dataclass(frozen=True)
class _Moments:
    """Per-point running statistics of passes, float64, features-major: mean and sum of
    squared deviations [C, N] of the probabilities, sum of the per-pass entropies [N]."""

    count: int
    mean: torch.Tensor
    m2: torch.Tensor
    entropy_sum: torch.Tensor

    @staticmethod
    def of(P: torch.Tensor) -> _Moments:
        """From probabilities [t, C, n] (float32 math, two-pass variance)."""
        mean = P.mean(0)
        m2 = (P - mean).square_().sum(0)
        h = torch.special.entr(P).sum(1).sum(0)
        return _Moments(P.shape[0], mean.double(), m2.double(), h.double())

    def merged(self, other: _Moments) -> _Moments:
        """Both sets of passes together (Chan et al.'s pairwise update: no cancellation)."""
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / n)
        m2 = self.m2 + other.m2 + delta.square() * (self.count * other.count / n)
        return _Moments(n, mean, m2, self.entropy_sum + other.entropy_sum)


def _cat_moments(parts: list[_Moments]) -> _Moments:
    """Chunks of points (the same passes) side by side."""
    cat = lambda name, dim: torch.cat([getattr(m, name) for m in parts], dim)  # noqa: E731
    return _Moments(parts[0].count, cat("mean", 1), cat("m2", 1), cat("entropy_sum", 0))


class MapState:
    """The passes run so far over one input set with one frozen network and seed."""

    def __init__(self, net: FrozenMLP, X: Any, seed: int):
        if int(seed) < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.net, self.seed = net, int(seed)
        self.first = first_stochastic(net)
        start = len(net.p) - 1 if self.first is None else self.first
        with torch.no_grad():
            self.H = run_linears(net, 0, start, as_points(X, net).t())  # dropout `start`'s input [width, N]
            self.det_logits = run_linears(net, start, len(net.linears), self.H, scale_eval=True)  # [C, N]
            self.deterministic = torch.softmax(self.det_logits, 0).t().contiguous()  # [N, C]
        self.probs: torch.Tensor = torch.empty(0, self.H.shape[1], net.num_classes, device=self.H.device)
        self.moments: _Moments | None = None
        self.count = 0
        self._results: dict[int, MCPrediction] = {}

    @torch.no_grad()
    def extend(self, T: int) -> int:
        """Run passes ``count..T-1``; return how many were run."""
        if T <= self.count or self.first is None:
            self.count = max(self.count, T)
            return 0
        passes = [thinned_pass(self.net, self.first, self.seed, t) for t in range(self.count, T)]
        new = torch.empty(len(passes), self.H.shape[1], self.net.num_classes, device=self.H.device)
        parts = []
        for start, stop, Z in pass_logits(self.net, self.first, self.H, passes):
            P = torch.softmax(Z, 1)
            new[:, start:stop].copy_(P.transpose(1, 2))
            parts.append(_Moments.of(P))
        moments = _cat_moments(parts)
        self.moments = moments if self.moments is None else self.moments.merged(moments)
        self.probs = new if self.count == 0 else torch.cat([self.probs, new])
        self.count = T
        self._results.clear()
        return len(passes)

    @torch.no_grad()
    def prediction(self, T: int) -> MCPrediction:
        """The first T passes (T <= count), summarised; the same object for the same T."""
        if T not in self._results:
            if len(self._results) >= _KEPT_RESULTS:
                self._results.pop(next(iter(self._results)))
            self._results[T] = self._summarise(T)
        return self._results[T]

    def _summarise(self, T: int) -> MCPrediction:
        det = self.deterministic.cpu().numpy()
        if self.first is None:  # nothing is dropped: every pass is the deterministic network
            h = entropy(det).astype(np.float32)
            zeros = np.zeros_like(h)
            return _prediction(np.broadcast_to(det, (T, *det.shape)), det, np.zeros_like(det), h, h, zeros, det,
                               self.seed)
        probs = self.probs[:T]
        moments = self.moments if T == self.count else _moments_of(probs)
        return _from_moments(probs, moments, det, self.seed)


def _moments_of(probs: torch.Tensor) -> _Moments:
    """Moments of passes [T, N, C], in chunks of points."""
    step = max(64, CHUNK_ELEMENTS // (probs.shape[0] * probs.shape[2]))
    parts = [_Moments.of(probs[:, s : s + step].transpose(1, 2)) for s in range(0, probs.shape[1], step)]
    return _cat_moments(parts)


def _from_moments(probs: torch.Tensor, m: _Moments, det: np.ndarray, seed: int) -> MCPrediction:
    mean = m.mean.t().cpu().numpy()
    h = entropy(mean)
    expected = m.entropy_sum.cpu().numpy() / m.count
    return _prediction(
        probs.cpu().numpy(), mean, np.sqrt(np.maximum(m.m2.t().cpu().numpy(), 0.0) / m.count),
        h, expected, np.maximum(h - expected, 0.0), det, seed,
    )


def _prediction(probs, mean, std, h, expected, mi, det, seed) -> MCPrediction:
    f32 = lambda a: read_only(np.asarray(a, dtype=np.float32))  # noqa: E731
    return MCPrediction(f32(probs), f32(mean), f32(std), f32(h), f32(expected), f32(mi), f32(det), int(seed))


# -- the public calls ---------------------------------------------------------------------------
MAX_T = 10_000
"""Most passes one call takes: far above any control (200), well below what would hold a worker for minutes."""


def check_passes(T: Any) -> int:
    """``T`` as a whole number of passes in [1, MAX_T], or a ValueError that says so."""
    # the range first: NaN and inf fail it, and int(T) of a number past it could overflow
    if isinstance(T, bool) or not isinstance(T, (int, float, np.integer)) or not 1 <= T <= MAX_T or T != int(T):
        raise ValueError(f"T must be a whole number of passes from 1 to {MAX_T}, got {T!r}")
    return int(T)


def mc_predict(model: nn.Module | FrozenMLP, X: Any, T: int = DEFAULT_T, *, seed: int = 0) -> MCPrediction:
    """T passes over inputs ``X`` [N, D], one mask per pass shared by all the inputs (module docstring).
    A model with a dropout variant other than the standard one cannot be thinned: it goes through
    ``mc_predict_reference`` (its own modules, a fresh mask per input and pass) instead."""
    T = check_passes(T)
    if not isinstance(model, FrozenMLP) and uses_variants(model):
        return mc_predict_reference(model, X, T, seed=seed)
    state = MapState(freeze(model), X, seed)
    state.extend(T)
    return state.prediction(T)


def deterministic_predict(model: nn.Module | FrozenMLP, X: Any) -> np.ndarray:
    """Weight scaling: class probabilities [N, C] with dropout off (classic dropout scales by keep)."""
    net = freeze(model)
    with torch.no_grad():
        logits = run_linears(net, 0, len(net.linears), as_points(X, net).t(), scale_eval=True)
    return read_only(torch.softmax(logits, 0).t().cpu().numpy())


def mc_predict_reference(model: nn.Module, X: Any, T: int = DEFAULT_T, *, seed: int = 0) -> MCPrediction:
    """The textbook way, slowly: ``mc_mode`` and T full forward passes, a fresh mask for every
    input in every pass, from a generator seeded with ``seed``. ``deterministic`` is the
    model's own ``eval_mode`` output. Every mode, MC flag, generator and last mask of the model
    is restored afterwards (a trainer's mask generator is not advanced)."""
    device = next(model.parameters()).device
    X = torch.as_tensor(np.asarray(X, dtype=np.float32) if not isinstance(X, torch.Tensor) else X).to(device)
    training = [(m, m.training) for m in model.modules()]
    drops = [(d, d.mc, d.generator, d.last_mask) for d in dropout_modules(model)]
    generator = torch.Generator(device=device).manual_seed(int(seed))
    try:
        with torch.no_grad():
            mc_mode(model)
            for d, *_ in drops:
                d.generator = generator
            probs = torch.stack([model(X).float().softmax(-1) for _ in range(T)])
            eval_mode(model)
            det = model(X).float().softmax(-1)
    finally:
        for m, flag in training:
            m.training = flag
        for d, mc, gen, mask in drops:
            d.mc, d.generator, d.last_mask = mc, gen, mask
    return _from_moments(probs, _moments_of(probs), det.cpu().numpy(), seed)


def cache_key(model: nn.Module | FrozenMLP, X: Any, *, seed: int = 0, version: Hashable | None = None) -> tuple:
    """What ``MCMapCache`` compares to decide that nothing changed: the weights, the drop
    probabilities, classic flags and activations, the inputs' bytes and the seed.

    The weights are ``("version", version)`` when the caller gives a version (say
    ``(run_id, trainer.step_count)``; equal versions must mean equal weights and BatchNorm
    statistics, and nothing is read from the weights), else ``("weights", fingerprint)``, a
    hash of all of them (about 0.1 ms for the default model)."""
    if version is not None:
        settings = dropout_settings(model) if isinstance(model, nn.Module) else (model.p, model.classic, model.activations)
        weights: tuple = ("version", version, *settings)
    else:
        weights = ("weights", freeze(model).fingerprint)
    points = np.ascontiguousarray(X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else X, dtype=np.float32)
    grid = (points.shape, hashlib.blake2b(memoryview(points), digest_size=16).hexdigest())
    return weights, grid, int(seed)


class MCMapCache:
    """The last map, kept: ``predict`` with an unchanged ``cache_key`` and the same T returns the
    same ``MCPrediction`` object; a larger T runs only the new passes (the first ones are
    kept, masks depend on (seed, t) only); a smaller T summarises the first T kept passes.
    A changed key starts afresh. ``passes_computed`` counts the stochastic passes run, ``hits``
    the calls that ran none. Safe to share between threads (one computation at a time).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._state: MapState | None = None
        self.passes_computed = 0
        self.hits = 0

    def predict(self, model: nn.Module | FrozenMLP, X: Any, T: int = DEFAULT_T, *, seed: int = 0,
                version: Hashable | None = None) -> MCPrediction:
        T = check_passes(T)
        model = freeze(model) if version is None else model  # the fingerprint needs the frozen copy anyway
        key = cache_key(model, X, seed=seed, version=version)
        with self._lock:
            if key != self._key or self._state is None:
                self._state, self._key = MapState(freeze(model), X, seed), key
            ran = self._state.extend(T)
            self.passes_computed += ran
            self.hits += ran == 0
            return self._state.prediction(T)

    def clear(self) -> None:
        with self._lock:
            self._key, self._state = None, None
