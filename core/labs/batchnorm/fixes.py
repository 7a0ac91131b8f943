"""What the variance shift costs, and the three fixes (lesson 8, part 2).

Per seed, networks of ``core.labs.batchnorm.net`` trained on the same 1000 digits in the same minibatch
order from the same initial weights, then scored on the 797 held-out digits with every BatchNorm layer
evaluating (its running statistics):

- ``as is``: dropout p after every block, so every BatchNorm after the first reads a dropped layer;
- ``recomputed``: the same trained network, its BatchNorm statistics recomputed by one pass over the
  training data with dropout off and BatchNorm in training mode (a cumulative average over the
  pass's minibatches), so that they describe what the layers see at test time. No weight changes;
- ``dropout last``: trained with dropout after the last BatchNorm only (the order that shifts none);
- ``uout``: Li et al.'s variance-stable noise, 1 + U(-beta, beta) (variance beta^2 / 3, small);
- ``gaussian``: N(1, p / (1 - p)) noise, the same variance as dropout's: the control that shows that
  it is the noise's variance, not its shape, that shifts the statistics;
- ``none``: no noise at all (the reference).

Claims, fixed before looking, each a paired test over seeds (``core.analysis.verdicts``): recomputing
raises accuracy and lowers the calibration error; dropout last and uout each beat as is on accuracy;
Gaussian noise of dropout's variance does not beat as is. Whether the shift costs accuracy at all
depends on the scale: the lesson reports what these defaults give and what changes it.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from core.analysis.calibration import expected_calibration_error
from core.analysis.verdicts import Verdict, check_larger, combine, mean_se, num, pct
from core.engine.config import JsonSettings, check_number
from core.engine.dropout import eval_mode
from core.engine.models import seeded
from core.engine.plain import strict_json
from core.engine.sweep import Progress
from core.labs.batchnorm.net import BNNet, digits, fit

KEY = "bn-fixes"
TITLE = "What the shift costs, and three fixes"
SIDES = ("as is", "recomputed", "dropout last", "uout", "gaussian", "none")
TRAINED = ("as is", "dropout last", "uout", "gaussian", "none")  # "recomputed" is "as is", re-measured
METRICS = ("val_acc", "ece", "val_nll", "stored_over_test")
STAT_BATCH = 64


@dataclass(frozen=True)
class FixSettings(JsonSettings):
    p: float = 0.5
    width: int = 64
    depth: int = 3
    beta: float = 0.1
    train_steps: int = 600
    seeds: int = 5

    def __post_init__(self) -> None:
        check_number("p", self.p, 0.05, 0.9)
        check_number("width", self.width, 8, 256, integer=True)
        check_number("depth", self.depth, 2, 5, integer=True)
        check_number("beta", self.beta, 0.01, 1.0)
        check_number("train_steps", self.train_steps, 20, 5000, integer=True)
        check_number("seeds", self.seeds, 2, 20, integer=True)

    def net(self, side: str) -> BNNet:
        noise = {"uout": "uout", "gaussian": "gaussian"}.get(side, "dropout")
        p = 0.0 if side == "none" else self.p
        return BNNet(64, self.width, self.depth, 10, p, noise, self.beta, last_only=side == "dropout last")


def work(settings: FixSettings) -> float:
    per_example = 64 * settings.width + (settings.depth - 1) * settings.width ** 2 + settings.width * 10
    return float(len(TRAINED) * settings.seeds * per_example * 3 * 64 * settings.train_steps)


def recompute_statistics(net: BNNet, X: torch.Tensor, batch_size: int = STAT_BATCH) -> BNNet:
    """Reset every BatchNorm's running statistics and re-estimate them on ``X`` with the noise off and
    BatchNorm in training mode: the cumulative average over one pass of ``batch_size`` minibatches."""
    momenta = [norm.momentum for norm in net.norms]
    for norm in net.norms:
        norm.reset_running_stats()
        norm.momentum = None  # None: a plain average over the pass, not an exponential one
    eval_mode(net)
    for norm in net.norms:
        norm.train()
    with torch.no_grad():
        for start in range(0, len(X) - 1, batch_size):  # a last batch of one has no batch variance
            net(X[start:start + batch_size])
    for norm, momentum in zip(net.norms, momenta):
        norm.momentum = momentum
    return eval_mode(net)


@torch.no_grad()
def score(net: BNNet, X: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Accuracy, calibration error (10 bins), mean log loss, and the last BatchNorm's running variance over
    the variance it reads here (averaged over units): 1 when its statistics describe test time."""
    eval_mode(net)
    logits = net(X)
    probs = torch.softmax(logits, 1).numpy()
    z_last = net.blocks(X)[-1][0]
    test_var = z_last.var(0, unbiased=False)
    ok = test_var > 1e-6
    return {"val_acc": float((logits.argmax(1) == y).double().mean()),
            "ece": expected_calibration_error(probs, y.numpy()),
            "val_nll": float(torch.nn.functional.cross_entropy(logits, y)),
            "stored_over_test": float((net.norms[-1].running_var[ok] / test_var[ok]).mean())}


@dataclass
class FixResult:
    settings: FixSettings
    values: dict[str, dict[str, dict[int, float]]] = field(default_factory=dict)  # side -> metric -> seed -> value
    verdicts: tuple[tuple[str, Verdict], ...] = ()
    elapsed: float = 0.0
    cancelled: bool = False

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for side in SIDES:
            if side not in self.values:
                continue
            row: dict[str, Any] = {"label": side}
            for metric, per_seed in self.values[side].items():
                row[metric], row[metric + "_se"] = mean_se(per_seed.values())
                row["seeds"] = len(per_seed)
            out.append(row)
        return out

    def to_json(self) -> dict[str, Any]:
        return strict_json({
            "experiment": KEY, "title": TITLE, "config": self.settings.to_json(), "elapsed_s": round(self.elapsed, 3),
            "cancelled": self.cancelled, "summary": self.rows(),
            "per_seed": {side: {m: {str(s): v for s, v in seeds.items()} for m, seeds in metrics.items()}
                         for side, metrics in self.values.items()},
            "verdicts": [{"claim": name, **verdict.to_json()} for name, verdict in self.verdicts]})


def run_fixes(settings: FixSettings, progress: Callable[[Progress], None] | None = None,
              cancelled: Callable[[], bool] | None = None) -> FixResult:
    """Train every side on every seed, score each, judge the claims; a cancel returns what is judged of nothing."""
    start = time.perf_counter()
    X_train, y_train, X_val, y_val = digits()
    total, done = len(TRAINED) * settings.seeds * settings.train_steps, [0]
    values: dict[str, dict[str, dict[int, float]]] = {side: {m: {} for m in METRICS} for side in SIDES}

    def tick() -> None:
        done[0] += 1
        if done[0] % 25 == 0:
            if cancelled is not None and cancelled():
                raise InterruptedError("cancelled")
            if progress is not None:
                progress(Progress(done[0], total, time.perf_counter() - start))

    try:
        for seed in range(settings.seeds):
            for side in TRAINED:
                net = seeded(seed, lambda side=side: settings.net(side))
                fit(net, X_train, y_train, settings.train_steps, seed=seed, tick=tick)
                _record(values, side, seed, score(net, X_val, y_val))
                if side == "as is":
                    fixed = recompute_statistics(copy.deepcopy(net), X_train)
                    _record(values, "recomputed", seed, score(fixed, X_val, y_val))
    except InterruptedError:
        return FixResult(settings, elapsed=time.perf_counter() - start, cancelled=True)
    if progress is not None:
        progress(Progress(total, total, time.perf_counter() - start))
    return FixResult(settings, values, judge(values), time.perf_counter() - start)


def _record(values: dict[str, dict[str, dict[int, float]]], side: str, seed: int, scores: dict[str, float]) -> None:
    for metric, value in scores.items():
        values[side][metric][seed] = value if math.isfinite(value) else math.nan


def judge(values: dict[str, dict[str, dict[int, float]]]) -> tuple[tuple[str, Verdict], ...]:
    acc = {side: values[side]["val_acc"] for side in SIDES}
    ece = {side: values[side]["ece"] for side in SIDES}
    return (
        ("recomputing the statistics", combine([
            check_larger("Recomputed statistics give a higher validation accuracy than as is",
                         acc["recomputed"], acc["as is"], pct, ("recomputed", "as is")),
            check_larger("Recomputed statistics give a lower calibration error than as is",
                         ece["as is"], ece["recomputed"], num, ("as is", "recomputed"))])),
        ("dropout after the last BatchNorm", combine([
            check_larger("Dropout after the last BatchNorm only gives a higher validation accuracy than as is",
                         acc["dropout last"], acc["as is"], pct, ("dropout last", "as is"))])),
        ("uout", combine([
            check_larger("Uout noise gives a higher validation accuracy than dropout as is",
                         acc["uout"], acc["as is"], pct, ("uout", "as is"))])),
        ("gaussian of the same variance", combine([
            check_larger("Gaussian noise of dropout's variance gives a higher validation accuracy than dropout as is",
                         acc["gaussian"], acc["as is"], pct, ("gaussian", "as is"))])),
    )


def lines(out: dict[str, Any]) -> list[str]:
    """The command line's table: each side's accuracy, calibration, log loss and stored/test variance."""
    cfg = out["config"]
    rows = [f"{out['title']}: dropout p={cfg['p']} before BatchNorm, width {cfg['width']}, depth {cfg['depth']}, "
            f"{cfg['train_steps']} steps, {cfg['seeds']} seeds"]
    if out["cancelled"]:
        return rows + ["  cancelled: nothing judged"]
    rows.append("  side           val accuracy        ECE              val log loss     last BN running/test var")
    for r in out["summary"]:
        rows.append(f"  {r['label']:<13}" + "".join(
            f"  {_fmt(r[m], m)} ± {_fmt(r[m + '_se'], m):<7}" for m in METRICS))
    for v in out["verdicts"]:
        for c in v["checks"]:
            rows.append(f"  [{c['status']}] {c['text']}: {c['detail']}")
    rows.append(f"done in {out['elapsed_s']:.1f} s")
    return rows


def _fmt(x: Any, metric: str) -> str:
    if x is None or not isinstance(x, float) or not math.isfinite(x):
        return "n/a"
    return f"{100 * x:.1f}%" if metric == "val_acc" else f"{x:.3f}"


def per_seed_table(out: dict[str, Any], metric: str) -> dict[str, np.ndarray]:
    """side -> the metric's per-seed values from the JSON, in seed order (for the page's paired plot)."""
    return {side: np.array([v for _, v in sorted(((int(s), v) for s, v in m[metric].items()))], dtype=float)
            for side, m in out["per_seed"].items()}
