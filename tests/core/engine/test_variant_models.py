"""The two models for the variants that do not fit an MLP slot (core.engine.variant_models): the GRU with
locked (variational) or naive recurrent dropout, and the residual MLP with stochastic depth (DropPath).

Tolerances come from the sample size (Z binomial standard errors); every draw is seeded."""
from __future__ import annotations

import math

import pytest
import torch

from core.engine.dropout import eval_mode, train_mode
from core.engine.variant_models import build_residual, build_rnn

Z = 5.0


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _rnn(locked: bool, seed: int = 0, p: float = 0.5):
    model = train_mode(build_rnn(seed, inputs=3, hidden=32, p=p, locked=locked))
    model.set_generator(_gen(seed + 100))
    return model


def _sequences(n: int = 8, t: int = 12, d: int = 3) -> torch.Tensor:
    return torch.randn(n, t, d, generator=_gen(1))


def test_locked_rnn_reuses_one_recurrent_mask_at_every_step_and_naive_draws_fresh_ones():
    x = _sequences()
    locked, naive = _rnn(True), _rnn(False)
    assert locked(x).shape == (8, 1)
    masks = locked.last_masks
    assert masks.shape == (12, 32) and masks.dtype == torch.bool
    assert torch.equal(masks, masks[:1].expand(12, 32))
    assert 0 < int(masks[0].sum()) < 32  # something dropped, something kept
    naive(x)
    nmasks = naive.last_masks
    assert nmasks.shape == (12, 32)
    assert all(not torch.equal(nmasks[t], nmasks[0]) for t in range(1, 12))  # 32 fair coins agreeing: 2^-32


def test_the_rnns_masks_drop_a_fraction_p():
    p, n = 0.25, 4000
    model = _rnn(True, p=p)
    model(_sequences(n=n, t=2))
    # last_masks is example 0's only; the modules' masks are drawn per sequence: ask one for a batch of them.
    mask = model.recurrent_dropout.mask_for((n, 32), torch.ones(1))
    dropped = float((mask == 0).float().mean())
    assert abs(dropped - p) < Z * math.sqrt(p * (1 - p) / (n * 32))
    assert torch.allclose(mask[mask > 0], torch.tensor(1 / (1 - p)))


@pytest.mark.parametrize("locked", [True, False])
def test_the_rnn_is_deterministic_in_eval_and_needs_sequences(locked):
    model = eval_mode(_rnn(locked))
    x = _sequences()
    assert torch.equal(model(x), model(x))
    assert model.last_masks is None
    train_mode(model)
    assert not torch.equal(model(x), model(x))
    with pytest.raises(ValueError, match=r"\[N, T, inputs\]"):
        model(torch.randn(8, 3))


def test_equal_seeds_give_equal_rnn_weights_locked_or_naive():
    a, b = build_rnn(4, inputs=3, locked=True), build_rnn(4, inputs=3, locked=False, p=0.1)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    c = build_rnn(5, inputs=3)
    assert not torch.equal(c.cell.weight_hh, a.cell.weight_hh)


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_residual_blocks_used_is_depth_times_keep(p):
    depth, n = 16, 20_000
    model = train_mode(build_residual(0, depth=depth, width=8, p=p))
    model.set_generator(_gen(2))
    with torch.no_grad():
        model(torch.randn(n, 2, generator=_gen(3)))
    # blocks_used = sum over blocks of the fraction of examples whose branch ran: depth * n Bernoulli(1 - p).
    se = math.sqrt(depth * p * (1 - p) / n)
    assert abs(model.blocks_used() - depth * (1 - p)) < Z * se
    masks = model.path_masks()
    assert masks.shape == (depth, n) and masks.dtype == torch.bool
    assert model.blocks_used() == pytest.approx(float(masks.float().mean(1).sum()), rel=1e-6)
    per_example = masks.sum(0).float()  # blocks each example ran: Binomial(depth, 1 - p)
    assert abs(float(per_example.var()) - depth * p * (1 - p)) < 0.1 * depth * p * (1 - p)


def test_residual_at_p_zero_and_in_eval_uses_every_block():
    model = train_mode(build_residual(0, depth=6, width=8, p=0.0))
    model(torch.randn(50, 2))
    assert model.blocks_used() == 6
    evaluated = eval_mode(build_residual(0, depth=6, width=8, p=0.5))
    evaluated(torch.randn(50, 2))
    assert evaluated.blocks_used() == 6 and evaluated.path_masks() is None


def test_residual_at_p_zero_has_no_masks_and_eval_is_deterministic():
    model = train_mode(build_residual(0, depth=6, width=8, p=0.0))
    x = torch.randn(50, 2)
    model(x)
    assert model.path_masks() is None
    dropped = eval_mode(build_residual(0, depth=6, width=8, p=0.5))
    assert torch.equal(dropped(x), dropped(x))
    assert torch.allclose(dropped(x), eval_mode(model)(x))  # DropPath is the identity at evaluation


def test_a_dropped_branch_leaves_its_block_the_identity():
    model = train_mode(build_residual(1, depth=1, width=8, p=0.5))
    model.set_generator(_gen(4))
    x = torch.randn(400, 2)
    with torch.no_grad():
        out = model(x)
        h = torch.relu(model.inp(x))
        skip = model.out(h)
        full = model.out(h + model.branches[0](h) / 0.5)
    keep = model.path_masks()[0]
    assert 0 < int(keep.sum()) < 400
    assert torch.allclose(out[~keep], skip[~keep], atol=1e-5) and torch.allclose(out[keep], full[keep], atol=1e-5)


def test_equal_seeds_give_equal_residual_weights_whatever_p():
    a, b = build_residual(7, depth=4, p=0.0), build_residual(7, depth=4, p=0.5)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(build_residual(8, depth=4).inp.weight, a.inp.weight)
