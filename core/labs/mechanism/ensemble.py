"""Lesson 1, the ensemble view: a dropout network as 2^n thinned networks that share weights.

A network with n droppable units trains, one minibatch at a time, 2^n thinned networks that all
share its weights. At test time the weight scaling rule (``eval_mode``: every unit on, nothing
dropped, survivors' 1/keep already folded into training) stands in for averaging all of them
(Srivastava et al. 2014; Hinton et al. 2012). This module measures how good a stand-in it is on
a small trained MLP: it samples K thinned networks (the MC code's passes,
``core.analysis.thinned`` through ``core.analysis.mc.MapState``: pass t is one mask per dropout
layer, shared by every point, from (seed, t) alone; K = 2K' adds passes to the first K'), and
combines their class probabilities two ways over the validation set:

- the **arithmetic mean** ``1/K sum_k p_k`` (what MC dropout reports);
- the **normalized geometric mean** ``softmax(1/K sum_k log p_k)``, which for a softmax output is
  ``softmax(1/K sum_k z_k)``: the thinned networks' logits averaged.

Both are compared with the full network's weight-scaled prediction. The known fact behind the
comparison: where dropout acts only on the input of one linear layer followed by a softmax, the
logits are linear in the mask, so averaging the logits over every mask (weighted by its
probability) gives the weight-scaled logits exactly, and the normalized geometric mean of all
2^n thinned networks IS the weight-scaled network (Hinton et al. 2012, one hidden layer and a
softmax output). ``exact_check`` verifies this on a trained one-hidden-layer network by
enumerating all of its masks. With ReLU hidden layers after a dropout the logits are no longer
linear in the masks and the rule is an approximation; ``ensemble_view`` measures how close.

Everything returned is plain data (floats, tuples, frozen dataclasses with ``to_json``).
Nothing here draws, prints or imports Streamlit. Seeded: equal requests give equal results.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch

from core.analysis.mc import MapState, deterministic_predict
from core.analysis.thinned import freeze, pass_logits, thinned_pass
from core.engine.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine.plain import strict_json
from core.engine.trainer import Trainer

P_CHOICES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
"""Drop probabilities the section offers."""
K_MAX_CHOICES = (16, 64, 256, 1024)
"""Largest numbers of thinned networks the section offers (powers of two: K doubles from 1)."""
MAX_SEED = 99
WIDTHS = (32, 32)
"""The main network: 2-32-32-2, ReLU, dropout p after each hidden layer (not on the inputs)."""
EXACT_WIDTH = 12
"""The exact case: one hidden layer of 12 ReLU units, dropout after it: 2^12 = 4,096 masks, all enumerated."""
EPOCHS = 60


@dataclass(frozen=True)
class EnsembleRequest:
    """What the section asks for: drop probability ``p``, ``seed`` (data, initial weights, training
    masks and the sampled thinned networks), and ``k_max``, the most thinned networks averaged."""

    p: float = 0.5
    seed: int = 0
    k_max: int = 256

    def __post_init__(self) -> None:
        if isinstance(self.p, bool) or not isinstance(self.p, (int, float)) or \
                not any(math.isclose(self.p, c) for c in P_CHOICES):
            raise ConfigError(f"p must be one of {', '.join(f'{c:g}' for c in P_CHOICES)}, got {self.p!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or \
                not 0 <= self.seed <= MAX_SEED:
            raise ConfigError(f"seed must be a whole number from 0 to {MAX_SEED}, got {self.seed!r}")
        if isinstance(self.k_max, bool) or self.k_max not in K_MAX_CHOICES:
            raise ConfigError(f"k_max must be one of {', '.join(map(str, K_MAX_CHOICES))}, got {self.k_max!r}")
        object.__setattr__(self, "p", float(self.p))
        object.__setattr__(self, "seed", int(self.seed))
        object.__setattr__(self, "k_max", int(self.k_max))

    @property
    def ks(self) -> tuple[int, ...]:
        """1, 2, 4, ... k_max."""
        return tuple(2**i for i in range(int(math.log2(self.k_max)) + 1))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EnsembleRequest:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**data)


def run_config(request: EnsembleRequest, widths: tuple[int, ...] = WIDTHS) -> RunConfig:
    """Moons (noise 0.3, 300 training and 400 validation points), Adam at lr 0.01, batches of 32,
    60 epochs on the CPU: about a second per network. The same data as lesson 1's other networks
    at seed 0."""
    return RunConfig(
        DataConfig(dataset="moons", noise=0.3, n_train=300, n_val=400, seed=request.seed),
        ModelConfig(num_hiddens=widths, p_hidden=(request.p,) * len(widths)),
        TrainConfig(lr=0.01, batch_size=32, max_epochs=EPOCHS, device="cpu"),
    )


def train(cfg: RunConfig) -> Trainer:
    trainer = Trainer(cfg, evaluate=False)
    while not trainer.finished:
        trainer.step()
    return trainer


# -- the results ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scores:
    """One combined prediction on the validation set: accuracy, log loss (nats), and against the full
    network: ``gap`` = mean |P(class) - P_full(class)| over points and classes (for two classes, the
    mean |difference in P(blue)|), ``flips`` = share of points whose predicted class differs;
    ``confidence`` = the mean probability of the predicted class."""

    accuracy: float
    log_loss: float
    confidence: float
    gap: float
    flips: float


@dataclass(frozen=True)
class ExactCheck:
    """The one-hidden-layer network, every mask enumerated (each weighted by its probability):
    ``geometric_gap_max`` is the largest |P_geo - P_full| over points and classes, float64 (rounding
    only); ``arithmetic_gap_max`` and ``arithmetic_gap_mean`` the same for the arithmetic mean."""

    n_units: int
    n_masks: int
    geometric_gap_max: float
    arithmetic_gap_max: float
    arithmetic_gap_mean: float


@dataclass(frozen=True)
class EnsembleResult:
    """``arithmetic[i]``, ``geometric[i]``: the first ``ks[i]`` thinned networks combined; ``full``: the
    weight-scaled network (its ``gap`` and ``flips`` are 0). ``n_units`` droppable units, so
    ``2 ** n_units`` thinned networks; ``n_val`` validation points; ``exact``: the linear + softmax case."""

    request: EnsembleRequest
    ks: tuple[int, ...]
    n_units: int
    n_val: int
    full: Scores
    arithmetic: tuple[Scores, ...]
    geometric: tuple[Scores, ...]
    exact: ExactCheck
    cancelled: bool = False

    @property
    def n_thinned(self) -> int:
        return 2**self.n_units

    def series(self, kind: str, metric: str) -> list[float]:
        """One metric of ``arithmetic`` or ``geometric`` over ``ks``."""
        return [getattr(s, metric) for s in getattr(self, kind)]

    def at(self, k: int) -> tuple[Scores, Scores]:
        """(arithmetic, geometric) at ``k`` thinned networks."""
        i = self.ks.index(k)
        return self.arithmetic[i], self.geometric[i]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["n_thinned"] = str(self.n_thinned)  # 2^64 is past what a JSON reader's float keeps exactly
        return strict_json(data)


# -- the measurements -----------------------------------------------------------------------------
def thinned_logits(model: Any, X: Any, K: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of the first K sampled thinned networks [K, N, C] and of the weight-scaled network [N, C],
    float64. The masks are exactly ``core.analysis.mc.mc_predict``'s for the same seed."""
    net = freeze(model)
    state = MapState(net, X, seed)
    full = state.det_logits.t().double()
    if state.first is None:  # p = 0: every thinned network is the full one
        return full.expand(K, *full.shape), full
    passes = [thinned_pass(net, state.first, seed, t) for t in range(K)]
    out = torch.empty(K, full.shape[0], full.shape[1], dtype=torch.float64)
    with torch.no_grad():
        for start, stop, Z in pass_logits(net, state.first, state.H, passes):
            out[:, start:stop] = Z.transpose(1, 2).double()
    return out, full


def _scores(log_probs: torch.Tensor, y: torch.Tensor, full_probs: torch.Tensor) -> Scores:
    """From log-probabilities [N, C] (float64)."""
    probs = log_probs.exp()
    return Scores(
        accuracy=float((probs.argmax(1) == y).double().mean()),
        log_loss=float(-log_probs.gather(1, y[:, None]).mean()),
        confidence=float(probs.max(1).values.mean()),
        gap=float((probs - full_probs).abs().mean()),
        flips=float((probs.argmax(1) != full_probs.argmax(1)).double().mean()),
    )


def arithmetic_log_mean(log_probs: torch.Tensor) -> torch.Tensor:
    """log of (1/K sum_k p_k), from per-network log-probabilities [K, N, C], without underflow."""
    return torch.logsumexp(log_probs, 0) - math.log(log_probs.shape[0])


def geometric_log_mean(log_probs: torch.Tensor) -> torch.Tensor:
    """log of the normalized geometric mean softmax(1/K sum_k log p_k), from [K, N, C]."""
    return torch.log_softmax(log_probs.mean(0), -1)


def compare(model: Any, X: Any, y: Any, ks: tuple[int, ...], seed: int) -> tuple[Scores, list[Scores], list[Scores]]:
    """The full network's scores, then the arithmetic and geometric means' at each K of ``ks`` (nested)."""
    logits, full = thinned_logits(model, X, max(ks), seed)
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    log_p = torch.log_softmax(logits, -1)
    full_log_p = torch.log_softmax(full, -1)
    full_probs = full_log_p.exp()
    arithmetic = [_scores(arithmetic_log_mean(log_p[:k]), y, full_probs) for k in ks]
    geometric = [_scores(geometric_log_mean(log_p[:k]), y, full_probs) for k in ks]
    return _scores(full_log_p, y, full_probs), arithmetic, geometric


def all_masks(n: int) -> np.ndarray:
    """Every keep-mask over n units [2^n, n] (True = kept)."""
    if not 1 <= n <= 16:
        raise ValueError(f"enumerating 2^n masks needs 1 <= n <= 16, got {n}")
    return np.array(list(itertools.product((False, True), repeat=n)), dtype=bool)


def exact_means(h: np.ndarray, weight: np.ndarray, bias: np.ndarray, p: float) -> dict[str, np.ndarray]:
    """Dropout (inverted, drop probability p) on units ``h`` [N, n], then ``weight`` [C, n], ``bias`` [C]
    and a softmax, averaged over all 2^n masks, each weighted by its probability ``keep^kept p^dropped``:
    the arithmetic mean, the normalized geometric mean and the weight-scaled prediction [N, C], float64."""
    h, weight, bias = (np.asarray(a, np.float64) for a in (h, weight, bias))
    masks = all_masks(h.shape[1])
    keep = 1.0 - p
    kept = masks.sum(1)
    prob = keep**kept * p ** (masks.shape[1] - kept)  # sums to 1
    H = torch.from_numpy(masks / keep)[:, None, :] * torch.from_numpy(h)[None]  # [M, N, n]
    logits = H @ torch.from_numpy(weight).t() + torch.from_numpy(bias)  # [M, N, C]
    w = torch.from_numpy(prob)[:, None, None]
    log_p = torch.log_softmax(logits, -1)
    arithmetic = (w * log_p.exp()).sum(0)
    geometric = torch.softmax((w * log_p).sum(0), -1)
    full = torch.softmax(torch.from_numpy(h @ weight.T + bias), -1)
    return {"arithmetic": arithmetic.numpy(), "geometric": geometric.numpy(), "full": full.numpy()}


def exact_check(request: EnsembleRequest, width: int = EXACT_WIDTH) -> ExactCheck:
    """Train the one-hidden-layer network at the request's p and seed; enumerate all its 2^width masks."""
    trainer = train(run_config(request, (width,)))
    net = freeze(trainer.model)
    (w1, b1), (w2, b2) = (tuple(t.double().numpy() for t in lin) for lin in net.linears)
    X = trainer.X_val.double().numpy()
    h = np.maximum(X @ w1.T + b1, 0.0)  # the hidden layer's ReLU output: what the one dropout sees
    means = exact_means(h, w2, b2, request.p)
    geo = np.abs(means["geometric"] - means["full"])
    arith = np.abs(means["arithmetic"] - means["full"])
    full_net = deterministic_predict(trainer.model, trainer.X_val)  # the app's own weight-scaled pass
    if not np.allclose(full_net, means["full"], atol=1e-5):
        raise RuntimeError("the enumerated network's full prediction disagrees with the model's eval_mode")
    return ExactCheck(width, 2**width, float(geo.max()), float(arith.max()), float(arith.mean()))


def ensemble_view(request: EnsembleRequest) -> EnsembleResult:
    """Train the 2-32-32-2 network at ``request.p`` and ``request.seed``; compare the arithmetic and
    geometric means of K = 1, 2, 4, ... ``k_max`` of its thinned networks with the full network on the
    400 validation points; add the exact linear + softmax check."""
    trainer = train(run_config(request))
    ks = request.ks
    full, arithmetic, geometric = compare(trainer.model, trainer.X_val, trainer.y_val, ks, request.seed)
    return EnsembleResult(request, ks, sum(WIDTHS), len(trainer.y_val), full, tuple(arithmetic), tuple(geometric),
                          exact_check(request))


def ensemble_work(request: EnsembleRequest) -> float:
    """Estimated multiply-adds: two trainings (60 epochs of 300 points, forward and backward), the passes."""
    weights = 2 * 32 + 32 * 32 + 32 * 2
    exact = 2 * EXACT_WIDTH + EXACT_WIDTH * 2
    training = EPOCHS * 300 * 3 * (weights + exact)
    return float(training + request.k_max * 400 * weights + 2**EXACT_WIDTH * 400 * exact)
