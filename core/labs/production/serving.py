"""Dropout at serving (lesson 9, ``reproduce serving``): the exported model in eval mode, checked, against the
one exported without ``eval()``; and what Monte-Carlo uncertainty costs per request.

**Export.** A two-tower model of ``core.labs.production.task`` is trained, then exported the way a deployment
would: TorchScript (``torch.jit.script``, saved and loaded back from bytes; torch 2.13 still runs it and marks it
deprecated in favour of ``torch.export``). A scripted module keeps the mode it was exported in. One copy is
exported after ``eval()``, one without it (it was still training). ``check_deterministic`` is the test a team
puts in CI: the served model is in eval mode and the same request gives the same answer every time. It runs on
both copies; for each: whether it passes, the share of requests whose class changed between repeats, the largest
change of a logit, and the held-out serving accuracy of one answer each.

**The cost of uncertainty.** Lesson 5's engine: an MLP of ``core.engine`` with dropout ``mc_p`` after each of two
hidden layers, trained on 1000 of the digits; the other 797 are requests. Per request (one digit), the time of
one eval pass, and of T Monte-Carlo passes three ways: ``naive`` (T calls in ``mc_mode``), ``batched`` (one call
on T copies of the request: each copy draws its own masks), ``thinned`` (``core.analysis.mc.mc_predict``, lesson
5's thinned passes, the model frozen once as a server would at load time). Each time is the median over ``repeats`` requests, with the 25th and 75th percentiles. What
the passes buy, per T, on all 797: the MC mean's accuracy, how well the predictive entropy ranks the wrong answers
above the right ones (the area under the ROC curve: 0.5 is chance, 1 perfect), and the jitter of the estimate
(the standard deviation of the top-class probability between two independent sets of T passes).
"""
from __future__ import annotations

import io
import math
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from core.analysis.mc import MAX_T, mc_predict
from core.analysis.thinned import freeze
from core.engine.config import ConfigError, JsonSettings, check_number
from core.engine.digits import DigitNetSettings
from core.engine.dropout import eval_mode, mc_mode
from core.engine.plain import strict_json
from core.engine.sweep import Progress
from core.engine.trainer import Trainer
from core.labs.production.task import MAX_P, LeakTrainer, RunSpec, accuracy

KEY = "serving"
TITLE = "Serving: eval mode, checked, and the cost of uncertainty"
METHODS = ("eval", "naive", "batched", "thinned")


@dataclass(frozen=True)
class ServingSettings(JsonSettings):
    p: float = 0.8
    steps: int = 300
    requests: int = 200
    repeats_per_request: int = 5
    passes: tuple[int, ...] = (1, 4, 16, 64)
    repeats: int = 40
    mc_p: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        check_number("p", self.p, 0.05, MAX_P)
        check_number("steps", self.steps, 10, 5000, integer=True)
        check_number("requests", self.requests, 1, 2000, integer=True)
        check_number("repeats_per_request", self.repeats_per_request, 2, 100, integer=True)
        if not isinstance(self.passes, (tuple, list)) or not self.passes or len(self.passes) > 8:
            raise ConfigError(f"passes must be a list of 1 to 8 whole numbers, got {self.passes!r}")
        object.__setattr__(self, "passes", tuple(self.passes))
        for t in self.passes:
            check_number("each of passes", t, 1, min(MAX_T, 256), integer=True)
        check_number("repeats", self.repeats, 3, 500, integer=True)
        check_number("mc_p", self.mc_p, 0.05, 0.9)
        check_number("seed", self.seed, 0, 2**31 - 1, integer=True)



def work(settings: ServingSettings) -> float:
    train = RunSpec().example_work * 3 * 64 * settings.steps + 128 * 200 * 3 * 32 * 320
    timing = settings.repeats * sum(settings.passes) * 3 * (64 * 128 + 128 * 128 + 1280)
    return float(train + timing + 797 * 2 * sum(settings.passes) * (64 * 128 + 128 * 128 + 1280))


# -- the check a team puts in CI -------------------------------------------------------------------
def check_deterministic(model: torch.nn.Module, x: torch.Tensor, context: torch.Tensor, repeats: int = 5) -> None:
    """The served model is in eval mode and answers every request the same way each time it is asked."""
    assert not model.training, "the served model is in training mode: call model.eval() before exporting it"
    with torch.no_grad():
        first = model(x, context)
        for _ in range(repeats - 1):
            again = model(x, context)
            assert torch.equal(again, first), (
                f"the same requests got different answers: {(again.argmax(1) != first.argmax(1)).sum()} of "
                f"{len(x)} changed class, logits moved by up to {(again - first).abs().max():.3g}")


def export(model: torch.nn.Module) -> torch.jit.ScriptModule:
    """Script ``model`` as it is (its mode included), save it to bytes and load it back, as a server would."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(model), buffer)
        buffer.seek(0)
        return torch.jit.load(buffer)


@torch.no_grad()
def served(module: torch.nn.Module, rows: Any, requests: int, repeats: int) -> dict[str, Any]:
    x, c = rows.x[:requests], rows.context[:requests]
    try:
        check_deterministic(module, x, c, repeats)
        failure = None
    except AssertionError as exc:
        failure = str(exc)
    answers = torch.stack([module(x, c) for _ in range(repeats)])
    classes = answers.argmax(2)
    return {"training": bool(module.training), "passes": failure is None, "failure": failure,
            "changed_share": float((classes != classes[0]).any(0).double().mean()),
            "max_logit_change": float((answers - answers[0]).abs().max()),
            "serving_acc": accuracy(module, rows)}


# -- the cost of uncertainty -----------------------------------------------------------------------
def _times(call: Callable[[], Any], repeats: int) -> dict[str, float]:
    call()  # warm
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    q25, q50, q75 = np.percentile(np.array(times) * 1000, [25, 50, 75])
    return {"ms": float(q50), "ms_q25": float(q25), "ms_q75": float(q75)}


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
    """P(a random positive scores above a random negative), ties counting half (NaN with one class only)."""
    pos, neg = scores[positive], scores[~positive]
    if len(pos) == 0 or len(neg) == 0:
        return math.nan
    ranks = np.argsort(np.argsort(np.concatenate([pos, neg]), kind="stable"), kind="stable") + 1.0
    allv = np.concatenate([pos, neg])
    for v in np.unique(allv):  # average the ranks of ties
        tied = allv == v
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def digit_model(settings: ServingSettings) -> Trainer:
    cfg = DigitNetSettings(p=settings.mc_p, width=128, layers=2, n_train=1000, epochs=10,
                           seed=settings.seed).run_config()
    trainer = Trainer(cfg, evaluate=False)
    while not trainer.finished:
        trainer.step()
    return trainer


def cost(settings: ServingSettings, tick: Callable[[], None]) -> tuple[list[dict[str, Any]], dict[str, float]]:
    trainer = digit_model(settings)
    model, X, y = trainer.model, trainer.X_val, trainer.y_val.cpu().numpy()
    one = X[:1]
    rows = []
    with torch.no_grad():
        eval_mode(model)
        base = _times(lambda: model(one), settings.repeats)
        eval_acc = float((model(X).argmax(1).cpu().numpy() == y).mean())
        for T in settings.passes:
            mc_mode(model)
            row: dict[str, Any] = {"T": T, "eval": base}
            row["naive"] = _times(lambda: [model(one) for _ in range(T)], settings.repeats)
            row["batched"] = _times(lambda: model(one.expand(T, -1)).softmax(1).mean(0), settings.repeats)
            frozen = freeze(model)  # once, as a server would at load time
            row["thinned"] = _times(lambda: mc_predict(frozen, one, T, seed=1), settings.repeats)
            a, b = mc_predict(model, X, T, seed=1), mc_predict(model, X, T, seed=2)
            eval_mode(model)
            wrong = a.mean.argmax(1) != y
            top = a.mean.argmax(1)
            jitter = np.std(a.mean[np.arange(len(y)), top] - b.mean[np.arange(len(y)), top]) / math.sqrt(2)
            row.update({"mc_acc": float(1 - wrong.mean()), "entropy_auroc": auroc(a.entropy, wrong),
                        "mi_auroc": auroc(a.mutual_info, wrong), "jitter": float(jitter)})
            rows.append(row)
            tick()
    return rows, {"eval_acc": eval_acc, "n_requests": int(len(y))}


def run_serving(settings: ServingSettings, progress: Callable[[Progress], None] | None = None,
                cancelled: Callable[[], bool] | None = None) -> ServingResult:
    start = time.perf_counter()
    total, done = settings.steps + len(settings.passes), [0]

    def tick() -> None:
        done[0] += 1
        if done[0] % 25 == 0 or done[0] > settings.steps:
            if cancelled is not None and cancelled():
                raise InterruptedError("cancelled")
            if progress is not None:
                progress(Progress(done[0], total, time.perf_counter() - start))

    try:
        trainer = LeakTrainer(RunSpec(p=settings.p, seed=settings.seed, steps=settings.steps)).run(tick=tick)
        model = trainer.model
        exports = {}
        for name, mode in (("eval()", False), ("no eval()", True)):
            model.train(mode)
            exports[name] = served(export(model), trainer.task.serve, settings.requests,
                                   settings.repeats_per_request)
        rows, extra = cost(settings, tick)
    except InterruptedError:
        return ServingResult(settings, {}, [], {}, time.perf_counter() - start, cancelled=True)
    return ServingResult(settings, exports, rows, extra, time.perf_counter() - start)


@dataclass
class ServingResult:
    settings: ServingSettings
    exports: dict[str, dict[str, Any]]
    cost: list[dict[str, Any]]
    extra: dict[str, float]
    elapsed: float
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        return strict_json({"experiment": KEY, "title": TITLE, "config": self.settings.to_json(),
                            "elapsed_s": round(self.elapsed, 3), "cancelled": self.cancelled,
                            "exports": self.exports, "cost": self.cost, **self.extra,
                            "threads": torch.get_num_threads()})


def lines(out: dict[str, Any]) -> list[str]:
    rows = [f"{out['title']} (context p {out['config']['p']:g}, TorchScript)"]
    if out["cancelled"]:
        return rows + ["  cancelled"]
    for name, e in out["exports"].items():
        verdict = "passes" if e["passes"] else f"fails: {e['failure']}"
        rows.append(f"  exported after {name:<10} training={e['training']!s:<5} check {verdict}; "
                    f"{100 * e['changed_share']:.0f} % of requests changed class; serving acc {100 * e['serving_acc']:.1f}%")
    rows.append(f"  one request, ms (median [25th-75th percentile]) on {out['threads']} thread(s); "
                f"eval accuracy {100 * out['eval_acc']:.1f}%")
    rows.append("  T     " + "".join(f"{m:<22}" for m in METHODS) + "MC acc   entropy AUROC  jitter")
    for r in out["cost"]:
        rows.append(f"  {r['T']:<5} " + "".join(f"{r[m]['ms']:6.3f} [{r[m]['ms_q25']:.3f}-{r[m]['ms_q75']:.3f}]  "
                                               for m in METHODS)
                    + f"{100 * r['mc_acc']:5.1f}%   {r['entropy_auroc']:.3f}          {r['jitter']:.4f}")
    rows.append(f"done in {out['elapsed_s']:.1f} s")
    return rows
