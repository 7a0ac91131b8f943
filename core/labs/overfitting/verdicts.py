"""The verdicts that compare the dropout papers' claims (lesson 3) with the numbers.

The machinery is lesson-agnostic and lives in core.analysis.verdicts (paired t-tests over
seeds, holds / unclear / does not hold); it is re-exported here so that callers importing it
from this module keep working. What is lesson 3's own is which comparisons make each claim.

Comparisons are fixed before looking at the data: an end of a curve is compared with
the mean of the curve's inner points, never with whichever point happened to come out
best (picking the best and then testing it on the same seeds would find a "winner" in
pure noise far more often than 5 % of the time).
"""
from __future__ import annotations

from typing import Any

from core.analysis.verdicts import (  # noqa: F401 (re-exported: lesson 3's callers import them from here)
    FAILS,
    HOLDS,
    UNCLEAR,
    Check,
    Verdict,
    by_seed,
    check_beats_each,
    check_larger,
    combine,
    inner_mean,
    mean_se,
    num,
    pct,
    summarize,
    t_critical,
)


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


def judge_early_stopping(members: list[dict[str, Any]]) -> Verdict:
    """Dropout's final numbers against the no-dropout runs stopped at their lowest validation loss
    (label "no dropout, stopped early"): does dropout beat early stopping? And do the two together
    (label "dropout, stopped early") beat early stopping alone?"""
    on, early, both = "dropout", "no dropout, stopped early", "dropout, stopped early"
    return combine([
        check_larger("dropout's final validation error is lower than that of the run without dropout stopped at "
                     "its best epoch", by_seed(members, "val_err", label=early),
                     by_seed(members, "val_err", label=on), pct, ("stopped early", on)),
        check_larger("dropout's final validation loss is lower than that of the run without dropout stopped at "
                     "its best epoch", by_seed(members, "val_loss", label=early),
                     by_seed(members, "val_loss", label=on), num, ("stopped early", on)),
        check_larger("dropout and early stopping together give a lower validation error than early stopping alone",
                     by_seed(members, "val_err", label=early), by_seed(members, "val_err", label=both), pct,
                     ("stopped early", "both")),
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
