"""Lesson 1 quotes numbers; these tests recompute them.

"The ensemble view" quotes a run of ``core.labs.mechanism.ensemble.ensemble_view`` at the page's
defaults (``core.ui.labs.mechanism.DEFAULTS``: p = 0.5, seed 0, K up to 256: moons, noise 0.3, 300
training and 400 validation points, 2-32-32-2 ReLU, 60 epochs), plus seeds 1-4 and p = 0.2 and 0.8
at seed 0. Each number is checked at the rounding the lesson prints, and the sentence that prints
it is looked up in the lesson. The other sections' claims are checked on the networks the page
shows (``core.labs.mechanism.compute``). Reproduce the numbers with
``.venv/bin/python -m pytest -q tests/core/labs/mechanism/test_lesson_claims.py``.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from core.labs.mechanism import compute
from core.labs.mechanism.ensemble import EnsembleRequest, ensemble_view
from core.ui.labs.mechanism import DEFAULTS

LESSON = (Path(__file__).resolve().parents[4] / "lessons" / "01_mechanism.md").read_text(encoding="utf-8")
TEXT = re.sub(r"\s+", " ", LESSON)


def _says(phrase: str) -> None:
    assert phrase in TEXT, f"the lesson no longer says {phrase!r}"


@pytest.fixture(scope="module")
def default():
    request = EnsembleRequest(DEFAULTS["ensemble.p"], DEFAULTS["ensemble.seed"], DEFAULTS["ensemble.k_max"])
    assert request == EnsembleRequest(p=0.5, seed=0, k_max=256), "the lesson quotes these defaults"
    _says("At the defaults (p = 0.5, seed 0, K up to 256)")
    return ensemble_view(request)


@pytest.fixture(scope="module")
def runs():
    """(p, seed) -> a run with K up to 1,024 (its first 256 networks are the default run's)."""
    settings = [(0.5, 0, 1024), *((0.5, seed, 256) for seed in range(1, 5)), (0.2, 0, 256), (0.8, 0, 256)]
    return {(p, seed): ensemble_view(EnsembleRequest(p, seed, k)) for p, seed, k in settings}


def test_the_count_of_thinned_networks(default):
    assert default.n_units == 64 and f"{float(default.n_thinned):.2g}" == "1.8e+19"
    _says("has 64 units that dropout can remove (32 in each hidden layer; the two inputs are never dropped), "
          "so it contains 2^64, about 1.8 × 10^19,")


def test_one_thinned_network_and_the_geometric_mean(default, runs):
    one, _ = default.at(1)
    assert f"{one.gap:.3f}" == "0.012"
    _says("One thinned network on its own is 0.012 away from the full network.")
    geometric = default.series("geometric", "gap")
    assert f"{geometric[-1]:.4f}" == "0.0063" and f"{geometric[-1]:.3f}" == "0.006"
    assert all(f"{g:.3f}" == "0.006" for g, k in zip(geometric, default.ks) if k >= 64), "from K = 64 on"
    assert geometric[-1] < geometric[0], "it gets closer"
    quadrupled = runs[(0.5, 0)].at(1024)[1].gap
    assert f"{quadrupled:.4f}" == "0.0054" and quadrupled > geometric[-1] / 2, "noise alone would halve"
    _says("to about 0.006 from K = 64 on (0.0063 at K = 256), and stays there")
    _says("quadrupling K to 1,024 would halve the noise, and leaves 0.0054")


def test_the_arithmetic_mean_moves_away_and_is_less_confident(default):
    arithmetic = default.series("arithmetic", "gap")
    assert f"{arithmetic[-1]:.3f}" == "0.031" and arithmetic[-1] > arithmetic[0]
    assert all(0.025 < a < 0.045 for a, k in zip(arithmetic, default.ks) if k >= 16), "levelling off near 0.03"
    _says("The arithmetic mean moves *away*, levelling off near 0.03 (0.031 at K = 256).")
    a, g = default.at(256)
    confidences = (f"{a.confidence:.1%}", f"{default.full.confidence:.1%}", f"{g.confidence:.1%}")
    assert confidences == ("94.0%", "97.1%", "97.0%")
    _says("(a mean confidence of 94.0 % against 97.1 %; the geometric mean's is 97.0 %)")


def test_accuracy_and_log_loss_at_256(default):
    a, g = default.at(256)
    assert (f"{default.full.accuracy:.1%}", f"{a.accuracy:.1%}", f"{g.accuracy:.2%}") == ("97.5%", "97.5%", "97.25%")
    assert round((default.full.accuracy - g.accuracy) * default.n_val) == 1
    _says("both classify 97.5 % of the points correctly, the geometric mean 97.25 % (one point fewer)")
    assert (f"{default.full.log_loss:.3f}", f"{a.log_loss:.3f}", f"{g.log_loss:.3f}") == ("0.077", "0.090", "0.080")
    assert default.full.log_loss <= min(a.log_loss, g.log_loss), "as good as 256 sampled ones, or better"
    _says("The log loss is 0.077 for the full network, 0.090 for the arithmetic and 0.080 for the geometric mean")


def test_the_exact_case(default):
    exact = default.exact
    assert (exact.n_units, exact.n_masks) == (12, 4096)
    assert f"{exact.geometric_gap_max:.0e}" == "2e-16" and f"{exact.arithmetic_gap_mean:.3f}" == "0.046"
    _says("one hidden layer of 12 units (p = 0.5, the same data) by enumerating all 4,096 of its masks: the "
          "geometric mean matches the full network to 2e-16 at worst, float64 rounding; the arithmetic mean is "
          "0.046 away on average.")


def test_it_is_the_network_of_bug_a(default):
    correct = compute.bug_left_on()["correct"]
    assert correct["accuracy"] == pytest.approx(default.full.accuracy, abs=1e-6)
    assert correct["log_loss"] == pytest.approx(default.full.log_loss, abs=1e-5)
    _says("(at seed 0 it is the very network of bug (a) below)")


def test_how_far_it_goes(runs):
    for seed in range(1, 5):
        a, g = runs[(0.5, seed)].at(256)
        assert g.gap < a.gap / 3, f"seed {seed}: the geometric mean is much closer"
    _says("On seeds 1 to 4 the geometric mean was again much closer to the full network than the arithmetic mean")
    low = runs[(0.2, 0)]
    a, _ = low.at(256)
    assert a.log_loss < low.full.log_loss and (f"{a.log_loss:.3f}", f"{low.full.log_loss:.3f}") == ("0.067", "0.080")
    _says("at p = 0.2 (seed 0) the arithmetic mean had a *lower* log loss than the full network (0.067 against 0.080)")


def test_what_to_try_p_from_02_to_08(runs):
    (a_low, g_low), (a_high, g_high) = runs[(0.2, 0)].at(256), runs[(0.8, 0)].at(256)
    assert (f"{a_low.gap:.2f}", f"{a_high.gap:.2f}") == ("0.01", "0.07")
    assert max(g_low.gap, g_high.gap) < 0.01
    _says("The arithmetic mean's distance from the full network at K = 256 grows from about 0.01 to about 0.07, "
          "while the geometric mean's stays below 0.01.")


# -- the other sections -----------------------------------------------------------------------------
def test_deep_inputs_spread_least_in_train_and_mc_mode():
    points = compute.example_points()
    for mode in ("train", "mc"):
        spread = compute.mode_spread(points, mode, 50)["probs"].std(0)
        assert spread[:2].max() < spread[2:].min(), mode
    evaluated = compute.mode_spread(points, "eval", 5)["probs"]
    assert (evaluated == evaluated[0]).all()
    _says("Every pass gives the same answer: no spread.")
    _says("Inputs deep inside a class (1 and 2) spread least; inputs near the boundary (3 to 5) spread most.")


def test_the_two_bugs_damage():
    left_on = compute.bug_left_on()
    assert left_on["buggy"]["accuracy"] < left_on["correct"]["accuracy"]
    assert left_on["buggy"]["log_loss"] > left_on["correct"]["log_loss"]
    scale = compute.bug_scale_forgotten()
    correct, buggy = scale["correct"], scale["buggy"]
    assert abs(buggy["accuracy"] - correct["accuracy"]) < 0.01, "accuracy barely moves"
    assert buggy["log_loss"] > 2 * correct["log_loss"], "the log loss more than doubles"
    assert abs(buggy["ece"] - correct["ece"]) < 0.01, "ECE hardly shows it"
    assert correct["confidence"] < correct["accuracy"] and buggy["confidence"] > buggy["accuracy"]
    assert np.isclose(scale["activation_ratio"], 4, rtol=0.05)
    _says("the log loss more than doubles")
    _says("the correct network is slightly under-confident and the buggy one over-confident by a similar amount")
