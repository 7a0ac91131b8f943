import math

import pytest

from core.verdicts import (
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
    pct,
    summarize,
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


def test_check_larger_holds_fails_and_stays_unclear_by_two_standard_errors():
    larger = {s: 0.2 + JITTER[s] for s in SEEDS}
    fmt = pct
    assert check_larger("x", larger, {s: 0.1 for s in SEEDS}, fmt, ("a", "b")).status == HOLDS
    assert check_larger("x", {s: 0.1 for s in SEEDS}, larger, fmt, ("a", "b")).status == FAILS
    assert check_larger("x", larger, {s: 0.2 for s in SEEDS}, fmt, ("a", "b")).status == UNCLEAR
    one = check_larger("x", {0: 0.9}, {0: 0.1}, fmt, ("a", "b"))
    assert one.status == UNCLEAR and "one seed" in one.detail  # no error bar, no verdict


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
        (("label", "fixed n"), ("p", 0.0)): (0.10, 0.0), (("label", "fixed p·n"), ("p", 0.0)): (0.10, 0.0),
        (("label", "fixed n"), ("p", 0.8)): (high_fixed_n, high_fixed_n / 2),
        (("label", "fixed p·n"), ("p", 0.8)): (high_fixed_pn, high_fixed_pn / 2),
        (("label", "fixed n"), ("p", 0.9)): (high_fixed_n, high_fixed_n / 2),
        (("label", "fixed p·n"), ("p", 0.9)): (high_fixed_pn, high_fixed_pn / 2),
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
    assert verdict.status == FAILS and "L2" in verdict.checks[0].text


def test_summarize_averages_per_setting():
    rows = summarize(members({0.0: (0.2, 0.0), 0.5: (0.1, 0.0)}), ("p",), ("val_err",))
    assert [r["p"] for r in rows] == [0.0, 0.5]
    assert rows[0]["val_err"] == pytest.approx(0.2 + sum(JITTER) / len(JITTER), abs=1e-12)
    assert rows[0]["seeds"] == len(SEEDS) and rows[0]["val_err_se"] > 0
