"""Serving accuracy against the context layer's drop probability, over seeds (lesson 9, ``reproduce leak``).

Per seed, every run of ``core.labs.production.task`` shares the rows, the initial weights and the minibatch
order; the runs differ only in how the context layer is dropped:

- ``unit``: dropout of each context unit, at every rate of ``rates`` (p = 0 is the model that reads the leak
  freely);
- ``feature``: the whole context layer dropped per row (feature-level masking), at every rate above 0;
- ``none``: no context at all (the legitimate tower alone);
- the leak sweep: ``unit`` at ``p_high`` and at 0 for every strength of ``leaks`` (the fraction of training
  rows whose context comes from the label).

The claims, each a paired test over seeds (``core.analysis.verdicts``): dropout of ``p_high`` on the context
layer gives a higher serving accuracy than p = 0; at ``p_high`` dropping the whole feature beats dropping
units (or the other way: the test is two-sided); ``p_high`` beats no context at all; p = 0 (the leak read
freely) is worse than no context at all; and, per leak strength, whether ``p_high`` still beats 0.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from core.analysis.verdicts import HOLDS, Verdict, check_larger, combine, mean_se, pct
from core.engine.config import ConfigError, JsonSettings, check_number
from core.engine.plain import strict_json
from core.engine.sweep import Progress
from core.labs.production.task import MAX_P, METRICS, LeakTrainer, RunSpec, make_task

KEY = "leak"
TITLE = "High dropout on a label-leaking context feature"


@dataclass(frozen=True)
class LeakSettings(JsonSettings):
    rates: tuple[float, ...] = (0.0, 0.25, 0.5, 0.8, 0.9)
    p_high: float = 0.8
    leak: float = 1.0
    leaks: tuple[float, ...] = (0.25, 0.5, 0.75)
    seeds: int = 5
    n_train: int = 2000
    steps: int = 500
    lr: float = 0.003
    batch_size: int = 64
    hidden: int = 32
    width: int = 8
    honest: float = 0.4
    leak_noise: float = 0.0
    noise: float = 1.0

    def __post_init__(self) -> None:
        for name in ("rates", "leaks"):
            value = getattr(self, name)
            if not isinstance(value, (tuple, list)) or not value:
                raise ConfigError(f"{name} must be a non-empty list of numbers, got {value!r}")
            object.__setattr__(self, name, tuple(value))
            if len(value) > 12:
                raise ConfigError(f"{name} takes at most 12 values, got {len(value)}")
        for p in self.rates:
            check_number("each of rates", p, 0.0, MAX_P)
        for leak in self.leaks:
            check_number("each of leaks", leak, 0.0, 1.0)
        check_number("p_high", self.p_high, 0.05, MAX_P)
        check_number("seeds", self.seeds, 2, 30, integer=True)
        self.spec(0.0, "unit", 0)  # every other value is checked where the run's spec checks it

    @property
    def all_rates(self) -> tuple[float, ...]:
        """The rates, with 0 and ``p_high`` among them, in increasing order."""
        return tuple(sorted({0.0, self.p_high, *self.rates}))

    @property
    def sweep_leaks(self) -> tuple[float, ...]:
        """The leak strengths of the sweep other than ``leak`` (its runs are the main ones)."""
        return tuple(sorted({x for x in self.leaks if not math.isclose(x, self.leak)}))

    def spec(self, p: float, mode: str, seed: int, leak: float | None = None) -> RunSpec:
        return RunSpec(p=p, mode=mode, seed=seed, leak=self.leak if leak is None else leak, n_train=self.n_train,
                       steps=self.steps, lr=self.lr, batch_size=self.batch_size, hidden=self.hidden,
                       width=self.width, honest=self.honest, leak_noise=self.leak_noise, noise=self.noise)

    def plan(self, seed: int) -> list[tuple[str, RunSpec]]:
        """Every run of one seed: (arm, spec)."""
        runs = [("unit", self.spec(p, "unit", seed)) for p in self.all_rates]
        runs += [("feature", self.spec(p, "feature", seed)) for p in self.all_rates if p > 0]
        runs.append(("none", self.spec(0.0, "none", seed)))
        runs += [("leak sweep", self.spec(p, "unit", seed, leak)) for leak in self.sweep_leaks
                 for p in (0.0, self.p_high)]
        return runs


def work(settings: LeakSettings) -> float:
    spec = settings.spec(0.0, "unit", 0)
    return float(len(settings.plan(0)) * settings.seeds * spec.example_work * 3 * settings.batch_size * settings.steps)


@dataclass
class LeakResult:
    settings: LeakSettings
    members: list[dict[str, Any]] = field(default_factory=list)
    elapsed: float = 0.0
    cancelled: bool = False

    def verdicts(self) -> list[dict[str, Any]]:
        return [] if self.cancelled else [{"claim": name, **v.to_json()} for name, v in judge(self.settings, self.members)]

    def summary(self) -> list[dict[str, Any]]:
        """One row per (arm, mode, p, leak): each measure's mean and se over seeds."""
        groups: dict[tuple, list[dict[str, Any]]] = {}
        for m in self.members:
            groups.setdefault((m["arm"], m["mode"], m["p"], m["leak"]), []).append(m)
        rows = []
        for (arm, mode, p, leak), group in groups.items():
            row: dict[str, Any] = {"arm": arm, "mode": mode, "p": p, "leak": leak, "seeds": len(group)}
            for metric in METRICS:
                row[metric], row[metric + "_se"] = mean_se(m[metric] for m in group)
            rows.append(row)
        return rows

    def to_json(self) -> dict[str, Any]:
        return strict_json({"experiment": KEY, "title": TITLE, "config": self.settings.to_json(),
                            "rates": list(self.settings.all_rates), "elapsed_s": round(self.elapsed, 3),
                            "cancelled": self.cancelled, "members": self.members, "summary": self.summary(),
                            "verdicts": self.verdicts()})


def run_leak(settings: LeakSettings, progress: Callable[[Progress], None] | None = None,
             cancelled: Callable[[], bool] | None = None) -> LeakResult:
    """Train every run of every seed and measure it; a cancel returns the runs done, judged of nothing."""
    start = time.perf_counter()
    plans = [settings.plan(seed) for seed in range(settings.seeds)]
    total, done = sum(len(plan) for plan in plans) * settings.steps, [0]
    result = LeakResult(settings)

    def tick() -> None:
        done[0] += 1
        if done[0] % 50 == 0:
            if cancelled is not None and cancelled():
                raise InterruptedError("cancelled")
            if progress is not None:
                progress(Progress(done[0], total, time.perf_counter() - start))

    try:
        for seed, plan in enumerate(plans):
            tasks: dict[float, Any] = {}
            for arm, spec in plan:
                task = tasks.get(spec.leak) or tasks.setdefault(spec.leak, make_task(spec))
                scores = LeakTrainer(spec, task).run(tick=tick).measure()
                result.members.append({"arm": arm, "mode": spec.mode, "p": spec.p, "seed": seed, "leak": spec.leak,
                                       **{k: (v if math.isfinite(v) else math.nan) for k, v in scores.items()}})
    except InterruptedError:
        result.cancelled = True
    result.elapsed = time.perf_counter() - start
    if progress is not None and not result.cancelled:
        progress(Progress(total, total, result.elapsed))
    return result


def _serving(members: list[dict[str, Any]], arm: str, p: float, leak: float, mode: str | None = None) -> dict[int, float]:
    return {m["seed"]: m["serving_acc"] for m in members if m["arm"] == arm and math.isclose(m["p"], p)
            and math.isclose(m["leak"], leak) and (mode is None or m["mode"] == mode)}


def judge(s: LeakSettings, members: list[dict[str, Any]]) -> list[tuple[str, Verdict]]:
    hi, leak = s.p_high, s.leak
    unit_hi, unit_0 = _serving(members, "unit", hi, leak), _serving(members, "unit", 0.0, leak)
    feature_hi, none = _serving(members, "feature", hi, leak), _serving(members, "none", 0.0, leak)
    out = [
        ("high dropout on the context layer", combine([check_larger(
            f"Dropout p = {hi:g} on the context layer gives a higher serving accuracy than p = 0",
            unit_hi, unit_0, pct, (f"p = {hi:g}", "p = 0"))])),
        ("the leak read freely", combine([check_larger(
            "With p = 0 the model that reads the leak serves worse than one with no context at all",
            none, unit_0, pct, ("no context", "p = 0"))])),
        ("against no context", combine([check_larger(
            f"Dropout p = {hi:g} on the context layer serves better than no context at all",
            unit_hi, none, pct, (f"p = {hi:g}", "no context"))])),
        ("whole feature or units", combine([check_larger(
            f"At p = {hi:g}, dropping the whole context feature per row serves better than dropping its units",
            feature_hi, unit_hi, pct, ("whole feature", "units"))])),
    ]
    for strength in sorted({*s.sweep_leaks, leak}):
        arm = "unit" if math.isclose(strength, leak) else "leak sweep"
        out.append((f"leak {strength:g}", combine([check_larger(
            f"With {100 * strength:.0f} % of the training rows leaking, p = {hi:g} serves better than p = 0",
            _serving(members, arm, hi, strength), _serving(members, arm, 0.0, strength), pct,
            (f"p = {hi:g}", "p = 0"))])))
    return out


def helps_from(out: dict[str, Any]) -> float | None:
    """The weakest leak at which p_high's gain holds, every stronger one holding too (None: none does)."""
    by_leak = sorted((float(v["claim"].split()[1]), v["status"]) for v in out["verdicts"] if v["claim"].startswith("leak "))
    weakest = None
    for strength, status in reversed(by_leak):
        if status != HOLDS:
            break
        weakest = strength
    return weakest


def lines(out: dict[str, Any]) -> list[str]:
    cfg = out["config"]
    rows = [f"{out['title']}: leak {cfg['leak']:g}, honest context right {100 * cfg['honest']:.0f} % of the time, "
            f"{cfg['n_train']} rows, {cfg['steps']} steps, {cfg['seeds']} seeds"]
    if out["cancelled"]:
        return rows + ["  cancelled: nothing judged"]
    rows.append("  arm          p     leak   train acc         serving acc       legit-only acc")
    for r in out["summary"]:
        rows.append(f"  {r['arm']:<11} {r['p']:<5g} {r['leak']:<5g}" + "".join(
            f"  {_pct(r[m])} ± {_pct(r[m + '_se']):<7}" for m in ("train_acc", "serving_acc", "legit_only_acc")))
    for v in out["verdicts"]:
        for c in v["checks"]:
            rows.append(f"  [{c['status']}] {c['text']}: {c['detail']}")
    weakest = helps_from(out)
    rows.append("  the trick helps at every leak from " + (f"{weakest:g} up" if weakest is not None else "none measured"))
    rows.append(f"done in {out['elapsed_s']:.1f} s")
    return rows


def _pct(x: Any) -> str:
    return f"{100 * x:.1f}%" if isinstance(x, float) and math.isfinite(x) else "n/a"
