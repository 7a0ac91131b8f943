"""Summaries over seeds and the verdicts that compare a paper's claim with them.

A claim is a few *checks*, each "A is larger than B" for some measured number. Seeds are
paired across the compared settings (seed s means the same data and initial weights on
both sides), so each check is a paired t-test on the per-seed differences: their mean,
its standard error ``se = sd / sqrt(n)``, and Student's t critical value for n - 1
degrees of freedom at the two-sided 5 % level (12.7 for 2 seeds, 2.36 for 8, 2.26 for
10). A check **holds** when the mean difference exceeds ``t * se`` in the claimed
direction, **fails** when it does so the other way, and is **unclear** otherwise (a
single seed has no error bar, so it is always unclear).

Comparisons are fixed before looking at the data: an end of a curve is compared with
the mean of the curve's inner points, never with whichever point happened to come out
best (picking the best and then testing it on the same seeds would find a "winner" in
pure noise far more often than 5 % of the time). "A beats each of B1..Bm" holds only when
each of its m tests holds, and fails when any fails.

A verdict holds when every check holds, does not hold when any check fails, and is
unclear otherwise.
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


# -- the five claims ------------------------------------------------------------------------
def judge_rate_u_shape(members: list[dict[str, Any]]) -> Verdict:
    """Fig. 9a: validation error is U-shaped in p, and the highest p underfits."""
    rates = sorted({m["p"] for m in members})
    if len(rates) < 3:
        raise ValueError("the U-shape needs at least three dropout rates")
    low, high, inner = rates[0], rates[-1], rates[1:-1]
    val = {p: by_seed(members, "val_err", p=p) for p in rates}
    middle = inner_mean([val[p] for p in inner])
    span = f"p = {inner[0]:g}" if len(inner) == 1 else f"p = {inner[0]:g} to {inner[-1]:g}"
    return combine([
        check_larger(f"too little dropout hurts: p = {low:g} has a higher validation error than the middle "
                     f"of the range ({span}, averaged)", val[low], middle, pct, (f"p={low:g}", "middle")),
        check_larger(f"too much dropout hurts: p = {high:g} has a higher validation error than the middle "
                     f"of the range ({span}, averaged)", val[high], middle, pct, (f"p={high:g}", "middle")),
        check_larger(f"very high p underfits: training error at p = {high:g} is above that at p = {low:g}",
                     by_seed(members, "train_err", p=high), by_seed(members, "train_err", p=low), pct,
                     (f"p={high:g}", f"p={low:g}")),
    ])


def judge_fixed_pn(members: list[dict[str, Any]]) -> Verdict:
    """Fig. 9b: scaling the width as n/(1-p) lowers the error at the high-p end."""
    rates = sorted({m["p"] for m in members})
    top = rates[-2:]  # the high-p end: the two highest rates, averaged per seed
    def mean_top(label: str, metric: str) -> dict[int, float]:
        return inner_mean([by_seed(members, metric, p=p, label=label) for p in top])
    where = " and ".join(f"{p:g}" for p in top)
    return combine([
        check_larger(f"at the high-p end (p = {where}), keeping (1−p)·n fixed gives a lower validation error than "
                     "keeping n fixed", mean_top("fixed n", "val_err"), mean_top("fixed (1−p)·n", "val_err"), pct,
                     ("fixed n", "fixed (1−p)·n")),
        check_larger(f"... because the wider network underfits less: training error at p = {where} is lower "
                     "with (1−p)·n fixed", mean_top("fixed n", "train_err"), mean_top("fixed (1−p)·n", "train_err"), pct,
                     ("fixed n", "fixed (1−p)·n")),
    ])


def gains(members: list[dict[str, Any]]) -> dict[int, dict[int, float]]:
    """n_train -> seed -> (validation error without dropout) - (with dropout)."""
    out = {}
    for n in sorted({m["n_train"] for m in members}):
        off = by_seed(members, "val_err", n_train=n, label="no dropout")
        on = by_seed(members, "val_err", n_train=n, label="dropout")
        out[n] = {s: off[s] - on[s] for s in set(off) & set(on)}
    return out


def judge_data_size(members: list[dict[str, Any]]) -> Verdict:
    """Fig. 10: the gain from dropout is largest at intermediate training-set sizes."""
    g = gains(members)
    sizes = sorted(g)
    if len(sizes) < 3:
        raise ValueError("the data-size claim needs at least three training-set sizes")
    small, large, inner = sizes[0], sizes[-1], sizes[1:-1]
    middle = inner_mean([g[n] for n in inner])
    span = f"n = {inner[0]}" if len(inner) == 1 else f"n = {inner[0]} to {inner[-1]}"
    return combine([
        check_larger(f"the gain from dropout is larger in the middle ({span}, averaged) than at the smallest "
                     f"size, n = {small}", middle, g[small], pct, ("gain in the middle", f"gain at n={small}")),
        check_larger(f"the gain from dropout is larger in the middle ({span}, averaged) than at the largest "
                     f"size, n = {large}", middle, g[large], pct, ("gain in the middle", f"gain at n={large}")),
    ])


def judge_train_val(members: list[dict[str, Any]]) -> Verdict:
    """Hinton et al. 2012: dropout ends with the higher training loss and the lower validation loss."""
    on, off = "dropout", "no dropout"
    return combine([
        check_larger("with dropout the final training loss is higher", by_seed(members, "train_loss", label=on),
                     by_seed(members, "train_loss", label=off), num, (on, off)),
        check_larger("with dropout the final validation loss is lower", by_seed(members, "val_loss", label=off),
                     by_seed(members, "val_loss", label=on), num, (off, on)),
    ])


REGULARIZERS = ("none", "L2", "max-norm", "dropout", "dropout + max-norm", "dropout + L2")


def judge_regularizers(members: list[dict[str, Any]]) -> Verdict:
    """Table 9: dropout + max-norm gives the lowest validation error of the regularizers."""
    err = {label: by_seed(members, "val_err", label=label) for label in REGULARIZERS}
    winner = "dropout + max-norm"
    return combine([
        check_beats_each("dropout + max-norm has a lower validation error than each method without dropout "
                         "(none, L2, max-norm)", err[winner], {k: err[k] for k in ("none", "L2", "max-norm")},
                         pct, winner),
        check_beats_each("dropout + max-norm has a lower validation error than the other dropout variants "
                         "(dropout, dropout + L2)", err[winner], {k: err[k] for k in ("dropout", "dropout + L2")},
                         pct, winner),
    ])
