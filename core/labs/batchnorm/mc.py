"""Monte-Carlo dropout in a network with BatchNorm: ``model.train()`` against ``mc_mode`` (lesson 8, part 3).

The common recipe for MC dropout is "call ``model.train()`` and run T passes". In a network with
BatchNorm that switches BatchNorm to training mode as well, which does three things MC dropout did not ask for:

- each example is normalised with the statistics of the batch it came in, so its prediction depends on
  its batch mates (a batch of one class, as a sorted stream or a single user sends, is normalised with
  that class's own mean: its features lose what told the class apart);
- every pass updates the running statistics, so the network that serves ``eval()`` afterwards is not
  the one that was trained;
- a batch of one cannot be normalised at all: BatchNorm refuses it while training.

``mc_mode`` (``core.engine.dropout``) samples the dropout masks and leaves BatchNorm evaluating: each
example sees only its own masks and the stored statistics.

Per seed, one network of ``core.labs.batchnorm.net`` (dropout before each BatchNorm after the first) is
trained on 1000 digits, then the 797 held-out digits go through T passes in batches of ``batch_size``,
two ways: *mixed* (a fixed shuffle) and *one class* (sorted by label, so nearly every batch holds a
single digit). Each mode runs on its own copy of the network. Measured: the accuracy and log loss of
the T-pass mean, how far each example's mean prediction moves between the two batchings (total
variation, averaged over examples; for ``mc_mode`` only the masks' sampling noise), the largest change
of the first BatchNorm's running mean, and the accuracy ``eval()`` gives afterwards. And one exact
probe: the same image with the same masks in two different batches.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from core.analysis.verdicts import FAILS, HOLDS, Check, Verdict, check_larger, combine, mean_se, num, pct
from core.engine.config import JsonSettings, check_number
from core.engine.dropout import eval_mode, mc_mode, train_mode
from core.engine.models import seeded
from core.engine.plain import strict_json
from core.engine.sweep import Progress
from core.labs.batchnorm.net import BNNet, digits, fit

KEY = "bn-mc"
TITLE = "MC dropout with BatchNorm: model.train() against mc_mode"
MODES = ("mc_mode", "model.train()")
BATCHINGS = ("mixed", "one class")
METRICS = ("acc", "nll")


@dataclass(frozen=True)
class MCSettings(JsonSettings):
    p: float = 0.5
    width: int = 64
    depth: int = 3
    train_steps: int = 300
    passes: int = 20
    batch_size: int = 16
    seeds: int = 5

    def __post_init__(self) -> None:
        check_number("p", self.p, 0.05, 0.9)
        check_number("width", self.width, 8, 256, integer=True)
        check_number("depth", self.depth, 2, 5, integer=True)
        check_number("train_steps", self.train_steps, 20, 3000, integer=True)
        check_number("passes", self.passes, 2, 200, integer=True)
        check_number("batch_size", self.batch_size, 2, 797, integer=True)
        check_number("seeds", self.seeds, 2, 20, integer=True)



def work(settings: MCSettings) -> float:
    per_example = 64 * settings.width + (settings.depth - 1) * settings.width ** 2 + settings.width * 10
    passes = len(MODES) * len(BATCHINGS) * settings.passes * 797
    return float(settings.seeds * per_example * (3 * 64 * settings.train_steps + passes))


def batches(y: torch.Tensor, batch_size: int, batching: str, seed: int) -> list[torch.Tensor]:
    """The held-out set's order cut into batches: a fixed shuffle (mixed) or sorted by label (one class).
    A last batch of one joins the batch before it (BatchNorm cannot train on one example)."""
    if batching == "mixed":
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed + 11))
    else:
        order = torch.sort(y, stable=True).indices
    chunks = list(torch.split(order, batch_size))
    if len(chunks) > 1 and len(chunks[-1]) == 1:
        chunks[-2:] = [torch.cat(chunks[-2:])]
    return chunks


@torch.no_grad()
def mc_passes(net: BNNet, X: torch.Tensor, chunks: list[torch.Tensor], passes: int, mode: str,
              generator: torch.Generator) -> torch.Tensor:
    """The mean over ``passes`` of softmax(net(x)) for every row of X, fed in ``chunks``, in ``mode``."""
    (mc_mode if mode == "mc_mode" else train_mode)(net)
    net.set_generator(generator)
    total = torch.zeros(len(X), net.head.out_features, dtype=X.dtype)
    for _ in range(passes):
        for idx in chunks:
            total[idx] += torch.softmax(net(X[idx]), 1)
    return total / passes


@torch.no_grad()
def accuracy(net: BNNet, X: torch.Tensor, y: torch.Tensor) -> float:
    eval_mode(net)
    return float((net(X).argmax(1) == y).double().mean())


@torch.no_grad()
def same_masks_gap(net: BNNet, X: torch.Tensor, mode: str, batch_size: int, seed: int) -> float:
    """The same first ``batch_size // 2`` images with the same masks, their other batch mates changed:
    the largest change in any output probability (0 exactly when each example is on its own)."""
    half = batch_size // 2 if batch_size >= 4 else 1
    g = torch.Generator().manual_seed(seed + 23)
    rows = torch.randperm(len(X), generator=g)
    a = torch.cat([rows[:half], rows[half:batch_size]])
    b = torch.cat([rows[:half], rows[batch_size:2 * batch_size - half]])
    outs = []
    for idx in (a, b):
        work_net = copy.deepcopy(net)
        (mc_mode if mode == "mc_mode" else train_mode)(work_net)
        work_net.set_generator(torch.Generator().manual_seed(seed + 29))  # the same masks for both batches
        outs.append(torch.softmax(work_net(X[idx]), 1)[:half])
    return float((outs[0] - outs[1]).abs().max())


def batch_of_one(net: BNNet, x: torch.Tensor) -> str:
    """What ``model.train()`` does with a single request: BatchNorm's own error, or '' if it ran."""
    work_net = copy.deepcopy(net)
    train_mode(work_net)
    try:
        with torch.no_grad():
            work_net(x[:1])
    except ValueError as exc:
        return str(exc).splitlines()[0]
    return ""


@dataclass
class MCResult:
    settings: MCSettings
    values: dict[str, dict[int, float]] = field(default_factory=dict)  # "mode|batching|metric" etc. -> seed -> value
    verdicts: tuple[tuple[str, Verdict], ...] = ()
    batch_of_one: str = ""
    elapsed: float = 0.0
    cancelled: bool = False

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for name, per_seed in self.values.items():
            mean, se = mean_se(per_seed.values())
            out[name] = {"mean": mean, "se": se, "max": max(per_seed.values(), default=math.nan)}
        return out

    def to_json(self) -> dict[str, Any]:
        return strict_json({
            "experiment": KEY, "title": TITLE, "config": self.settings.to_json(), "elapsed_s": round(self.elapsed, 3),
            "cancelled": self.cancelled, "summary": self.summary(), "batch_of_one": self.batch_of_one,
            "per_seed": {name: {str(s): v for s, v in seeds.items()} for name, seeds in self.values.items()},
            "verdicts": [{"claim": name, **verdict.to_json()} for name, verdict in self.verdicts]})


def run_mc(settings: MCSettings, progress: Callable[[Progress], None] | None = None,
           cancelled: Callable[[], bool] | None = None) -> MCResult:
    start = time.perf_counter()
    X_train, y_train, X_val, y_val = digits()
    total, done = settings.seeds * (settings.train_steps + len(MODES) * len(BATCHINGS) * settings.passes), [0]
    values: dict[str, dict[int, float]] = {}
    message = ""

    def tick(n: int = 1) -> None:
        done[0] += n
        if cancelled is not None and cancelled():
            raise InterruptedError("cancelled")
        if progress is not None and done[0] % 25 < n:
            progress(Progress(done[0], total, time.perf_counter() - start))

    def record(name: str, seed: int, value: float) -> None:
        values.setdefault(name, {})[seed] = value if math.isfinite(value) else math.nan

    try:
        for seed in range(settings.seeds):
            net = seeded(seed, lambda: BNNet(64, settings.width, settings.depth, 10, settings.p))
            fit(net, X_train, y_train, settings.train_steps, seed=seed, tick=tick)
            record("eval accuracy before", seed, accuracy(net, X_val, y_val))
            means = {}
            for mode in MODES:
                record(f"{mode}|same masks gap", seed, same_masks_gap(net, X_val, mode, settings.batch_size, seed))
                for batching in BATCHINGS:
                    work_net = copy.deepcopy(net)
                    before = work_net.norms[0].running_mean.clone()
                    chunks = batches(y_val, settings.batch_size, batching, seed)
                    probs = mc_passes(work_net, X_val, chunks, settings.passes, mode,
                                      torch.Generator().manual_seed(seed + 31))
                    tick(settings.passes)
                    means[mode, batching] = probs
                    record(f"{mode}|{batching}|acc", seed, float((probs.argmax(1) == y_val).double().mean()))
                    record(f"{mode}|{batching}|nll", seed,
                           float(-torch.log(probs[torch.arange(len(y_val)), y_val].clamp_min(1e-12)).mean()))
                    record(f"{mode}|{batching}|running mean moved", seed,
                           float((work_net.norms[0].running_mean - before).abs().max()))
                    record(f"{mode}|{batching}|eval accuracy after", seed, accuracy(work_net, X_val, y_val))
                record(f"{mode}|batch dependence", seed,
                       float(0.5 * (means[mode, "mixed"] - means[mode, "one class"]).abs().sum(1).mean()))
            if seed == 0:
                message = batch_of_one(net, X_val)
    except InterruptedError:
        return MCResult(settings, elapsed=time.perf_counter() - start, cancelled=True)
    if progress is not None:
        progress(Progress(total, total, time.perf_counter() - start))
    return MCResult(settings, values, judge(values), message, time.perf_counter() - start)


def _exact(text: str, per_seed: dict[int, float]) -> Check:
    worst = max(per_seed.values())
    return Check(text, HOLDS if worst == 0.0 else FAILS, worst, 0.0,
                 f"largest change over {len(per_seed)} seeds: {worst:.3g}")


def judge(values: dict[str, dict[int, float]]) -> tuple[tuple[str, Verdict], ...]:
    v = values
    return (
        ("mc_mode leaves each example on its own", combine([
            _exact("With the same masks, mc_mode gives an image the same output whatever its batch mates",
                   v["mc_mode|same masks gap"]),
            _exact("mc_mode's passes leave the running statistics where they were",
                   {s: max(v["mc_mode|mixed|running mean moved"][s], v["mc_mode|one class|running mean moved"][s])
                    for s in v["mc_mode|mixed|running mean moved"]})])),
        ("model.train() ties each prediction to its batch", combine([
            check_larger("model.train()'s mean prediction moves more between mixed and one-class batches than "
                         "mc_mode's (total variation)", v["model.train()|batch dependence"],
                         v["mc_mode|batch dependence"], num, ("model.train()", "mc_mode")),
            check_larger("model.train() on one-class batches is less accurate than on mixed batches",
                         v["model.train()|mixed|acc"], v["model.train()|one class|acc"], pct, ("mixed", "one class"))])),
        ("model.train() changes the network it leaves behind", combine([
            check_larger("After model.train()'s passes over one-class batches, eval() is less accurate than before",
                         v["eval accuracy before"], v["model.train()|one class|eval accuracy after"], pct,
                         ("before", "after"))])),
    )


def lines(out: dict[str, Any]) -> list[str]:
    cfg = out["config"]
    rows = [f"{out['title']}: dropout p={cfg['p']} before BatchNorm, {cfg['passes']} passes in batches of "
            f"{cfg['batch_size']}, {cfg['seeds']} seeds"]
    if out["cancelled"]:
        return rows + ["  cancelled: nothing judged"]
    s = out["summary"]
    rows.append("  mode            batches     MC accuracy      MC log loss      running mean moved   eval() after")
    for mode in MODES:
        for batching in BATCHINGS:
            k = f"{mode}|{batching}|"
            rows.append(f"  {mode:<15} {batching:<10} {_pct(s[k + 'acc'])}  {_num(s[k + 'nll'])}  "
                        f"{s[k + 'running mean moved']['max']:>17.4g}   {100 * s[k + 'eval accuracy after']['mean']:.1f}%")
    rows.append(f"  eval() before: {100 * s['eval accuracy before']['mean']:.1f}%; batch dependence: mc_mode "
                f"{s['mc_mode|batch dependence']['mean']:.4f}, model.train() {s['model.train()|batch dependence']['mean']:.4f}")
    rows.append(f"  same image, same masks, other batch mates: output moves by at most "
                f"{s['mc_mode|same masks gap']['max']:.3g} (mc_mode), {s['model.train()|same masks gap']['max']:.3g} (model.train())")
    if out["batch_of_one"]:
        rows.append(f"  model.train() on a batch of one: {out['batch_of_one']}")
    for v in out["verdicts"]:
        for c in v["checks"]:
            rows.append(f"  [{c['status']}] {c['text']}: {c['detail']}")
    rows.append(f"done in {out['elapsed_s']:.1f} s")
    return rows


def _pct(s: dict[str, float]) -> str:
    return f"{100 * s['mean']:5.1f}% ± {100 * s['se']:.1f}%"


def _num(s: dict[str, float]) -> str:
    return f"{s['mean']:6.3f} ± {s['se']:.3f}"
