"""How far to trust MC dropout's probabilities: Figure 11's averaging against weight scaling, reliability
and the expected calibration error, and one input looked at closely."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from core.analysis.mc import DEFAULT_T, FIG11_TS, PROBE_BINS, MapState, mc_predict
from core.analysis.thinned import FrozenMLP, freeze, pass_logits, thinned_pass
from core.engine.plain import read_only


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
    state = MapState(freeze(model), X, seed)
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
        passes = [thinned_pass(state.net, state.first, state.seed, t) for t in range(repeats * t_max)]
        for start, stop, Z in pass_logits(state.net, state.first, state.H, passes):
            logp = torch.log_softmax(Z, 1).double().view(repeats, t_max, Z.shape[1], -1)  # [R, T, C, n]
            yc = y[start:stop]
            mean_p = logp.exp().cumsum(1).index_select(1, last)  # [R, K, C, n] (sums: same argmax)
            correct += (mean_p.argmax(2) == yc).double().sum(-1)
            logp_y = logp.gather(2, yc.expand(repeats, t_max, 1, -1)).squeeze(2)  # [R, T, n]
            log_mean = torch.logcumsumexp(logp_y, 1).index_select(1, last) - log_t[:, None]
            loss -= log_mean.sum(-1)
    return MCAveraging(read_only(np.array(Ts)), read_only((correct / n).cpu().numpy()), read_only((loss / n).cpu().numpy()),
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

    @property
    def filled(self) -> int:
        """How many bins hold at least one prediction (of two classes, only those from 0.5 up can)."""
        return int(np.count_nonzero(self.count))

    def wrong_from(self, confidence: float) -> int:
        """Wrong predictions in the bins that start at ``confidence`` or above (``confidence``
        should be a bin edge, e.g. 0.9 with 10 bins: the predictions at least 0.9 sure)."""
        upper = (self.edges[:-1] >= confidence - 1e-12) & (self.count > 0)
        correct = np.rint(self.accuracy[upper] * self.count[upper])  # accuracy is correct / count
        return int(self.count[upper].sum() - correct.sum())


def reliability(probs: Any, y: Any, bins: int = 10) -> Reliability:
    """Reliability data and ECE of predictions ``probs`` [N, C] against labels ``y`` [N].

    ``bins`` equal-width bins over [0, 1] (10: [0, 0.1), ..., [0.9, 1]); a prediction's confidence
    (its largest probability) is never below 1/C, so with two classes only the bins from 0.5 up can
    fill, and with 10 bins at most five do."""
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
    return Reliability(read_only(np.arange(bins + 1) / bins), read_only(mean_conf), read_only(acc), read_only(count), ece)


def expected_calibration_error(probs: Any, y: Any, bins: int = 10) -> float:
    """ECE with ``bins`` equal-width confidence bins (see ``Reliability``)."""
    return reliability(probs, y, bins).ece


# -- all of it, as one job --------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class CalibrationRequest:
    """Figure 11 and the reliability of ``T`` passes on (X, y), for a job in a worker process."""

    model: FrozenMLP
    X: np.ndarray
    y: np.ndarray
    T: int
    Ts: tuple[int, ...] = FIG11_TS
    repeats: int = 10


@dataclass(frozen=True, eq=False)
class Calibration:
    averaging: MCAveraging
    deterministic: Reliability  # dropout off (weight scaling)
    mc: Reliability  # the mean of T passes
    cancelled: bool = False  # a job's result says whether it was stopped; this one is short


def calibrate(request: CalibrationRequest) -> Calibration:
    """``mc_vs_weight_scaling`` and both reliability diagrams, in one call."""
    averaging = mc_vs_weight_scaling(request.model, request.X, request.y, request.Ts, repeats=request.repeats)
    pred = mc_predict(request.model, request.X, request.T)
    return Calibration(averaging, reliability(pred.deterministic, request.y), reliability(pred.mean, request.y))


def calibration_work(request: CalibrationRequest) -> float:
    """Estimated multiply-adds: every pass over every input through the network's weights."""
    passes = request.repeats * max(request.Ts) + request.T
    weights = sum(int(w.numel()) for w, _ in request.model.linears)
    return float(passes * len(request.X) * weights)


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
    return PointProbe(read_only(x[0]), pred.probs[:, 0], pred.deterministic[0], pred.mean[0], pred.std[0],
                      float(pred.entropy[0]), float(pred.mutual_info[0]))
