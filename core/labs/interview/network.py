"""The learner's ``Dropout`` in a real network: the same small MLP trained from one seed with torch's dropout
and with theirs, and once more with ours and other masks for the scale of mask randomness. A sandbox task
(``core.labs.interview.judge`` re-exports it); events ``{"step", "ours", "yours"}`` stream as it trains.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import nn

from core.engine.datasets import generate
from core.labs.interview.grading import Emit, Unusable, last_line, load_solution


def _mlp(dropout: Callable[[float], nn.Module], seed: int, p: float = 0.3) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, 128), nn.ReLU(), dropout(p), nn.Linear(128, 128), nn.ReLU(), dropout(p),
                         nn.Linear(128, 2))


class _Adam:
    """Adam, written out: torch.optim's first optimizer imports about 800 modules (1.7 s here, more than the
    training), and the locked sandbox could not import them any more."""

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params = [p for p in params]
        self.lr, self.betas, self.eps, self.t = lr, betas, eps, 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        b1, b2 = self.betas
        self.t += 1
        with torch.no_grad():
            for p, m, v in zip(self.params, self.m, self.v):
                if p.grad is None:
                    continue
                m.mul_(b1).add_(p.grad, alpha=1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                p.sub_(self.lr * (m / (1 - b1**self.t)) / ((v / (1 - b2**self.t)).sqrt() + self.eps))


def _within(ours: dict[str, float], yours: dict[str, float], again: dict[str, float]) -> bool:
    """Yours as close to ours as ours run again with other masks (twice that gap, or 2 points of accuracy and a
    loss ratio of 1.5, whichever is larger)."""
    def log_ratio(a: float, b: float) -> float:
        return abs(math.log(max(a, 1e-3) / max(b, 1e-3))) if math.isfinite(a) and math.isfinite(b) else math.inf

    acc_ok = abs(ours["val_acc"] - yours["val_acc"]) <= max(2 * abs(ours["val_acc"] - again["val_acc"]), 0.02)
    loss_ok = log_ratio(yours["val_loss"], ours["val_loss"]) <= max(2 * log_ratio(again["val_loss"], ours["val_loss"]),
                                                                    math.log(1.5))
    return acc_ok and loss_ok


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def compare_in_network(source_path: str, emit: Emit = None, *, steps: int = 300, seed: int = 0,
                       every: int = 10) -> dict[str, Any]:
    """Train the same MLP (2-128-128-2, p = 0.5, Adam) on 100 noisy two-moons points from one seed: once with
    torch.nn.Dropout ("ours"), once with the learner's Dropout ("yours"); and ours once more with other masks,
    for how far mask randomness alone moves the result."""
    try:
        layer = load_solution(source_path, "Dropout")
        nets = {"ours": _mlp(nn.Dropout, seed), "yours": _mlp(layer, seed), "again": _mlp(nn.Dropout, seed)}
    except Unusable as exc:
        return {"status": "error", "error": str(exc)}
    except Exception as exc:
        return {"status": "error", "error": f"building the network with your Dropout raised {last_line(exc)}"}
    X, y = generate("moons", 600, 0.3, seed)
    Xt, yt, Xv, yv = (torch.from_numpy(a) for a in (X[:100], y[:100], X[100:], y[100:]))
    opts = {k: _Adam(net.parameters(), lr=0.005) for k, net in nets.items()}
    loss_fn = nn.CrossEntropyLoss()
    curves: dict[str, Any] = {"step": [], "ours": {}, "yours": {}}
    finals: dict[str, dict[str, float]] = {}
    broke: str | None = None
    for step in range(1, steps + 1):
        record = step % every == 0 or step == 1
        event: dict[str, Any] = {"step": step}
        for i, (name, net) in enumerate(nets.items()):
            torch.manual_seed(seed * 1000 + step * 3 + (i if name == "again" else 0))
            net.train()
            try:
                loss = loss_fn(net(Xt), yt)
                opts[name].zero_grad()
                loss.backward()
                opts[name].step()
            except Exception as exc:
                if name != "yours":
                    raise
                return {"status": "error", "error": f"training with your Dropout raised {last_line(exc)} at step {step}"}
            if record or step == steps:
                with torch.no_grad():
                    net.eval()
                    logits = net(Xv)
                    metrics = {"train_loss": float(loss.detach()), "val_loss": float(loss_fn(logits, yv)),
                               "val_acc": float((logits.argmax(1) == yv).float().mean())}
                finals[name] = metrics
                if name != "again":
                    event[name] = {k: _finite(v) for k, v in metrics.items()}
            if name == "yours" and broke is None and not math.isfinite(float(loss.detach())):
                broke = f"your network's training loss stopped being a number at step {step}"
        if record or step == steps:
            curves["step"].append(step)
            for side in ("ours", "yours"):
                for k, v in event[side].items():
                    curves[side].setdefault(k, []).append(v)
            if emit is not None:
                emit(event)
    ours, yours, again = finals["ours"], finals["yours"], finals["again"]
    summary = (f"After {steps} steps: validation accuracy {ours['val_acc']:.1%} with ours and {yours['val_acc']:.1%} with "
               f"yours, validation loss {ours['val_loss']:.3f} and {yours['val_loss']:.3f}. Ours trained again with other "
               f"masks reached {again['val_acc']:.1%} and {again['val_loss']:.3f}: that is how far mask randomness alone "
               "moves these numbers here (one pair of runs, so a rough scale).")
    if broke:
        return_summary = f"{summary} {broke.capitalize()}."
    elif _within(ours, yours, again):
        return_summary = (f"{summary} Yours is within that scale. That fits a correct layer but does not prove one: in a "
                          "network this small several of the judge's failures (no scaling, p read as the keep "
                          "probability, one mask for the whole batch) barely move accuracy, which is how such bugs "
                          "survive in real code. The judge's checks are the test; this is the picture.")
    else:
        return_summary = (f"{summary} Yours is further from ours than mask randomness explains: look at the judge's "
                          "failures, and at which curve parts company.")
    summary = return_summary
    return {"status": "done", "curves": curves, "summary": summary,
            "finals": {side: {k: _finite(v) for k, v in finals[side].items()} for side in ("ours", "yours")}}
