import math

import numpy as np
import pytest

from core.labs.overfitting.verdicts import (
    FAILS,
    HOLDS,
    REGULARIZERS,
    UNCLEAR,
    check_larger,
    judge_data_size,
    judge_fixed_pn,
    judge_rate_u_shape,
    judge_regularizers,
    judge_train_val,
    mean_se,
    num,
    pct,
    summarize,
    t_critical,
)

SEEDS = range(6)
JITTER = (0.004, -0.003, 0.001, -0.002, 0.003, -0.001)  # per-seed noise, the same on every setting


def members(values: dict, **fixed) -> list[dict]:
    """Hand-made sweep members: ``values[key] = (val_err, train_err)`` (or a dict of metrics)."""
    out = []
    for key, v in values.items():
        val_err, train_err = v
        for s in SEEDS:
            m = {"seed": s, "val_acc": 1 - val_err - JITTER[s], "train_acc": 1 - train_err - JITTER[s] / 2,
                 "val_loss": val_err * 3 + JITTER[s], "train_loss": train_err * 3 + JITTER[s], **fixed}
            if isinstance(key, tuple):  # ((field, value), ...)
                m.update(dict(key))
            else:
                m["p" if isinstance(key, float) else "label"] = key
            out.append(m)
    return out


def test_check_larger_holds_fails_and_stays_unclear_by_students_t():
    larger = {s: 0.2 + JITTER[s] for s in SEEDS}
    fmt = pct
    assert check_larger("x", larger, {s: 0.1 for s in SEEDS}, fmt, ("a", "b")).status == HOLDS
    assert check_larger("x", {s: 0.1 for s in SEEDS}, larger, fmt, ("a", "b")).status == FAILS
    assert check_larger("x", larger, {s: 0.2 for s in SEEDS}, fmt, ("a", "b")).status == UNCLEAR
    one = check_larger("x", {0: 0.9}, {0: 0.1}, fmt, ("a", "b"))
    assert one.status == UNCLEAR and "no error bar" in one.detail  # no error bar, no verdict


def test_the_threshold_is_students_t_not_two_standard_errors():
    # Differences 1 and 2 (mean 1.5, se 0.5): 3 standard errors. Enough with many seeds,
    # not with two, where t for 1 degree of freedom is 12.7.
    two = check_larger("x", {0: 1.0, 1: 2.0}, {0: 0.0, 1: 0.0}, num, ("a", "b"))
    assert two.se == pytest.approx(0.5) and two.status == UNCLEAR
    assert t_critical(2) == pytest.approx(12.706) and t_critical(8) == pytest.approx(2.365)
    assert t_critical(10) == pytest.approx(2.262) and t_critical(1000) == 1.96 and t_critical(1) == math.inf
    many = {s: 1.0 + (s % 2) for s in range(30)}  # the same spread, 30 seeds: t = 2.05
    assert check_larger("x", many, {s: 0.0 for s in range(30)}, num, ("a", "b")).status == HOLDS


def test_non_finite_seeds_are_left_out_and_not_counted():
    check = check_larger("x", {0: 0.3, 1: math.nan, 2: 0.31, 3: 0.29}, {s: 0.1 for s in range(4)}, pct, ("a", "b"))
    assert "over 3 seeds" in check.detail and check.status == HOLDS


def test_picking_the_best_point_does_not_manufacture_a_u_shape_from_noise():
    """Seven rates with no effect at all: the ends must not "hold" much more than 5 % of the time."""
    rng = np.random.default_rng(0)
    trials, false_holds = 400, 0
    for _ in range(trials):
        noise = rng.normal(0.0, 0.01, (7, 8))
        members = [{"seed": s, "p": p, "val_acc": 0.8 + noise[i, s], "train_acc": 1.0, "val_loss": 0.0,
                    "train_loss": 0.0} for i, p in enumerate((0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 0.9)) for s in range(8)]
        false_holds += judge_rate_u_shape(members).checks[0].status == HOLDS
    # one-sided 2.5 % nominal; allow four binomial standard errors above it
    assert false_holds / trials < 0.025 + 4 * math.sqrt(0.025 * 0.975 / trials)


def test_mean_se_matches_the_textbook_formula():
    mean, se = mean_se([1.0, 2.0, 3.0, 4.0])
    assert mean == 2.5 and se == pytest.approx(math.sqrt(5 / 3) / 2)
    assert math.isnan(mean_se([1.0])[1]) and math.isnan(mean_se([])[0])


def test_u_shape_holds_on_a_u_and_not_on_a_monotone_curve():
    u = members({0.0: (0.20, 0.00), 0.5: (0.10, 0.02), 0.9: (0.30, 0.15)})
    verdict = judge_rate_u_shape(u)
    assert verdict.status == HOLDS and len(verdict.checks) == 3
    rising = members({0.0: (0.10, 0.00), 0.5: (0.15, 0.02), 0.9: (0.30, 0.15)})
    verdict = judge_rate_u_shape(rising)
    assert verdict.status == FAILS
    assert [c.status for c in verdict.checks] == [FAILS, HOLDS, HOLDS]


def test_u_shape_needs_three_rates():
    with pytest.raises(ValueError, match="three"):
        judge_rate_u_shape(members({0.0: (0.1, 0.0), 0.5: (0.1, 0.0)}))


def _pn(high_fixed_n: float, high_fixed_pn: float) -> list[dict]:
    return members({
        (("label", "fixed n"), ("p", 0.0)): (0.10, 0.0), (("label", "fixed (1−p)·n"), ("p", 0.0)): (0.10, 0.0),
        (("label", "fixed n"), ("p", 0.8)): (high_fixed_n, high_fixed_n / 2),
        (("label", "fixed (1−p)·n"), ("p", 0.8)): (high_fixed_pn, high_fixed_pn / 2),
        (("label", "fixed n"), ("p", 0.9)): (high_fixed_n, high_fixed_n / 2),
        (("label", "fixed (1−p)·n"), ("p", 0.9)): (high_fixed_pn, high_fixed_pn / 2),
    })


def test_fixed_pn_holds_when_widening_helps_at_high_p():
    assert judge_fixed_pn(_pn(0.30, 0.12)).status == HOLDS
    assert judge_fixed_pn(_pn(0.12, 0.30)).status == FAILS


def _sizes(gain_by_size: dict[int, float]) -> list[dict]:
    values = {}
    for n, gain in gain_by_size.items():
        values[(("label", "no dropout"), ("n_train", n))] = (0.2 + gain, 0.0)
        values[(("label", "dropout"), ("n_train", n))] = (0.2, 0.0)
    return members(values)


def test_data_size_holds_when_the_gain_peaks_in_the_middle():
    assert judge_data_size(_sizes({20: 0.0, 80: 0.05, 320: 0.01})).status == HOLDS
    verdict = judge_data_size(_sizes({20: 0.08, 80: 0.05, 320: 0.01}))  # largest gain at the smallest size
    assert verdict.status == FAILS and verdict.checks[0].status == FAILS


def test_train_val_holds_when_dropout_trades_training_for_validation_loss():
    holds = members({"no dropout": (0.20, 0.00), "dropout": (0.10, 0.05)})
    assert judge_train_val(holds).status == HOLDS
    reversed_ = members({"no dropout": (0.10, 0.05), "dropout": (0.20, 0.00)})
    assert judge_train_val(reversed_).status == FAILS


def test_regularizers_hold_when_dropout_plus_max_norm_wins():
    errors = dict(zip(REGULARIZERS, (0.20, 0.15, 0.14, 0.12, 0.08, 0.11)))
    assert judge_regularizers(members({k: (v, 0.0) for k, v in errors.items()})).status == HOLDS
    errors["L2"] = 0.05  # a plain regularizer wins
    verdict = judge_regularizers(members({k: (v, 0.0) for k, v in errors.items()}))
    assert verdict.status == FAILS and verdict.checks[0].detail.startswith("closest: L2")


def test_summarize_averages_per_setting():
    rows = summarize(members({0.0: (0.2, 0.0), 0.5: (0.1, 0.0)}), ("p",), ("val_err",))
    assert [r["p"] for r in rows] == [0.0, 0.5]
    assert rows[0]["val_err"] == pytest.approx(0.2 + sum(JITTER) / len(JITTER), abs=1e-12)
    assert rows[0]["seeds"] == len(SEEDS) and rows[0]["val_err_se"] > 0
