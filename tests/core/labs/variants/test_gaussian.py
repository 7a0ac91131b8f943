"""Gaussian dropout's experiment: the signature (its multiplier has Bernoulli dropout's mean and variance),
the equivalence check, settings refused with sentences, cancel, and a strict-JSON result."""
from __future__ import annotations

import json
import math

import pytest

from core.analysis.verdicts import FAILS, HOLDS, UNCLEAR
from core.engine.config import ConfigError
from core.labs.variants import gaussian
from core.labs.variants.common import check_agrees
from core.analysis.verdicts import pct

SMALL = gaussian.Settings(seeds=2, epochs=10, width=16)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_the_multiplier_has_bernoullis_mean_and_variance(p):
    n = 200_000
    m = gaussian.multiplier_moments(p, draws=n, seed=3)
    var = p / (1 - p)
    assert m["theory_var"] == pytest.approx(var)
    # The mean of n multipliers of variance var is within 5 standard errors of 1.
    for side in ("bernoulli", "gaussian"):
        assert abs(m[f"{side}_mean"] - 1) < 5 * math.sqrt(var / n), side
    # A sample variance's se: sqrt(2/n) var for a normal; for the Bernoulli multiplier (values 0 and 1/(1-p)),
    # sqrt((mu4 - var^2) / n), mu4 its fourth central moment (0 at p = 0.5, where (x - 1)^2 is always 1: then
    # only the estimated mean's O(var / n) term is left).
    assert abs(m["gaussian_var"] - var) < 5 * math.sqrt(2 / n) * var
    q = 1 - p
    mu4 = q * (1 / q - 1) ** 4 + p * 1.0
    assert abs(m["bernoulli_var"] - var) < 5 * math.sqrt((mu4 - var**2) / n) + 10 * var / n


def test_agreement_holds_inside_the_margin_fails_outside_and_is_unclear_in_between():
    a = {s: 0.10 + 0.001 * (s % 3) for s in range(8)}
    near = {s: v + 0.002 for s, v in a.items()}
    far = {s: v + 0.08 for s, v in a.items()}
    noisy = {s: v + (0.05 if s % 2 else -0.04) for s, v in a.items()}
    assert check_agrees("x", a, near, 0.02, pct, ("a", "b")).status == HOLDS
    assert check_agrees("x", a, far, 0.02, pct, ("a", "b")).status == FAILS
    assert check_agrees("x", a, noisy, 0.02, pct, ("a", "b")).status == UNCLEAR
    assert check_agrees("x", {0: 0.1}, {0: 0.1}, 0.02, pct, ("a", "b")).status == UNCLEAR  # one seed: no error bar


@pytest.mark.parametrize("bad", [{"p": 0.0}, {"p": 0.95}, {"seeds": 1}, {"epochs": 2.5}, {"width": 1000}])
def test_bad_settings_are_refused_with_a_sentence(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        gaussian.Settings(**bad)
    with pytest.raises(ConfigError, match="unknown setting"):
        gaussian.Settings.from_json({"colour": 1})


def test_a_small_run_judges_both_claims_and_is_strict_json_and_deterministic():
    first = gaussian.run(SMALL)
    assert not first.cancelled and [name for name, _ in first.verdicts] == ["gaussian agrees with bernoulli",
                                                                           "gaussian beats none"]
    assert {row["label"] for row in first.rows} == set(gaussian.SIDES)
    assert all(len(first.series[side]["epoch"]) == SMALL.epochs for side in gaussian.SIDES)
    text = json.dumps(first.to_json(), allow_nan=False)
    assert json.loads(text)["experiment"] == "gaussian"
    again = gaussian.run(SMALL)
    assert again.rows == first.rows


def test_cancel_returns_a_cancelled_result_without_verdicts():
    result = gaussian.run(SMALL, cancelled=lambda: True)
    assert result.cancelled and not result.verdicts and "cancelled" in result.note
