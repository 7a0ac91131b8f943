"""The leak experiment: its plan, its verdict logic on made-up members, a small real run, and cancel."""
from __future__ import annotations

import pytest

from core.analysis.verdicts import FAILS, HOLDS, UNCLEAR
from core.engine.config import ConfigError
from core.labs.production.leak import LeakSettings, helps_from, judge, lines, run_leak


def test_the_plan_has_every_arm_and_the_rates_include_0_and_p_high():
    s = LeakSettings(rates=(0.5,), p_high=0.8, leaks=(0.25, 1.0), leak=1.0)
    assert s.all_rates == (0.0, 0.5, 0.8)
    arms = [(arm, spec.mode, spec.p, spec.leak) for arm, spec in s.plan(0)]
    assert ("none", "none", 0.0, 1.0) in arms and ("feature", "feature", 0.8, 1.0) in arms
    assert ("leak sweep", "unit", 0.0, 0.25) in arms and ("leak sweep", "unit", 0.8, 0.25) in arms
    assert not any(arm == "leak sweep" and leak == 1.0 for arm, _, _, leak in arms)  # the main runs cover it
    assert not any(arm == "feature" and p == 0.0 for arm, _, p, _ in arms)


def members(unit_hi, unit_0, feature_hi, none, sweep=None):
    out = []
    for seed in range(5):
        jitter = 0.002 * (seed - 2)
        for arm, mode, p, value in (("unit", "unit", 0.8, unit_hi), ("unit", "unit", 0.0, unit_0),
                                    ("feature", "feature", 0.8, feature_hi), ("none", "none", 0.0, none)):
            out.append({"arm": arm, "mode": mode, "p": p, "leak": 1.0, "seed": seed,
                        "serving_acc": value + jitter * (1 if p else -1)})
        for leak, (hi, zero) in (sweep or {}).items():
            out.append({"arm": "leak sweep", "mode": "unit", "p": 0.8, "leak": leak, "seed": seed, "serving_acc": hi + jitter})
            out.append({"arm": "leak sweep", "mode": "unit", "p": 0.0, "leak": leak, "seed": seed, "serving_acc": zero - jitter})
    return out


def test_the_verdicts_follow_the_numbers():
    s = LeakSettings(leaks=(0.25, 0.5))
    out = dict(judge(s, members(0.80, 0.67, 0.82, 0.78, {0.25: (0.80, 0.82), 0.5: (0.81, 0.81)})))
    assert out["high dropout on the context layer"].status == HOLDS
    assert out["the leak read freely"].status == HOLDS
    assert out["against no context"].status == HOLDS
    assert out["whole feature or units"].status == HOLDS
    assert out["leak 0.25"].status == FAILS and out["leak 0.5"].status == UNCLEAR and out["leak 1"].status == HOLDS
    verdicts = [{"claim": k, **v.to_json()} for k, v in out.items()]
    assert helps_from({"verdicts": verdicts}) == 1.0
    reversed_ = dict(judge(s, members(0.67, 0.80, 0.60, 0.70, {0.25: (0.8, 0.8), 0.5: (0.8, 0.8)})))
    assert reversed_["high dropout on the context layer"].status == FAILS
    assert reversed_["whole feature or units"].status == FAILS


def test_a_small_run_gives_members_with_the_promised_fields_and_a_table():
    s = LeakSettings(rates=(0.0, 0.8), leaks=(0.5,), seeds=2, steps=40, n_train=300)
    out = run_leak(s).to_json()
    assert not out["cancelled"] and len(out["members"]) == 2 * len(s.plan(0))
    for m in out["members"]:
        assert {"p", "seed", "leak", "train_acc", "serving_acc", "legit_only_acc"} <= set(m)
    assert [v["claim"] for v in out["verdicts"]][:4] == ["high dropout on the context layer", "the leak read freely",
                                                       "against no context", "whole feature or units"]
    text = "\n".join(lines(out))
    assert "serving acc" in text and "done in" in text


def test_cancel_returns_what_was_done_and_judges_nothing():
    calls = []
    out = run_leak(LeakSettings(seeds=2, steps=100), cancelled=lambda: calls.append(1) or len(calls) > 2).to_json()
    assert out["cancelled"] and out["verdicts"] == [] and len(out["members"]) < 2 * 16
    assert "cancelled" in "\n".join(lines(out))


@pytest.mark.parametrize("change", [{"rates": ()}, {"rates": (0.5, 1.2)}, {"leaks": (2.0,)}, {"seeds": 1},
                                    {"p_high": 0.0}, {"n_train": 10}, {"rates": "0.5"}])
def test_bad_settings_are_refused(change):
    with pytest.raises(ConfigError):
        LeakSettings(**change)
