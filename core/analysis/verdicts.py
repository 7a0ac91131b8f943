"""Paired-seed verdicts, for any lesson: summaries over seeds and checks of "A is larger than B".

A claim is a few *checks*, each "A is larger than B" for some measured number. Seeds are
paired across the compared settings (seed s means the same data and initial weights on
both sides), so each check is a paired t-test on the per-seed differences: their mean,
its standard error ``se = sd / sqrt(n)``, and Student's t critical value for n - 1
degrees of freedom at the two-sided 5 % level (12.7 for 2 seeds, 2.36 for 8, 2.26 for
10). A check **holds** when the mean difference exceeds ``t * se`` in the claimed
direction, **fails** when it does so the other way, and is **unclear** otherwise (a
single seed has no error bar, so it is always unclear).

"A beats each of B1..Bm" holds only when each of its m tests holds, and fails when any
fails. A verdict holds when every check holds, does not hold when any check fails, and is
unclear otherwise.

Members are plain dicts (a sweep's ``SweepResult.members``): ``by_seed`` and ``summarize``
read them; ``val_err`` and ``train_err`` are derived as 1 - accuracy. A lesson's own judges
(which comparisons make its claim) live in its lab.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable

import numpy as np

HOLDS, UNCLEAR, FAILS = "holds", "unclear", "does not hold"

# Student's t, 97.5th percentile, for 1..30 degrees of freedom (beyond: the normal's 1.96).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


def t_critical(n: int) -> float:
    """How many standard errors a mean of ``n`` paired differences must exceed (two-sided 5 %)."""
    if n < 2:
        return math.inf
    return _T975[n - 2] if n - 1 <= len(_T975) else 1.96


@dataclass(frozen=True)
class Check:
    text: str  # the claim, in words
    status: str
    difference: float  # mean over seeds of (larger - smaller), in the claim's direction
    se: float
    detail: str  # the numbers behind it


@dataclass(frozen=True)
class Verdict:
    status: str
    checks: tuple[Check, ...]

    @property
    def summary(self) -> str:
        n_holds = sum(c.status == HOLDS for c in self.checks)
        return f"{self.status}: {n_holds} of {len(self.checks)} checks hold"

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "summary": self.summary, "checks": [asdict(c) for c in self.checks]}


def combine(checks: Iterable[Check]) -> Verdict:
    checks = tuple(checks)
    if any(c.status == FAILS for c in checks):
        status = FAILS
    elif all(c.status == HOLDS for c in checks):
        status = HOLDS
    else:
        status = UNCLEAR
    return Verdict(status, checks)


def mean_se(values: Iterable[float]) -> tuple[float, float]:
    """Mean and standard error (NaN with fewer than two values) of the finite values."""
    x = np.array([v for v in values if math.isfinite(v)], dtype=float)
    if len(x) == 0:
        return math.nan, math.nan
    se = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else math.nan
    return float(x.mean()), se


def check_larger(
    text: str, larger: dict[int, float], smaller: dict[int, float], fmt: Callable[[float], str], names: tuple[str, str]
) -> Check:
    """Does ``larger`` exceed ``smaller``? Both map seed -> value; only seeds where both are finite count."""
    seeds = sorted(s for s in set(larger) & set(smaller) if math.isfinite(larger[s]) and math.isfinite(smaller[s]))
    diff, se = mean_se(larger[s] - smaller[s] for s in seeds)
    a, _ = mean_se(larger[s] for s in seeds)
    b, _ = mean_se(smaller[s] for s in seeds)
    t = t_critical(len(seeds))
    if math.isfinite(diff) and math.isfinite(se) and diff > t * se:
        status = HOLDS
    elif math.isfinite(diff) and math.isfinite(se) and diff < -t * se:
        status = FAILS
    else:
        status = UNCLEAR
    if len(seeds) < 2:
        se_text = f" ({len(seeds)} seed: no error bar)"
    else:
        se_text = f" ± {fmt(se)} (needs more than {t:.2f} × that) over {len(seeds)} seeds"
    detail = f"{names[0]} {fmt(a)} vs {names[1]} {fmt(b)}: difference {fmt(diff)}{se_text}"
    return Check(text, status, diff, se, detail)


def check_beats_each(text: str, winner: dict[int, float], others: dict[str, dict[int, float]],
                     fmt: Callable[[float], str], name: str) -> Check:
    """Is ``winner`` lower than each of ``others``? Holds if every test holds; shown: the closest one."""
    checks = {other: check_larger(text, values, winner, fmt, (other, name)) for other, values in others.items()}
    statuses = [c.status for c in checks.values()]
    status = FAILS if FAILS in statuses else HOLDS if all(st == HOLDS for st in statuses) else UNCLEAR
    # Shown: the competitor with the smallest margin (for a failure, the one that beats the winner most).
    closest = min(checks.values(), key=lambda c: c.difference if math.isfinite(c.difference) else math.inf)
    return Check(text, status, closest.difference, closest.se, "closest: " + closest.detail)


def inner_mean(tables: list[dict[int, float]]) -> dict[int, float]:
    """Per seed, the mean over several settings (the seeds all of them have); NaN if any is NaN."""
    seeds = set.intersection(*(set(t) for t in tables)) if tables else set()
    return {s: float(np.mean([t[s] for t in tables])) for s in seeds}


def pct(x: float) -> str:
    return f"{100 * x:.1f} %" if math.isfinite(x) else "n/a"


def num(x: float) -> str:
    return f"{x:.3f}" if math.isfinite(x) else "n/a"


# -- per-seed tables ------------------------------------------------------------------------
def by_seed(members: list[dict[str, Any]], metric: str, **where: Any) -> dict[int, float]:
    """seed -> metric for the members matching ``where`` (e.g. ``p=0.5, label="fixed n"``)."""
    out: dict[int, float] = {}
    for m in members:
        if all(_same(m.get(k), v) for k, v in where.items()):
            out[m["seed"]] = _value(m, metric)
    return out


def _value(member: dict[str, Any], metric: str) -> float:
    if metric == "val_err":
        return 1.0 - member["val_acc"]
    if metric == "train_err":
        return 1.0 - member["train_acc"]
    return member[metric]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, abs_tol=1e-9)
    return a == b


def summarize(members: list[dict[str, Any]], keys: tuple[str, ...], metrics: tuple[str, ...]) -> list[dict[str, Any]]:
    """One row per distinct value of ``keys``, in first-seen order: each metric's mean and se."""
    groups: dict[tuple, list[dict[str, Any]]] = {}
    for m in members:
        groups.setdefault(tuple(m[k] for k in keys), []).append(m)
    rows = []
    for key, group in groups.items():
        row: dict[str, Any] = dict(zip(keys, key))
        row["seeds"] = len(group)
        row["diverged"] = sum(bool(m.get("diverged")) for m in group)
        for metric in metrics:
            row[metric], row[metric + "_se"] = mean_se(_value(m, metric) for m in group)
        rows.append(row)
    return rows
