"""What lesson 7's experiments share: settings checked on construction, a clock for progress and
cancel, one result shape, and the "agrees" check that the verdict kit does not have.

An experiment trains each compared side on each seed with the reference modules of
``core.engine.variants`` (the batched sweep runs standard dropout only), seed s meaning the same data,
the same initial weights and the same minibatch order on every side; its claims are paired checks
(``core.analysis.verdicts``). A module of this package gives ``Settings`` (a frozen dataclass of
``VariantSettings``), ``work(settings)`` (multiply-adds, for the server's budget) and
``run(settings, progress, cancelled) -> VariantResult``.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

import numpy as np

from core.analysis.verdicts import FAILS, HOLDS, UNCLEAR, Check, Verdict, mean_se, t_critical
from core.engine.config import ConfigError, check_number
from core.engine.plain import strict_json
from core.engine.sweep import Progress

MAX_SEEDS = 20


class Cancelled(Exception):
    """Raised by ``Clock.tick`` once the learner cancels; ``run`` turns it into a cancelled result."""


class Clock:
    """Counts training steps against the planned total; reports progress at most every ``every`` s and
    raises ``Cancelled`` when ``cancelled()`` turns true (polled at the same pace)."""

    def __init__(self, total: int, progress: Callable[[Progress], None] | None,
                 cancelled: Callable[[], bool] | None, every: float = 0.2):
        self.total, self.done = max(1, int(total)), 0
        self._progress, self._cancelled, self._every = progress, cancelled, every
        self.start = time.perf_counter()
        self._last = self.start - every  # the first tick already asks whether to stop

    def tick(self, n: int = 1) -> None:
        self.done += n
        now = time.perf_counter()
        if now - self._last >= self._every:
            self._last = now
            if self._cancelled is not None and self._cancelled():
                raise Cancelled
            if self._progress is not None:
                self._progress(Progress(min(self.done, self.total), self.total, now - self.start))

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start


class VariantSettings:
    """Mixin for a frozen settings dataclass: JSON in and out, unknown keys refused with a sentence."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Any:
        unknown = set(data) - {f.name for f in fields(cls)}  # type: ignore[arg-type]
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**data)


@dataclass
class VariantResult:
    """One experiment's outcome. ``rows``: per side, each measured number's mean and se over seeds;
    ``series``: curves or trajectories to draw (plain lists); ``signature``: the variant's number(s)."""

    key: str
    title: str
    claim: str
    settings: Any
    rows: list[dict[str, Any]] = field(default_factory=list)
    verdicts: tuple[tuple[str, Verdict], ...] = ()
    series: dict[str, Any] = field(default_factory=dict)
    signature: dict[str, Any] = field(default_factory=dict)
    elapsed: float = 0.0
    cancelled: bool = False
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return strict_json({
            "experiment": self.key, "title": self.title, "claim": self.claim, "config": self.settings.to_json(),
            "elapsed_s": round(self.elapsed, 3), "cancelled": self.cancelled, "note": self.note,
            "summary": self.rows, "signature": self.signature, "series": self.series,
            "verdicts": [{"claim": name, **verdict.to_json()} for name, verdict in self.verdicts],
        })


def summary_rows(values: dict[str, dict[str, dict[int, float]]]) -> list[dict[str, Any]]:
    """``{side: {metric: {seed: value}}}`` -> one row per side: each metric's mean and se over seeds."""
    rows = []
    for side, metrics in values.items():
        row: dict[str, Any] = {"label": side}
        for metric, per_seed in metrics.items():
            row["seeds"] = len(per_seed)
            row[metric], row[metric + "_se"] = mean_se(per_seed.values())
        rows.append(row)
    return rows


def check_agrees(text: str, a: dict[int, float], b: dict[int, float], margin: float,
                 fmt: Callable[[float], str], names: tuple[str, str]) -> Check:
    """Do ``a`` and ``b`` agree to within ``margin``, seed for seed? An equivalence test (two one-sided
    tests at 5 %): holds when the mean paired difference and ``t * se`` on either side lie inside
    ``(-margin, margin)``; does not hold when the difference is outside the margin by more than
    ``t * se``; unclear otherwise (too few seeds to tell)."""
    seeds = sorted(s for s in set(a) & set(b) if math.isfinite(a[s]) and math.isfinite(b[s]))
    diff, se = mean_se(a[s] - b[s] for s in seeds)
    t = t_critical(len(seeds))
    finite = math.isfinite(diff) and math.isfinite(se)
    if finite and abs(diff) + t * se < margin:
        status = HOLDS
    elif finite and abs(diff) - t * se > margin:
        status = FAILS
    else:
        status = UNCLEAR
    mean_a = float(np.mean([a[s] for s in seeds])) if seeds else math.nan
    mean_b = float(np.mean([b[s] for s in seeds])) if seeds else math.nan
    detail = (f"{names[0]} {fmt(mean_a)} vs {names[1]} {fmt(mean_b)}: difference {fmt(diff)} ± {fmt(se)} over "
              f"{len(seeds)} seeds; agreement needs |difference| + {t:.2f} × se under {fmt(margin)}")
    return Check(text, status, diff, se, detail)


def cancelled_result(key: str, title: str, claim: str, settings: Any, clock: Clock) -> VariantResult:
    return VariantResult(key, title, claim, settings, elapsed=clock.elapsed, cancelled=True,
                         note="cancelled: nothing is judged on part of the seeds")


def check_seeds(seeds: Any) -> None:
    check_number("seeds", seeds, 2, MAX_SEEDS, integer=True)


STATUSES = (HOLDS, UNCLEAR, FAILS)
