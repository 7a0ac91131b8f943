"""The variance shift, per BatchNorm layer, measured against its closed form (lesson 8, part 1).

A multiplier ``m`` of mean 1 and variance ``s2`` (dropout: s2 = p / (1 - p)) on a unit ``h`` of mean
``mu`` and variance ``sigma2`` leaves the mean alone and raises the variance:

    Var[m h] = sigma2 + s2 (sigma2 + mu^2),   so   ratio = 1 + s2 (1 + mu^2 / sigma2),

which for dropout is ``(1 + p mu^2 / sigma2) / (1 - p)``: ``1 / (1 - p)`` for a zero-mean unit, more for a
ReLU's output, whose mean is not zero. The next BatchNorm reads ``z = W (m h) + b``; masks are
independent of each other and of the data, so only the diagonal terms grow:

    Var_train[z_j] = Var_eval[z_j] + s2 * sum_i W_ji^2 E[h_i^2].

The measurement: a network of ``core.labs.batchnorm.net`` trained for a few hundred steps on the digits,
then every image through it with its BatchNorm layers evaluating; at each block the ReLU's output ``h``
with the noise off (evaluation) and with ``repeats`` fresh masks per image (training), the next layer's
BatchNorm input both ways, and the two formulas from the moments of ``h``. Only the noise differs
between the two sides, so the gap between measured and predicted is mask sampling alone; its standard
error comes with each unit. ``stored`` is what the trained BatchNorm divides by at test time (its running
variance, learnt while training) over the variance it then sees: the shift as the network lives it,
compounded through the layers before (none when the network is untrained: its running statistics are
still their initial values).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from core.engine.config import ConfigError, JsonSettings, check_number
from core.engine.dropout import eval_mode
from core.engine.models import seeded
from core.engine.plain import strict_json
from core.engine.sweep import Progress
from core.labs.batchnorm.net import NOISES, BNNet, digits, fit, noise_variance

KEY = "bn-shift"
TITLE = "The variance shift, per BatchNorm layer"
MIN_SIGMA2 = 1e-6  # a unit whose ReLU is (almost) always off has no variance to compare


@dataclass(frozen=True)
class ShiftSettings(JsonSettings):
    p: float = 0.5
    width: int = 64
    depth: int = 3
    noise: str = "dropout"
    beta: float = 0.1  # uout's half-width
    train_steps: int = 300
    repeats: int = 4  # masks per image for the training-mode variance
    seed: int = 0

    def __post_init__(self) -> None:
        check_number("p", self.p, 0.0, 0.9)
        check_number("width", self.width, 8, 256, integer=True)
        check_number("depth", self.depth, 2, 5, integer=True)
        if self.noise not in NOISES:
            raise ConfigError(f"noise must be one of {', '.join(NOISES)}; got {self.noise!r}")
        check_number("beta", self.beta, 0.0, 1.0)
        check_number("train_steps", self.train_steps, 0, 3000, integer=True)
        check_number("repeats", self.repeats, 1, 16, integer=True)
        check_number("seed", self.seed, 0, 10_000, integer=True)

    @property
    def s2(self) -> float:
        return noise_variance(self.noise, self.p, self.beta)



def work(settings: ShiftSettings) -> float:
    per_example = 64 * settings.width + (settings.depth - 1) * settings.width ** 2 + settings.width * 10
    return float(per_example * (6 * 64 * settings.train_steps + 1797 * (2 + settings.repeats)))


@dataclass
class LayerShift:
    """One BatchNorm layer: ``measured``/``predicted`` per unit (ratio of training- to evaluation-mode
    input variance), ``z`` the gap in standard errors, ``stored`` the trained layer's running variance
    over the test-time variance; ``direct_*`` the same for the noise's own output, the block before."""

    layer: int
    reads_noise: bool
    measured: list[float] = field(default_factory=list)
    predicted: list[float] = field(default_factory=list)
    z: list[float] = field(default_factory=list)
    stored: list[float] = field(default_factory=list)
    direct_measured: list[float] = field(default_factory=list)
    direct_predicted: list[float] = field(default_factory=list)
    direct_z: list[float] = field(default_factory=list)

    def summary(self, s2: float) -> dict[str, Any]:
        def mean(values: list[float]) -> float:
            return float(np.mean(values)) if values else math.nan
        return {"layer": self.layer, "reads_noise": self.reads_noise, "units": len(self.measured),
                "measured": mean(self.measured), "predicted": mean(self.predicted),
                "zero_mean_form": 1.0 + s2 if self.reads_noise else 1.0,
                "max_abs_z": float(np.max(np.abs(self.z))) if self.z else math.nan,
                "direct_max_abs_z": float(np.max(np.abs(self.direct_z))) if self.direct_z else math.nan,
                "stored_over_test": mean(self.stored),
                "direct_measured": mean(self.direct_measured), "direct_predicted": mean(self.direct_predicted)}


@dataclass
class ShiftResult:
    settings: ShiftSettings
    layers: list[LayerShift]
    elapsed: float = 0.0
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        s2 = self.settings.s2
        return strict_json({"experiment": KEY, "title": TITLE, "config": self.settings.to_json(), "s2": s2,
                            "elapsed_s": round(self.elapsed, 3), "cancelled": self.cancelled,
                            "summary": [layer.summary(s2) for layer in self.layers],
                            "layers": [asdict(layer) for layer in self.layers]})


def measure_shift(settings: ShiftSettings, progress: Callable[[Progress], None] | None = None,
                  cancelled: Callable[[], bool] | None = None) -> ShiftResult:
    start = time.perf_counter()
    X_train, y_train, X_val, _ = digits()
    X_all = torch.cat([X_train, X_val])
    net = seeded(settings.seed, lambda: BNNet(X_all.shape[1], settings.width, settings.depth, 10,
                                              settings.p, settings.noise, settings.beta))
    total, done = max(1, settings.train_steps), [0]

    def tick() -> None:
        done[0] += 1
        if done[0] % 25 == 0:
            if cancelled is not None and cancelled():
                raise InterruptedError("cancelled")
            if progress is not None:
                progress(Progress(done[0], total, time.perf_counter() - start))

    try:
        fit(net, X_train, y_train, settings.train_steps, seed=settings.seed, tick=tick)
    except InterruptedError:
        return ShiftResult(settings, [], time.perf_counter() - start, cancelled=True)
    layers = _measure(net, X_all, settings)
    if progress is not None:
        progress(Progress(total, total, time.perf_counter() - start))
    return ShiftResult(settings, layers, time.perf_counter() - start)


@torch.no_grad()
def _measure(net: BNNet, X: torch.Tensor, settings: ShiftSettings) -> list[LayerShift]:
    s2 = settings.s2
    eval_mode(net)
    blocks = net.blocks(X)  # every BatchNorm evaluating: the network as it is tested
    layers = [LayerShift(1, reads_noise=False, measured=[1.0] * settings.width, predicted=[1.0] * settings.width,
                         z=[0.0] * settings.width,
                         stored=_stored(net.norms[0], blocks[0][0]) if settings.train_steps else [])]
    generator = torch.Generator().manual_seed(settings.seed + 7)
    for k in range(1, settings.depth):
        h = blocks[k - 1][1].double()
        module = net.noises[k - 1]
        module.generator, module.mc = generator, True  # the noise alone samples; the BatchNorm layers evaluate
        noisy = torch.cat([module(h) for _ in range(settings.repeats)])
        module.mc = False
        mu, sigma2 = h.mean(0), h.var(0, unbiased=False)
        keep = (sigma2 > MIN_SIGMA2).numpy()
        direct_measured = noisy.var(0, unbiased=False) / sigma2
        direct_predicted = 1.0 + s2 * (1.0 + mu ** 2 / sigma2) * (1.0 - 1.0 / len(noisy))
        h_rep = h.repeat(settings.repeats, 1)
        d_eps, d_c = noisy - h_rep, h_rep - mu
        direct_se = (2 * d_c * d_eps + d_eps ** 2).std(0) / math.sqrt(len(noisy)) / sigma2
        direct_z = (direct_measured - direct_predicted) / direct_se.clamp_min(1e-12)
        W, b = net.linears[k].weight.double(), net.linears[k].bias.double()
        z_eval, z_train = h @ W.T + b, noisy @ W.T + b
        var_eval = z_eval.var(0, unbiased=False)
        n = len(z_train)
        extra = s2 * (h ** 2).mean(0) @ (W ** 2).T  # s2 * sum_i W_ji^2 E[h_i^2]
        var_train = z_train.var(0, unbiased=False)
        predicted = (var_eval + extra * (1.0 - 1.0 / n)) / var_eval
        # Standard error of var_train given the images: per example, 2 zc eps + eps^2 with eps the noise's share.
        eps = z_train - z_eval.repeat(settings.repeats, 1)
        zc = z_eval.repeat(settings.repeats, 1) - z_eval.mean(0)
        per_example = 2 * zc * eps + eps ** 2
        se = per_example.std(0) / math.sqrt(n) / var_eval
        measured = var_train / var_eval
        z = (measured - predicted) / se.clamp_min(1e-12)
        ok = var_eval.numpy() > MIN_SIGMA2
        layers.append(LayerShift(
            k + 1, reads_noise=s2 > 0,
            measured=measured.numpy()[ok].tolist(), predicted=predicted.numpy()[ok].tolist(),
            z=z.numpy()[ok].tolist() if s2 > 0 else [0.0] * int(ok.sum()),
            stored=_stored(net.norms[k], blocks[k][0]) if settings.train_steps else [],
            direct_measured=direct_measured.numpy()[keep].tolist(),
            direct_predicted=direct_predicted.numpy()[keep].tolist(),
            direct_z=direct_z.numpy()[keep].tolist() if s2 > 0 else [0.0] * int(keep.sum())))
    return layers


def _stored(norm: torch.nn.BatchNorm1d, z_test: torch.Tensor) -> list[float]:
    """The trained layer's running variance over the variance of what it reads at test time, per unit."""
    test = z_test.double().var(0, unbiased=False)
    ok = test > MIN_SIGMA2
    return (norm.running_var.double()[ok] / test[ok]).tolist()


def lines(out: dict[str, Any]) -> list[str]:
    """The command line's table: per BatchNorm layer, measured against both closed forms."""
    cfg = out["config"]
    if out.get("cancelled"):
        return [f"{out['title']}: cancelled"]
    rows = [f"{out['title']}: {cfg['noise']} p={cfg['p']} (noise variance s2 = {out['s2']:.4g}), width "
            f"{cfg['width']}, depth {cfg['depth']}, {cfg['train_steps']} training steps"]
    rows.append("  layer  reads noise  train/eval variance: measured  formula  zero-mean 1+s2   max|z|"
                "   dropout's own output: measured  formula   running/test var")
    for s in out["summary"]:
        f = {k: ("-" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)) for k, v in s.items()}
        rows.append(f"  BN {s['layer']:<3} {'yes' if s['reads_noise'] else 'no':>11}  {f['measured']:>30}"
                    f"  {f['predicted']:>7}  {f['zero_mean_form']:>14}  {f['max_abs_z']:>7}"
                    f"  {f['direct_measured']:>31}  {f['direct_predicted']:>7}  {f['stored_over_test']:>17}")
    rows.append(f"done in {out['elapsed_s']:.1f} s")
    return rows
