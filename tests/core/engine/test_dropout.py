"""Our Dropout against the definition and against torch.nn.functional.dropout.

Tolerances come from the sample size: a Bernoulli(keep) fraction over n draws has standard
deviation sqrt(p(1-p)/n); we allow Z standard deviations, with Z large enough that a correct
implementation fails less than once in a million runs (seeds make each run fixed anyway).
"""
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.engine.dropout import Dropout, eval_mode, mc_mode, train_mode

Z = 5.0


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_drop_rate_matches_p(p):
    n = 200_000
    layer = Dropout(p, generator=_gen())
    out = layer(torch.ones(n))
    dropped = (out == 0).float().mean().item()
    assert abs(dropped - p) < Z * math.sqrt(p * (1 - p) / n)
    assert (~layer.last_mask).float().mean().item() == pytest.approx(dropped)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_expected_output_equals_input(p):
    """Inverted dropout: E[out] = x. Each of 50 means over N masks has std |x| sqrt(p/(1-p)/N)."""
    n_masks = 4_000
    x = torch.linspace(-3, 3, 50)
    layer = Dropout(p, generator=_gen(1))
    mean = torch.stack([layer(x) for _ in range(n_masks)]).mean(0)
    std_of_mean = x.abs() * math.sqrt(p / (1 - p) / n_masks)
    assert torch.all((mean - x).abs() <= Z * std_of_mean + 1e-6)


def test_survivors_are_scaled_by_one_over_keep():
    p = 0.2
    layer = Dropout(p, generator=_gen())
    out = layer(torch.full((1000,), 5.0))
    assert out.unique().tolist() == pytest.approx([0.0, 5.0 / (1 - p)])


def test_p_zero_is_identity_while_training():
    x = torch.randn(64, 32)
    layer = Dropout(0.0)
    assert torch.equal(layer(x), x)
    assert layer.last_mask is None


def test_eval_mode_is_identity():
    x = torch.randn(64, 32)
    layer = eval_mode(Dropout(0.7))
    assert torch.equal(layer(x), x)
    assert torch.equal(layer(x), layer(x))


def test_classic_form_scales_at_evaluation_not_in_training():
    p = 0.25
    layer = Dropout(p, classic=True, generator=_gen())
    x = torch.full((1000,), 2.0)
    train_out = layer(x)
    assert set(train_out.unique().tolist()) == {0.0, 2.0}
    assert torch.allclose(eval_mode(layer)(x), x * (1 - p))


@pytest.mark.parametrize("p", [0.3, 0.6])
def test_statistics_agree_with_torch_functional_dropout(p):
    """Same drop rate and same output variance as F.dropout, within sampling error."""
    n = 200_000
    x = torch.ones(n)
    torch.manual_seed(0)
    theirs = F.dropout(x, p, training=True)
    ours = Dropout(p, generator=_gen(2))(x)
    rate_tol = Z * math.sqrt(2 * p * (1 - p) / n)
    assert abs((ours == 0).float().mean() - (theirs == 0).float().mean()) < rate_tol
    assert set(ours.unique().tolist()) == set(theirs.unique().tolist())
    var = p / (1 - p)  # Var[mask / keep] for x = 1
    # Var of a sample variance ~ (mu4 - var^2) / n; bound loosely by 4 var^2 / n * (1 + 1/(p(1-p)))
    var_tol = Z * math.sqrt((1 + 1 / (p * (1 - p))) * var**2 / n)
    assert abs(ours.var().item() - var) < var_tol
    assert abs(theirs.var().item() - var) < var_tol


def test_p_changed_between_calls_is_used_at_once():
    layer = Dropout(0.0, generator=_gen())
    x = torch.ones(100_000)
    assert (layer(x) == 0).sum() == 0
    layer.p = 0.5
    assert abs((layer(x) == 0).float().mean().item() - 0.5) < Z * math.sqrt(0.25 / 100_000)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_invalid_p_is_refused(bad):
    with pytest.raises(ValueError, match="drop probability"):
        Dropout(bad)


def test_generator_makes_masks_reproducible():
    x = torch.ones(1000)
    a, b = Dropout(0.5, generator=_gen(7)), Dropout(0.5, generator=_gen(7))
    assert torch.equal(a(x), b(x))
    assert not torch.equal(a(x), Dropout(0.5, generator=_gen(8))(x))


def _net():
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), Dropout(0.5, generator=_gen()), nn.Linear(8, 2))


def test_mc_mode_keeps_batchnorm_in_eval_and_dropout_stochastic():
    net = _net()
    x = torch.randn(16, 4)
    mc_mode(net)
    bn = net[1]
    stats = bn.running_mean.clone()
    first, second = net(x), net(x)
    assert not bn.training
    assert torch.equal(bn.running_mean, stats), "MC passes must not update BatchNorm statistics"
    assert not torch.equal(first, second), "MC passes must sample different masks"


def test_mode_helpers_switch_cleanly():
    net, x = _net(), torch.randn(16, 4)
    mc_mode(net)
    eval_mode(net)
    assert not net.training and torch.equal(net(x), net(x))
    train_mode(net)
    assert net.training and net[1].training
    # a plain model.eval() also turns our dropout off, as with nn.Dropout
    net.eval()
    assert torch.equal(net(x), net(x))
