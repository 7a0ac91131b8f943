"""Monte-Carlo dropout for classification: T stochastic passes, their spread, calibration.

Gal and Ghahramani (2016) keep dropout on at test time and read T stochastic forward
passes as samples from an approximate posterior predictive. Only dropout is stochastic;
BatchNorm and the rest evaluate, as ``core.dropout.mc_mode`` sets. For one input with
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

**Why it is fast.** Everything before the first dropout with p > 0 is deterministic and is
computed once per input set (with ``p_input = 0``: the first Linear and its activation).
Each pass then runs a *thinned* network: the rows and columns of dropped units are left out
of the weights (survivors' scale ``1/keep`` folded in; classic dropout: no scale), so a pass
at p = 0.5 does about a quarter of the hidden-to-hidden multiply-adds, in float32. Points go
in chunks of a few thousand that stay in cache while all T passes and the per-point
statistics run over them. BatchNorm (evaluating) is folded into its Linear. ``MCMapCache``
keeps the last map: a redraw with nothing changed returns the same object, a larger T runs
only the new passes.

**Models and threads.** Everything reads a ``FrozenMLP`` (``freeze``): a copy of the weights
(BatchNorm folded), drop probabilities, classic flags and activations, taken without
touching any mode, generator or mask of the model. Nothing here changes a model except
``mc_predict_reference``, which restores every mode, generator and mask it touched. A model
that another thread trains must be frozen in that thread between two steps; the frozen copy
may then be used anywhere. Forward hooks (a knock-out) are not applied.

Everything returned is plain data: floats, read-only numpy arrays, frozen dataclasses.
Nothing here draws, prints or imports Streamlit.
"""
from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.special import entr
from torch import nn

from core.dropout import Dropout, dropout_modules, eval_mode, mc_mode

DEFAULT_T = 50
"""Stochastic passes per map unless told otherwise."""
FIG11_TS = (1, 2, 5, 10, 20, 50, 100)
"""The numbers of passes ``mc_vs_weight_scaling`` compares by default."""
CHUNK_ELEMENTS = 1 << 19
"""Values (512 K floats, 2 MB: one core's L2 here) in a chunk of points' activations or logits. On the
default model (128 units) that is 4,096 points. Measured on a 200x200 map, T = 50, 1 thread: chunks of
1,024-8,192 points 0.25-0.26 s; each pass over the whole map at once (10 MB per activation) 0.41 s; all
passes stacked into batched matmuls padded to the largest kept count 0.39-0.46 s."""
PROBE_BINS = np.linspace(0.0, 1.0, 21)
"""Histogram edges for a point probe's probabilities: width 0.05."""
PROBE_BINS.setflags(write=False)
_KEPT_RESULTS = 8  # summaries kept per map, one per T asked for

_ACTIVATIONS: dict[type, Callable[[nn.Module], str]] = {
    nn.ReLU: lambda m: "relu",
    nn.Tanh: lambda m: "tanh",
    nn.Sigmoid: lambda m: "sigmoid",
    nn.SELU: lambda m: "selu",
    nn.GELU: lambda m: "gelu" if m.approximate == "none" else "gelu_tanh",
}
_IN_PLACE: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": torch.relu_,
    "tanh": torch.tanh_,
    "sigmoid": torch.sigmoid_,
    "selu": lambda z: F.selu(z, inplace=True),
    "gelu": F.gelu,
    "gelu_tanh": lambda z: F.gelu(z, approximate="tanh"),
}


def _frozen(a: Any) -> np.ndarray:
    a = np.asarray(a)
    a.setflags(write=False)
    return a


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


# -- the network, frozen ------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FrozenMLP:
    """What the MC engine reads from an MLP, copied: Linear i takes dropout i's output.

    ``linears[i] = (weight [out, in], bias [out])`` (BatchNorm folded in), input side first, the
    output layer last; ``activations[i]`` follows hidden Linear i. ``p[i]`` and ``classic[i]`` are
    dropout i's: the input dropout first, then one per hidden layer. ``fingerprint`` is a hash of
    all of it: equal fingerprints, equal predictions.
    """

    linears: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    activations: tuple[str, ...]
    p: tuple[float, ...]
    classic: tuple[bool, ...]
    fingerprint: str

    @property
    def widths(self) -> tuple[int, ...]:
        """The width each dropout sees: inputs, then each hidden layer."""
        return tuple(w.shape[1] for w, _ in self.linears)

    @property
    def num_classes(self) -> int:
        return int(self.linears[-1][0].shape[0])

    @property
    def device(self) -> torch.device:
        return self.linears[0][0].device


def _hidden_layers(model: nn.Module) -> list[list[nn.Module]]:
    """``model.hidden`` cut into [Linear, (BatchNorm1d), activation, Dropout] groups."""
    layers: list[list[nn.Module]] = [[]]
    for module in model.hidden:
        layers[-1].append(module)
        if isinstance(module, Dropout):
            layers.append([])
    if layers.pop():
        raise ValueError("the last hidden layer must end with a Dropout module")
    for layer in layers:
        shape_ok = isinstance(layer[0], nn.Linear) and len(layer) in (3, 4) and type(layer[-2]) in _ACTIVATIONS
        if not shape_ok or (len(layer) == 4 and not isinstance(layer[1], nn.BatchNorm1d)):
            raise ValueError("expected hidden layers of the form [Linear, (BatchNorm1d), activation, Dropout] "
                             f"with an activation among {', '.join(t.__name__ for t in _ACTIVATIONS)}")
    return layers


def _settings(model: nn.Module) -> tuple[tuple[float, ...], tuple[bool, ...], tuple[str, ...]]:
    layers = _hidden_layers(model)
    drops = [model.input_dropout] + [layer[-1] for layer in layers]
    acts = tuple(_ACTIVATIONS[type(layer[-2])](layer[-2]) for layer in layers)
    return tuple(d.p for d in drops), tuple(bool(d.classic) for d in drops), acts


def _linear(linear: nn.Linear, bn: nn.Module | None) -> tuple[torch.Tensor, torch.Tensor]:
    weight = linear.weight.detach().to(torch.float32, copy=True)
    bias = torch.zeros(weight.shape[0], device=weight.device) if linear.bias is None else linear.bias.detach()
    bias = bias.to(torch.float32, copy=True)
    if bn is not None:  # evaluating BatchNorm is a per-unit affine map: fold it into the Linear
        if bn.running_mean is None:
            raise ValueError("BatchNorm without running statistics depends on the batch: no MC map")
        scale = torch.rsqrt(bn.running_var.detach().float() + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight.detach().float()
        shift = -bn.running_mean.detach().float() * scale
        if bn.bias is not None:
            shift = shift + bn.bias.detach().float()
        weight, bias = weight * scale[:, None], bias * scale + shift
    return weight.contiguous(), bias.contiguous()


@torch.no_grad()
def freeze(model: nn.Module | FrozenMLP) -> FrozenMLP:
    """Copy what MC inference needs from ``model`` (an MLP of ``core.models``); touches no mode."""
    if isinstance(model, FrozenMLP):
        return model
    p, classic, acts = _settings(model)
    linears = [_linear(layer[0], layer[1] if len(layer) == 4 else None) for layer in _hidden_layers(model)]
    linears.append(_linear(model.out, None))
    digest = hashlib.blake2b(repr((p, classic, acts)).encode(), digest_size=16)
    for weight, bias in linears:
        for tensor in (weight, bias):
            digest.update(repr(tuple(tensor.shape)).encode())
            digest.update(memoryview(tensor.cpu().numpy()))
    return FrozenMLP(tuple(linears), acts, p, classic, digest.hexdigest())


# -- passes ---------------------------------------------------------------------------------------
def _first_stochastic(net: FrozenMLP) -> int | None:
    return next((i for i, p in enumerate(net.p) if p > 0), None)


def _as_points(X: Any, net: FrozenMLP) -> torch.Tensor:
    X = torch.as_tensor(np.asarray(X, dtype=np.float32) if not isinstance(X, torch.Tensor) else X)
    X = X.to(device=net.device, dtype=torch.float32)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] != net.widths[0]:
        raise ValueError(f"inputs must be [N >= 1, {net.widths[0]}], got shape {tuple(X.shape)}")
    return X


def _run(net: FrozenMLP, first: int, last: int, G: torch.Tensor, scale_eval: bool = False) -> torch.Tensor:
    """Linears ``first..last-1`` (activations after hidden ones) on features-major ``G`` [width, n].
    ``scale_eval``: multiply each input by dropout's evaluation factor (classic: keep)."""
    for i in range(first, last):
        weight, bias = net.linears[i]
        if scale_eval and net.classic[i] and net.p[i] > 0:
            weight = weight * (1.0 - net.p[i])
        G = torch.addmm(bias[:, None], weight, G)
        if i < len(net.activations):
            G = _IN_PLACE[net.activations[i]](G)
    return G


def _keep_scale(net: FrozenMLP, i: int) -> float:
    """What dropout i multiplies its survivors by while sampling: 1/keep (inverted) or 1 (classic)."""
    return 1.0 if net.classic[i] else 1.0 / (1.0 - net.p[i])


def _thinned_pass(net: FrozenMLP, first: int, seed: int, t: int) -> tuple[torch.Tensor, list]:
    """Pass t's sampled network from dropout ``first`` on: the kept units of dropout ``first``
    and, per Linear, (weight, bias column, activation) with dropped rows and columns left out.
    Dropout i keeps unit k when a uniform draw is >= p[i]; the draws come from (seed, t) only."""
    rng = np.random.default_rng([seed, t])
    keep: list[torch.Tensor | None] = []
    for i in range(first, len(net.p)):
        draws = rng.random(net.widths[i]) if net.p[i] > 0 else None
        keep.append(None if draws is None else torch.from_numpy(np.flatnonzero(draws >= net.p[i])).to(net.device))
    layers = []
    for i in range(first, len(net.linears)):
        weight, bias = net.linears[i]
        rows = keep[i + 1 - first] if i + 1 < len(net.linears) else None
        if rows is not None:
            weight, bias = weight.index_select(0, rows), bias.index_select(0, rows)
        if keep[i - first] is not None:
            weight = weight.index_select(1, keep[i - first]) * _keep_scale(net, i)
        act = _IN_PLACE[net.activations[i]] if i < len(net.activations) else None
        layers.append((weight, bias[:, None], act))
    return keep[0], layers


def _chunk_size(net: FrozenMLP, passes: int) -> int:
    return max(64, CHUNK_ELEMENTS // max(max(net.widths), passes * net.num_classes))


def _pass_logits(net: FrozenMLP, first: int, H: torch.Tensor, passes: list) -> Iterator[tuple[int, int, torch.Tensor]]:
    """For each chunk of points: ``(start, stop, logits [len(passes), C, stop - start])``."""
    n = H.shape[1]
    step = _chunk_size(net, len(passes))
    for start in range(0, n, step):
        stop = min(n, start + step)
        chunk = H[:, start:stop]
        Z = torch.empty(len(passes), net.num_classes, stop - start, device=H.device)
        for t, (keep, layers) in enumerate(passes):
            G = chunk.index_select(0, keep) if keep is not None else chunk
            for weight, bias, act in layers[:-1]:
                G = act(torch.addmm(bias, weight, G))
            weight, bias, _ = layers[-1]
            torch.addmm(bias, weight, G, out=Z[t])
        yield start, stop, Z


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


class _MapState:
    """The passes run so far over one input set with one frozen network and seed."""

    def __init__(self, net: FrozenMLP, X: Any, seed: int):
        if int(seed) < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.net, self.seed = net, int(seed)
        self.first = _first_stochastic(net)
        start = len(net.p) - 1 if self.first is None else self.first
        with torch.no_grad():
            self.H = _run(net, 0, start, _as_points(X, net).t())  # dropout `start`'s input [width, N]
            self.det_logits = _run(net, start, len(net.linears), self.H, scale_eval=True)  # [C, N]
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
        passes = [_thinned_pass(self.net, self.first, self.seed, t) for t in range(self.count, T)]
        new = torch.empty(len(passes), self.H.shape[1], self.net.num_classes, device=self.H.device)
        parts = []
        for start, stop, Z in _pass_logits(self.net, self.first, self.H, passes):
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
    f32 = lambda a: _frozen(np.asarray(a, dtype=np.float32))  # noqa: E731
    return MCPrediction(f32(probs), f32(mean), f32(std), f32(h), f32(expected), f32(mi), f32(det), int(seed))


# -- the public calls ---------------------------------------------------------------------------
def mc_predict(model: nn.Module | FrozenMLP, X: Any, T: int = DEFAULT_T, *, seed: int = 0) -> MCPrediction:
    """T passes over inputs ``X`` [N, D], one mask per pass shared by all the inputs (module docstring)."""
    if T < 1:
        raise ValueError(f"T must be at least 1, got {T}")
    state = _MapState(freeze(model), X, seed)
    state.extend(T)
    return state.prediction(T)


def deterministic_predict(model: nn.Module | FrozenMLP, X: Any) -> np.ndarray:
    """Weight scaling: class probabilities [N, C] with dropout off (classic dropout scales by keep)."""
    net = freeze(model)
    with torch.no_grad():
        logits = _run(net, 0, len(net.linears), _as_points(X, net).t(), scale_eval=True)
    return _frozen(torch.softmax(logits, 0).t().cpu().numpy())


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
        settings = _settings(model) if isinstance(model, nn.Module) else (model.p, model.classic, model.activations)
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
        self._state: _MapState | None = None
        self.passes_computed = 0
        self.hits = 0

    def predict(self, model: nn.Module | FrozenMLP, X: Any, T: int = DEFAULT_T, *, seed: int = 0,
                version: Hashable | None = None) -> MCPrediction:
        if T < 1:
            raise ValueError(f"T must be at least 1, got {T}")
        model = freeze(model) if version is None else model  # the fingerprint needs the frozen copy anyway
        key = cache_key(model, X, seed=seed, version=version)
        with self._lock:
            if key != self._key or self._state is None:
                self._state, self._key = _MapState(freeze(model), X, seed), key
            ran = self._state.extend(T)
            self.passes_computed += ran
            self.hits += ran == 0
            return self._state.prediction(T)

    def clear(self) -> None:
        with self._lock:
            self._key, self._state = None, None


# -- MC averaging against weight scaling as T grows --------------------------------------------
@dataclass(frozen=True, eq=False)
class MCAveraging:
    """Srivastava et al. (2014), Figure 11: the MC average of T passes against weight scaling.

    ``acc[r, k]`` and ``loss[r, k]`` are the accuracy and mean log-loss (natural log) on the set
    of the mean of ``T[k]`` passes, in repeat r; repeats use disjoint, independent passes
    (within a repeat, T = 10 extends T = 5). ``ws_acc``/``ws_loss``: the deterministic network.
    """

    T: np.ndarray  # [K]
    acc: np.ndarray  # [R, K]
    loss: np.ndarray  # [R, K]
    ws_acc: float
    ws_loss: float

    @property
    def repeats(self) -> int:
        return int(self.acc.shape[0])

    def _se(self, a: np.ndarray) -> np.ndarray:
        return a.std(0, ddof=1) / math.sqrt(self.repeats) if self.repeats > 1 else np.full(a.shape[1], np.nan)

    @property
    def acc_mean(self) -> np.ndarray:
        return self.acc.mean(0)

    @property
    def acc_se(self) -> np.ndarray:
        """Standard error of ``acc_mean`` over the repeats (NaN with one repeat)."""
        return self._se(self.acc)

    @property
    def loss_mean(self) -> np.ndarray:
        return self.loss.mean(0)

    @property
    def loss_se(self) -> np.ndarray:
        return self._se(self.loss)


@torch.no_grad()
def mc_vs_weight_scaling(
    model: nn.Module | FrozenMLP, X: Any, y: Any, Ts: Sequence[int] = FIG11_TS, *, repeats: int = 10, seed: int = 0
) -> MCAveraging:
    """Accuracy and log-loss on (X, y) of the MC average for each T in ``Ts``, ``repeats`` times,
    next to weight scaling. Runs ``repeats * max(Ts)`` passes (one mask per pass, shared)."""
    Ts = sorted({int(t) for t in Ts})
    if not Ts or Ts[0] < 1 or repeats < 1:
        raise ValueError(f"Ts must be positive and repeats at least 1, got {Ts} and {repeats}")
    state = _MapState(freeze(model), X, seed)
    y = torch.as_tensor(np.asarray(y, dtype=np.int64)).to(state.H.device)
    if y.shape != (state.H.shape[1],):
        raise ValueError(f"need one label per input: {state.H.shape[1]} inputs, labels of shape {tuple(y.shape)}")
    ws_logp = torch.log_softmax(state.det_logits, 0).double()
    ws_loss = float(-ws_logp.gather(0, y[None, :]).mean())
    ws_acc = float((state.deterministic.argmax(1) == y).double().mean())
    t_max, n = Ts[-1], int(y.shape[0])
    last = torch.tensor(Ts, device=y.device) - 1
    log_t = torch.log(torch.tensor(Ts, dtype=torch.float64, device=y.device))
    correct = torch.zeros(repeats, len(Ts), dtype=torch.float64, device=y.device)
    loss = torch.zeros_like(correct)
    if state.first is None:
        correct += ws_acc * n
        loss += ws_loss * n
    else:
        passes = [_thinned_pass(state.net, state.first, state.seed, t) for t in range(repeats * t_max)]
        for start, stop, Z in _pass_logits(state.net, state.first, state.H, passes):
            logp = torch.log_softmax(Z, 1).double().view(repeats, t_max, Z.shape[1], -1)  # [R, T, C, n]
            yc = y[start:stop]
            mean_p = logp.exp().cumsum(1).index_select(1, last)  # [R, K, C, n] (sums: same argmax)
            correct += (mean_p.argmax(2) == yc).double().sum(-1)
            logp_y = logp.gather(2, yc.expand(repeats, t_max, 1, -1)).squeeze(2)  # [R, T, n]
            log_mean = torch.logcumsumexp(logp_y, 1).index_select(1, last) - log_t[:, None]
            loss -= log_mean.sum(-1)
    return MCAveraging(_frozen(np.array(Ts)), _frozen((correct / n).cpu().numpy()), _frozen((loss / n).cpu().numpy()),
                       ws_acc, ws_loss)


# -- calibration --------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Reliability:
    """A reliability diagram's data: predictions binned by confidence (their largest class probability).

    Bin b holds confidences in ``[edges[b], edges[b+1])``, the last bin also 1. ``confidence``
    and ``accuracy`` are the bin's mean confidence and share of correct predictions (NaN for an
    empty bin), ``count`` its size. ``ece = sum_b count_b / N * |accuracy_b - confidence_b|``
    over the non-empty bins.
    """

    edges: np.ndarray  # [B + 1]
    confidence: np.ndarray  # [B]
    accuracy: np.ndarray  # [B]
    count: np.ndarray  # [B], int64
    ece: float


def reliability(probs: Any, y: Any, bins: int = 10) -> Reliability:
    """Reliability data and ECE of predictions ``probs`` [N, C] against labels ``y`` [N], ``bins`` equal bins."""
    probs, y = np.asarray(probs, dtype=np.float64), np.asarray(y)
    if probs.ndim != 2 or y.shape != probs.shape[:1] or bins < 1:
        raise ValueError(f"need probs [N, C], labels [N] and bins >= 1; got {probs.shape}, {y.shape}, {bins}")
    conf = probs.max(1)
    correct = (probs.argmax(1) == y).astype(np.float64)
    which = np.clip(np.floor(conf * bins).astype(np.int64), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, conf, bins) / count
        acc = np.bincount(which, correct, bins) / count
    full = count > 0
    ece = float(np.sum(count[full] / max(len(y), 1) * np.abs(acc[full] - mean_conf[full])))
    return Reliability(_frozen(np.arange(bins + 1) / bins), _frozen(mean_conf), _frozen(acc), _frozen(count), ece)


def expected_calibration_error(probs: Any, y: Any, bins: int = 10) -> float:
    """ECE with ``bins`` equal-width confidence bins (see ``Reliability``)."""
    return reliability(probs, y, bins).ece


# -- one input, closely -------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PointProbe:
    """The T passes at one input ``x``: ``probs`` [T, C] for a histogram, and its summaries.
    With the same seed these are exactly the passes a map shows at ``x``."""

    x: np.ndarray  # [D]
    probs: np.ndarray  # [T, C]
    deterministic: np.ndarray  # [C]
    mean: np.ndarray  # [C]
    std: np.ndarray  # [C]
    entropy: float
    mutual_info: float

    def histogram(self, cls: int = 1, edges: np.ndarray = PROBE_BINS) -> np.ndarray:
        """Counts of the T probabilities of class ``cls`` in ``edges`` (1 falls in the last bin)."""
        return np.histogram(self.probs[:, cls], bins=edges)[0].astype(np.int64)


def point_probe(model: nn.Module | FrozenMLP, x: Any, T: int = DEFAULT_T, *, seed: int = 0) -> PointProbe:
    """T passes at one input ``x`` [D]."""
    x = np.asarray(x, dtype=np.float32).reshape(1, -1)
    pred = mc_predict(model, x, T, seed=seed)
    return PointProbe(_frozen(x[0]), pred.probs[:, 0], pred.deterministic[0], pred.mean[0], pred.std[0],
                      float(pred.entropy[0]), float(pred.mutual_info[0]))
