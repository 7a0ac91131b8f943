"""Summaries over seeds and the verdicts that compare a paper's claim with them.

A claim is a few *checks*, each "A is larger than B" for some measured number. Seeds are
paired across the compared settings (seed s means the same data and initial weights on
both sides), so each check looks at the per-seed differences: their mean and its
standard error ``se = sd / sqrt(seeds)``. A check **holds** when the mean difference is
more than two standard errors in the claimed direction, **fails** when it is more than
two standard errors the other way, and is **unclear** otherwise (one seed has no error
bar, so it is always unclear). A verdict holds when every check holds, does not hold
when any check fails, and is unclear otherwise.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable

import numpy as np

HOLDS, UNCLEAR, FAILS = "holds", "unclear", "does not hold"
Z = 2.0  # standard errors a difference must exceed to count


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
    """Does ``larger`` exceed ``smaller``? Both map seed -> value; only seeds in both count."""
    seeds = sorted(set(larger) & set(smaller))
    diffs = [larger[s] - smaller[s] for s in seeds]
    diff, se = mean_se(diffs)
    a, _ = mean_se(larger[s] for s in seeds)
    b, _ = mean_se(smaller[s] for s in seeds)
    if not math.isfinite(diff):
        status = UNCLEAR
    elif math.isfinite(se) and diff > Z * se:
        status = HOLDS
    elif math.isfinite(se) and diff < -Z * se:
        status = FAILS
    else:
        status = UNCLEAR
    se_text = f" ± {fmt(se)}" if math.isfinite(se) else " (one seed: no error bar)"
    detail = f"{names[0]} {fmt(a)} vs {names[1]} {fmt(b)}: difference {fmt(diff)}{se_text} over {len(seeds)} seeds"
    return Check(text, status, diff, se, detail)


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
    best = min(inner, key=lambda p: mean_se(val[p].values())[0])
    return combine([
        check_larger(f"too little dropout hurts: p = {low:g} has a higher validation error than p = {best:g}",
                     val[low], val[best], pct, (f"p={low:g}", f"p={best:g}")),
        check_larger(f"too much dropout hurts: p = {high:g} has a higher validation error than p = {best:g}",
                     val[high], val[best], pct, (f"p={high:g}", f"p={best:g}")),
        check_larger(f"very high p underfits: training error at p = {high:g} is above that at p = {low:g}",
                     by_seed(members, "train_err", p=high), by_seed(members, "train_err", p=low), pct,
                     (f"p={high:g}", f"p={low:g}")),
    ])


def judge_fixed_pn(members: list[dict[str, Any]]) -> Verdict:
    """Fig. 9b: scaling the width as n/(1-p) lowers the error at the high-p end."""
    rates = sorted({m["p"] for m in members})
    top = rates[-2:]  # the high-p end: the two highest rates, averaged per seed
    def mean_top(label: str, metric: str) -> dict[int, float]:
        tables = [by_seed(members, metric, p=p, label=label) for p in top]
        seeds = set.intersection(*(set(t) for t in tables))
        return {s: float(np.mean([t[s] for t in tables])) for s in seeds}
    where = " and ".join(f"{p:g}" for p in top)
    return combine([
        check_larger(f"at the high-p end (p = {where}), keeping p·n fixed gives a lower validation error than "
                     "keeping n fixed", mean_top("fixed n", "val_err"), mean_top("fixed p·n", "val_err"), pct,
                     ("fixed n", "fixed p·n")),
        check_larger(f"... because the wider network underfits less: training error at p = {where} is lower "
                     "with p·n fixed", mean_top("fixed n", "train_err"), mean_top("fixed p·n", "train_err"), pct,
                     ("fixed n", "fixed p·n")),
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
    best = max(inner, key=lambda n: mean_se(g[n].values())[0])
    return combine([
        check_larger(f"the gain from dropout is larger at n = {best} than at the smallest size, n = {small}",
                     g[best], g[small], pct, (f"gain at n={best}", f"gain at n={small}")),
        check_larger(f"the gain from dropout is larger at n = {best} than at the largest size, n = {large}",
                     g[best], g[large], pct, (f"gain at n={best}", f"gain at n={large}")),
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
    mean = {label: mean_se(err[label].values())[0] for label in REGULARIZERS}
    best_plain = min(("none", "L2", "max-norm"), key=lambda k: mean[k])
    best_dropout = min(("dropout", "dropout + L2"), key=lambda k: mean[k])
    winner = "dropout + max-norm"
    return combine([
        check_larger(f"dropout + max-norm beats the best method without dropout ({best_plain})",
                     err[best_plain], err[winner], pct, (best_plain, winner)),
        check_larger(f"dropout + max-norm beats the other dropout variants (best: {best_dropout})",
                     err[best_dropout], err[winner], pct, (best_dropout, winner)),
    ])
