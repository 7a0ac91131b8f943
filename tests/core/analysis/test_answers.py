"""The bank's numeric answers: each one computed by the engine's modules, checked here against a second,
independent computation (a closed form, or an exact count)."""
import math

import numpy as np
import pytest
import torch

from core.analysis import answers as a
from core.engine import dropout as engine_dropout
from core.engine.spatial import block_gamma


def test_one_unit_through_the_engines_layer():
    assert a.inverted_train_output(5.0, 0.2) == pytest.approx(6.25)
    assert a.inverted_train_output(2.0, 0.0) == pytest.approx(2.0)
    assert a.inverted_eval_output(5.0, 0.7) == 5.0
    assert a.classic_eval_output(3.0, 0.5) == pytest.approx(1.5)
    assert a.classic_train_output(3.0, 0.5) == pytest.approx(3.0)
    assert a.survivor_gradient(2.0, 0.5) == pytest.approx(4.0)
    assert a.drop_from_keep(0.8) == pytest.approx(0.2) and a.keep_from_drop(0.2) == pytest.approx(0.8)
    assert a.expected_dropped(128, 0.25) == 32 and a.expected_kept(128, 0.25) == 96


def test_the_answers_follow_the_engine_so_they_cannot_disagree_with_it(monkeypatch):
    """Break the engine's scaling and the answer changes with it: it is computed, not retyped."""
    original = engine_dropout.Dropout.forward

    def unscaled(self, x):
        out = original(self, x)
        return out * (1 - self.p) if self.training and not self.classic else out
    monkeypatch.setattr(engine_dropout.Dropout, "forward", unscaled)
    assert a.inverted_train_output(5.0, 0.2) == pytest.approx(5.0)


@pytest.mark.parametrize("x, p", [(1.0, 0.5), (2.0, 0.2), (3.0, 0.9)])
def test_variance_and_gaussian_noise_match_their_closed_forms(x, p):
    assert a.output_variance(x, p) == pytest.approx(x * x * p / (1 - p))
    assert a.gaussian_std(p) == pytest.approx(math.sqrt(p / (1 - p)))
    # and the measured spread of the engine's layer agrees: n draws, within 5 standard errors of a sample
    # variance, sqrt((mu4 - var^2) / n), mu4 the fourth central moment of the two outcomes 0 and x / (1 - p)
    n = 200_000
    layer = engine_dropout.Dropout(p, generator=torch.Generator().manual_seed(0))
    out = layer(torch.full((n,), x, dtype=torch.float64))
    var = a.output_variance(x, p)
    mu4 = p * x ** 4 + (1 - p) * (x * p / (1 - p)) ** 4
    assert out.var().item() == pytest.approx(var, abs=5 * math.sqrt((mu4 - var ** 2) / n) + 1e-3 * var)  # floor: at p = 0.5 the first-order term vanishes


def test_the_measured_drop_fraction_is_p_within_its_binomial_spread():
    for p in (0.1, 0.5, 0.8):
        assert a.measured_drop_fraction(p) == pytest.approx(p, abs=5 * math.sqrt(p * (1 - p) / 100_000) + 5e-4)


def test_counts_and_rules_of_the_variants():
    assert a.thinned_networks(10) == 1024 and a.log10_thinned_networks(100) == pytest.approx(30.1, abs=0.01)
    assert a.width_for_dropout(100, 0.5) == pytest.approx(200)
    assert a.dropconnect_dropped(100, 50, 0.5) == 2500
    assert a.droppath_survival(6, 12, 0.5) == pytest.approx(0.75)
    assert a.rnn_mask_draws(20, 4, 8, 1) == 32 and a.rnn_mask_draws(20, 4, 8, 0) == 640
    assert a.attention_dropped(8, 10, 0.1) == pytest.approx(80)
    assert a.concrete_mask(0.5, 0.5, 0.1) == pytest.approx(0.5)
    assert a.concrete_mask(0.2, 0.9, 0.1) < 0.01  # u far above p: dropped, nearly hard at a low temperature


@pytest.mark.parametrize("p", [0.05, 0.2, 0.5])
def test_alpha_dropouts_factor_is_torchs(p):
    alpha = -1.0507009873554805 * 1.6732632423543772
    assert a.alpha_dropout_a(p) == pytest.approx(((1 - p) * (1 + p * alpha ** 2)) ** -0.5, abs=1e-4)


def test_variance_shift_and_mc_quantities():
    assert a.variance_shift(0.0, 1.0, 0.5) == pytest.approx(2.0)  # 1 / (1 - p) for a zero-mean input
    assert a.variance_shift(1.0, 1.0, 0.5) == pytest.approx(3.0)
    assert a.mc_tau(1.0, 0.5, 100, 0.01) == pytest.approx(0.25)
    assert a.mc_entropy(0.9, 0.1) == pytest.approx(math.log(2), abs=1e-4)  # the mean is 50/50
    h = -(0.9 * math.log(0.9) + 0.1 * math.log(0.1))
    assert a.mc_mutual_information(0.9, 0.1) == pytest.approx(math.log(2) - h, abs=1e-4)
    assert a.mc_mutual_information(0.7, 0.7) == pytest.approx(0.0, abs=1e-4)  # passes agree: no model uncertainty


def exact_dropped(p: float, block: int, side: int) -> float:
    """1 - mean over pixels of (1 - gamma)^(number of valid block corners whose block covers the pixel)."""
    gamma = block_gamma(p, block, side, side)
    valid = side - block + 1
    cover = np.zeros(side)
    for corner in range(valid):
        cover[corner : corner + block] += 1
    counts = np.outer(cover, cover)
    return float(1 - np.mean((1 - gamma) ** counts))


@pytest.mark.parametrize("p, block", [(0.3, 3), (0.1, 2), (0.5, 5)])
def test_the_measured_dropblock_fraction_matches_the_exact_one(p, block):
    exact = exact_dropped(p, block, 8)
    # 20,000 maps; pixels of one map are dependent, so allow the spread of 20,000 draws, times five
    assert a.dropblock_dropped(p, block, 8) == pytest.approx(exact, abs=5 * math.sqrt(exact * (1 - exact) / 20_000) + 5e-4)
    assert exact < p, "overlapping blocks drop less than p"


def test_dropout2d_draws_count_rows_for_a_3d_tensor():
    assert a.dropout2d_draws(4, 8, 8) == 4 * 8  # each row of each map: the pitfall
    assert a.dropout2d_draws(3, 5, 7) == 3 * 5
    assert a.maps_dropped(16, 0.25) == 4 and a.survivor_scale(0.2) == pytest.approx(1.25)
