"""Dropout's variants (core.engine.variants) against their references or defining properties, and their
place in the engine: ModelConfig(variants=...), the MLP, the Trainer, the sweep's fallback, the MC passes.

Tolerances come from the sample size: Z standard errors of the estimated quantity, the se from the
sample where the distribution is awkward (a sample variance's se is sqrt((m4 - s^4) / n), m4 the
sample's fourth central moment). Every draw is seeded, so each run is fixed anyway.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from core.analysis.mc import mc_predict, mc_predict_reference
from core.analysis.thinned import freeze
from core.engine.config import MLP_VARIANTS, ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine.datasets import make_split
from core.engine.dropout import Dropout, eval_mode, mc_mode, train_mode
from core.engine.models import build_mlp
from core.engine.sweep import Sweep, run_sweep
from core.engine.trainer import MaskRecorder, Trainer
from core.engine.variants import (ALPHA_PRIME, CONCRETE_TEMPERATURE, DROPCONNECT_CHUNK, VARIANTS, AlphaDropout,
                                  ConcreteDropout, DropConnectLinear, DropConnectSlot, DropPath, GaussianDropout,
                                  LockedDropout, alpha_affine, make_slot, uses_variants)

Z = 5.0
N = 200_000


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _var_se(x: torch.Tensor) -> float:
    """The standard error of ``x``'s sample variance, from its own fourth central moment."""
    x = x.double().flatten()
    c = x - x.mean()
    return math.sqrt(max(float(c.pow(4).mean() - c.pow(2).mean() ** 2), 0.0) / x.numel())


def _frac_tol(p: float, n: int) -> float:
    return Z * math.sqrt(p * (1 - p) / n)


# -- Gaussian dropout --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_gaussian_multiplier_has_mean_one_and_variance_p_over_keep(p):
    layer = GaussianDropout(p, generator=_gen(1))
    m = layer(torch.ones(N))
    var = p / (1 - p)
    assert abs(float(m.mean()) - 1) < Z * math.sqrt(var / N)
    assert abs(float(m.var()) - var) < Z * math.sqrt(2 / N) * var  # a normal's sample variance
    assert torch.equal(layer.last_mask, m)  # the multipliers themselves


def test_gaussian_is_the_identity_in_eval_and_at_p_zero_and_stochastic_in_mc_mode():
    x = torch.randn(64, 32)
    assert torch.equal(eval_mode(GaussianDropout(0.5))(x), x)
    zero = GaussianDropout(0.0)
    assert torch.equal(zero(x), x) and zero.last_mask is None
    net = mc_mode(nn.Sequential(nn.Linear(32, 8), GaussianDropout(0.5, generator=_gen(2))))
    assert not net.training
    assert not torch.equal(net(x), net(x))
    eval_mode(net)
    assert torch.equal(net(x), net(x))


# -- Alpha dropout -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.05, 0.1, 0.2])
def test_alpha_dropout_keeps_mean_zero_and_variance_one_and_drops_a_fraction_p(p):
    x = torch.randn(N, generator=_gen(3))
    layer = AlphaDropout(p, generator=_gen(4))
    out = layer(x)
    # The input's own sample mean and variance move the output's too: compare with what the affine map
    # makes of this very sample's moments in expectation over the masks, to within the output's se.
    assert abs(float(out.mean())) < Z * float(out.std()) / math.sqrt(N) + abs(float(x.mean()))
    assert abs(float(out.var()) - 1) < Z * _var_se(out) + abs(float(x.var()) - 1)
    assert abs(float((~layer.last_mask).float().mean()) - p) < _frac_tol(p, N)


@pytest.mark.parametrize("p", [0.05, 0.1, 0.2])
def test_alpha_dropout_keeps_selus_fixed_point(p):
    """SELU maps N(0, 1) to mean 0, variance 1 (its defining fixed point); AlphaDropout after it keeps both,
    where standard dropout keeps the mean but inflates the variance to 1 / (1 - p)."""
    h = F.selu(torch.randn(N, generator=_gen(30)))
    assert abs(float(h.mean())) < Z * float(h.std()) / math.sqrt(N)
    assert abs(float(h.var()) - 1) < Z * _var_se(h)
    layer = AlphaDropout(p, generator=_gen(31))
    out = layer(h)
    assert abs(float(out.mean())) < Z * float(out.std()) / math.sqrt(N) + abs(float(h.mean()))
    assert abs(float(out.var()) - 1) < Z * _var_se(out) + abs(float(h.var()) - 1)
    assert abs(float((~layer.last_mask).float().mean()) - p) < _frac_tol(p, N)
    plain = Dropout(p, generator=_gen(32))(h)
    assert abs(float(plain.var()) - 1 / (1 - p)) < Z * _var_se(plain) + abs(float(h.var()) - 1) / (1 - p)
    assert float(plain.var()) - 1 > 10 * _var_se(plain)  # clearly off the fixed point


@pytest.mark.parametrize("p", [0.05, 0.1, 0.2])
def test_alpha_dropout_gives_torchs_values_kept_and_dropped(p):
    a, b = alpha_affine(p)
    alpha = -ALPHA_PRIME  # torch's constant 1.7580993408473766
    assert a == pytest.approx(1 / math.sqrt((alpha**2 * p + 1) * (1 - p)), rel=1e-12)
    assert b == pytest.approx(alpha * a * p, rel=1e-12)
    x = 1.0 + torch.rand(20_000, generator=_gen(5))  # positive: a kept value never equals the dropped one
    dropped_value = a * ALPHA_PRIME + b
    torch.manual_seed(0)
    theirs = nn.AlphaDropout(p).train()(x)
    ours_layer = AlphaDropout(p, generator=_gen(6))
    ours = ours_layer(x)
    for out, dropped in ((theirs, (theirs - dropped_value).abs() < 1e-5), (ours, ~ours_layer.last_mask)):
        assert torch.allclose(out[dropped], torch.full_like(out[dropped], dropped_value), atol=1e-5)
        assert torch.allclose(out[~dropped], a * x[~dropped] + b, atol=1e-5)
        assert abs(float(dropped.float().mean()) - p) < _frac_tol(p, x.numel())


def test_alpha_dropout_is_the_identity_in_eval_and_at_p_zero():
    x = torch.randn(64, 32)
    assert torch.equal(eval_mode(AlphaDropout(0.1))(x), x)
    assert torch.equal(AlphaDropout(0.0)(x), x)


# -- DropConnect -------------------------------------------------------------------------------------------------

def _dropconnect(in_f=16, out_f=8, p=0.5, per="example", seed=0) -> DropConnectLinear:
    torch.manual_seed(seed)
    return DropConnectLinear(in_f, out_f, DropConnectSlot(p, generator=_gen(seed + 10)), per=per)


def test_dropconnect_draws_a_mask_per_example_or_one_per_batch():
    x = torch.randn(1, 16).expand(2, 16)  # two identical rows
    example, batch = _dropconnect(per="example"), _dropconnect(per="batch")
    out = example(x)
    assert not torch.allclose(out[0], out[1])
    out = batch(x)
    assert torch.equal(out[0], out[1])
    with pytest.raises(ValueError, match="per"):
        DropConnectLinear(4, 4, DropConnectSlot(0.5), per="unit")


@pytest.mark.parametrize("per", ["example", "batch"])
@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropconnect_keeps_a_fraction_one_minus_p_of_weights_and_last_mask_is_example_zeros(per, p):
    layer = _dropconnect(256, 256, p, per)
    x = torch.randn(3, 256)
    out = layer(x)
    mask = layer.slot.last_mask
    assert mask.shape == (256, 256) and mask.dtype == torch.bool
    assert abs(float(mask.float().mean()) - (1 - p)) < _frac_tol(p, mask.numel())
    # Example 0's output is what that mask gives.
    expected = F.linear(x[:1], layer.weight * mask / (1 - p), layer.bias)[0]
    assert torch.allclose(out[0], expected, atol=1e-4)
    assert DropConnectSlot.per_example is False and layer.slot.per_example is False


def test_dropconnect_output_is_unbiased_and_large_batches_work():
    layer = _dropconnect(16, 8, 0.5)
    x = torch.randn(16, generator=_gen(7))
    draws = 8 * DROPCONNECT_CHUNK + 3  # many chunks, the last one short
    with torch.no_grad():
        out = layer(x.expand(draws, 16))
        mean_out = F.linear(x, layer.weight, layer.bias)
    assert out.shape == (draws, 8)
    p = layer.slot.p
    se = torch.sqrt(p / (1 - p) * (layer.weight.detach().pow(2) @ x.pow(2)) / draws)
    assert torch.all((out.mean(0) - mean_out).abs() < Z * se)
    # Rows of later chunks are masked too (not all equal to one another, not equal to the mean).
    assert not torch.allclose(out[-1], out[-2]) and not torch.allclose(out[-1], mean_out)


def test_dropconnect_evaluates_with_the_mean_weights_and_never_masks_the_bias():
    layer = _dropconnect(16, 8, 0.5)
    x = torch.randn(32, 16)
    layer.slot.eval()
    assert torch.equal(layer(x), F.linear(x, layer.weight, layer.bias))
    layer.slot.train()
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.copy_(torch.arange(8.0) + 1)
    for per in ("example", "batch"):
        layer.per = per
        assert torch.equal(layer(x), layer.bias.detach().expand(32, 8))
    zero = _dropconnect(16, 8, 0.0)
    assert torch.equal(zero(x), F.linear(x, zero.weight, zero.bias)) and zero.slot.last_mask is None


def test_dropconnect_gradient_flows_through_the_kept_weights_only():
    layer = _dropconnect(16, 8, 0.5, per="batch")
    x = torch.randn(4, 16, requires_grad=True)
    layer(x).sum().backward()
    mask = layer.slot.last_mask
    assert torch.all(layer.weight.grad[~mask] == 0) and torch.any(layer.weight.grad[mask] != 0)
    assert torch.equal(layer.bias.grad, torch.full((8,), 4.0))
    assert x.grad is not None and torch.any(x.grad != 0)
    example = _dropconnect(16, 8, 0.5, per="example")
    example(torch.randn(4, 16)).sum().backward()
    assert torch.isfinite(example.weight.grad).all() and torch.any(example.weight.grad != 0)


def test_dropconnect_and_unit_dropout_give_equal_variance_but_only_unit_dropout_correlates_units():
    """The teaching fact. z = (M * W) h / (1 - p) and z = W (m * h) / (1 - p) both have, per unit, the
    variance p / (1 - p) sum_j w_ij^2 h_j^2; DropConnect's units have independent noise (their own
    rows of M), unit dropout's share it: corr(z_i, z_k) = sum_j w_ij w_kj h_j^2 / sqrt(...)."""
    p, draws, in_f, out_f = 0.5, 20_000, 20, 6
    layer = _dropconnect(in_f, out_f, p, seed=8)
    w = layer.weight.detach()
    h = torch.randn(in_f, generator=_gen(9)).abs()  # a ReLU layer's output: non-negative
    with torch.no_grad():
        z_dc = layer(h.expand(draws, in_f)) - layer.bias
        z_unit = Dropout(p, generator=_gen(11))(h.expand(draws, in_f)) @ w.T
    theory = p / (1 - p) * (w.pow(2) @ h.pow(2))
    for z in (z_dc, z_unit):
        for i in range(out_f):
            assert abs(float(z[:, i].var()) - float(theory[i])) < Z * _var_se(z[:, i]), i
    ratio = z_dc.var(0) / z_unit.var(0)
    for i in range(out_f):  # the ratio's relative se: the two estimates' relative se, in quadrature
        rel = math.sqrt(_var_se(z_dc[:, i]) ** 2 + _var_se(z_unit[:, i]) ** 2) / float(theory[i])
        assert abs(float(ratio[i]) - 1) < Z * rel, i
    cov = (w * h.pow(2)) @ w.T
    theory_corr = cov / torch.sqrt(torch.outer(cov.diag(), cov.diag()))
    corr_dc, corr_unit = torch.corrcoef(z_dc.T), torch.corrcoef(z_unit.T)
    off = ~torch.eye(out_f, dtype=torch.bool)
    r_se = 1 / math.sqrt(draws)  # a sample correlation's se is at most (1 - r^2) / sqrt(n)
    assert torch.all(corr_dc[off].abs() < Z * r_se)
    assert torch.all((corr_unit - theory_corr)[off].abs() < Z * r_se)
    assert float(theory_corr[off].abs().mean()) > 20 * r_se  # clearly nonzero


# -- Concrete dropout --------------------------------------------------------------------------------------------

def _expected_keep(p: float, points: int = 2_000_000) -> float:
    """E[1 - sigmoid((logit p + logit u) / t)], u ~ U(0, 1), by the midpoint rule: the relaxed mask's mean
    (1 - p exactly only as t -> 0, and at p = 0.5 by symmetry)."""
    u = (np.arange(points) + 0.5) / points
    z = (math.log(p / (1 - p)) + np.log(u) - np.log1p(-u)) / CONCRETE_TEMPERATURE
    return float(1 - np.mean(1 / (1 + np.exp(-z))))


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.7])
def test_concrete_p_round_trips_and_its_mask_is_relaxed_with_mean_one_minus_p(p):
    layer = ConcreteDropout(p, generator=_gen(12))
    assert layer.p == pytest.approx(p, abs=1e-6)
    layer.p = 0.25
    assert layer.p == pytest.approx(0.25, abs=1e-6)
    layer.p = p
    x = torch.ones(N)
    out = layer(x)
    keep = layer.last_mask
    assert float(keep.min()) >= 0 and float(keep.max()) <= 1
    assert torch.allclose(out, keep / (1 - p), atol=1e-5)
    expected = _expected_keep(p)
    assert abs(expected - (1 - p)) < 0.01
    assert abs(float(keep.mean()) - expected) < Z * float(keep.std()) / math.sqrt(N)
    for bad in (0.0, 1.0):
        with pytest.raises(ValueError):
            layer.p = bad


def test_concrete_gradient_reaches_the_logit_and_eval_is_the_identity():
    layer = ConcreteDropout(0.3, generator=_gen(13))
    x = torch.randn(256, 16)
    (layer(x) ** 2).sum().backward()
    assert layer.logit.grad is not None and math.isfinite(float(layer.logit.grad)) and float(layer.logit.grad) != 0
    assert torch.equal(eval_mode(layer)(x), x)


def test_concrete_regularizer_is_the_papers_formula():
    layer = ConcreteDropout(0.2, length_scale=0.5)
    weight = torch.randn(7, 5, generator=_gen(14))  # the reading Linear: 5 inputs = this dropout's width K
    n_train, p = 40, layer.p
    hand = 0.5**2 / n_train * float(weight.pow(2).sum()) / (1 - p) \
        + 2 / n_train * 5 * (p * math.log(p) + (1 - p) * math.log(1 - p))
    assert float(layer.regularizer(weight, n_train).detach()) == pytest.approx(hand, rel=1e-5)
    # Its gradient pushes p towards 0.5 (the entropy term) when the weights are negligible.
    small = ConcreteDropout(0.1, length_scale=1e-4)
    small.regularizer(torch.zeros(3, 5), 10).backward()
    assert float(small.logit.grad) < 0  # descent raises the logit, so p


# -- Locked dropout ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.25, 0.5])
def test_locked_masks_are_equal_across_time_and_naive_ones_are_not(p):
    n, t, h = 64, 10, 32
    x = torch.ones(n, t, h)
    locked, naive = LockedDropout(p, generator=_gen(15)), LockedDropout(p, locked=False, generator=_gen(16))
    out = locked(x)
    mask = locked.last_mask
    assert mask.shape == (n, t, h) and torch.equal(mask, mask[:, :1].expand(n, t, h))
    assert torch.equal(out, mask / (1 - p))
    assert abs(float((~mask[:, 0]).float().mean()) - p) < _frac_tol(p, n * h)  # n * h independent draws
    naive(x)
    nmask = naive.last_mask
    assert not all(torch.equal(nmask[:, s], nmask[:, 0]) for s in range(1, t))
    assert abs(float((~nmask).float().mean()) - p) < _frac_tol(p, n * t * h)


def test_locked_dropout_needs_sequences_and_is_the_identity_in_eval():
    with pytest.raises(ValueError, match=r"\[N, T, H\]"):
        LockedDropout(0.5)(torch.ones(4, 8))
    x = torch.randn(4, 5, 6)
    layer = eval_mode(LockedDropout(0.5))
    assert torch.equal(layer(x), x) and layer.mask_for((4, 6), x) is None
    assert LockedDropout(0.0).mask_for((4, 6), x) is None


# -- DropPath ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [0.2, 0.5])
def test_droppath_drops_whole_rows_with_probability_p(p):
    n = 100_000
    layer = DropPath(p, generator=_gen(17))
    out = layer(torch.ones(n, 3, 4))
    keep = layer.last_mask
    assert keep.shape == (n,)
    assert torch.equal(out, (keep.float() / (1 - p)).view(n, 1, 1).expand(n, 3, 4))
    assert abs(float(keep.float().mean()) - (1 - p)) < _frac_tol(p, n)


def test_droppath_is_the_identity_in_eval():
    x = torch.randn(8, 5)
    assert torch.equal(eval_mode(DropPath(0.5))(x), x)
    assert torch.equal(DropPath(0.0)(x), x)


# -- Registry ----------------------------------------------------------------------------------------------------

def test_registry_and_config_agree_and_make_slot_builds_each_mlp_variant():
    assert set(VARIANTS) == {"standard", "gaussian", "alpha", "dropconnect", "concrete", "locked", "droppath"}
    assert MLP_VARIANTS == tuple(name for name, v in VARIANTS.items() if v.in_mlp)
    assert VARIANTS["dropconnect"].masks == "weights"
    kinds = {"standard": Dropout, "gaussian": GaussianDropout, "alpha": AlphaDropout,
             "dropconnect": DropConnectSlot, "concrete": ConcreteDropout}
    for name in MLP_VARIANTS:
        slot = make_slot(name, 0.3)
        assert type(slot) is kinds[name] and slot.p == pytest.approx(0.3, abs=1e-6)
    assert make_slot("concrete", 0.0).p == pytest.approx(0.1, abs=1e-6)
    with pytest.raises(ValueError, match="locked"):
        make_slot("locked", 0.3)


def test_uses_variants_tells_standard_dropout_from_the_rest():
    assert not uses_variants(nn.Sequential(nn.Linear(2, 2), Dropout(0.5)))
    assert uses_variants(nn.Sequential(nn.Linear(2, 2), GaussianDropout(0.5)))
    assert not uses_variants(build_mlp(ModelConfig((8, 8)), 0))
    for v in MLP_VARIANTS[1:]:
        assert uses_variants(build_mlp(ModelConfig((8, 8), variants=("standard", v)), 0)), v


# -- ModelConfig, the MLP and the Trainer ------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, words", [
    ({"variants": ("gaussian",)}, "one dropout variant per hidden layer"),
    ({"variants": ("gaussian", "shaky")}, "dropout variant"),
    ({"variants": ("gaussian", "standard"), "classic": True}, "classic"),
    ({"variants": ("concrete", "standard"), "p_hidden": (0.0, 0.5)}, "concrete"),
])
def test_bad_variants_are_config_errors(kwargs, words):
    with pytest.raises(ConfigError, match=words):
        ModelConfig((8, 8), **kwargs)


def test_all_standard_normalizes_to_no_variants():
    assert ModelConfig((8, 8), variants=("standard", "standard")).variants == ()
    assert ModelConfig((8, 8), variants=("standard", "standard")) == ModelConfig((8, 8))
    assert ModelConfig((8, 8), variants=["gaussian", "standard"]).variants == ("gaussian", "standard")


def test_equal_seeds_give_equal_linear_weights_whatever_the_variants():
    reference = build_mlp(ModelConfig((8, 6)), seed=5)
    for a in MLP_VARIANTS:
        for b in MLP_VARIANTS:
            model = build_mlp(ModelConfig((8, 6), variants=(a, b)), seed=5)
            assert len(model.linears) == len(reference.linears)
            for mine, ref in zip(model.linears, reference.linears):
                assert torch.equal(mine.weight, ref.weight) and torch.equal(mine.bias, ref.bias), (a, b)
    other = build_mlp(ModelConfig((8, 6)), seed=6)
    assert not torch.equal(other.linears[0].weight, reference.linears[0].weight)


def _cfg(variants, p=0.3, epochs=3, seed=0, width=16) -> RunConfig:
    return RunConfig(DataConfig("moons", 0.3, 40, 80, seed),
                     ModelConfig((width, width), p_hidden=(p, p), variants=variants), TrainConfig(max_epochs=epochs))


def _train(cfg: RunConfig, callbacks=()) -> Trainer:
    trainer = Trainer(cfg, callbacks=callbacks)
    while not trainer.finished:
        trainer.step()
    return trainer


@pytest.mark.parametrize("variant", MLP_VARIANTS)
def test_the_trainer_trains_each_variant(variant):
    cfg = _cfg((variant, variant))
    trainer = Trainer(cfg)
    start = [w.detach().clone() for w in trainer.model.parameters()]
    while not trainer.finished:
        trainer.step()
    assert trainer.diverged is None
    metrics = trainer.evaluate()
    assert all(math.isfinite(v) for v in metrics.values())
    assert any(not torch.equal(a, b) for a, b in zip(start, trainer.model.parameters()))
    assert len(trainer.history.series["val_loss"]) == cfg.train.max_epochs
    # Evaluation is deterministic: dropout off, DropConnect on the mean weights.
    assert np.array_equal(trainer.predict_proba(trainer.split.X_val), trainer.predict_proba(trainer.split.X_val))


def test_concretes_learned_p_moves_during_training():
    trainer = Trainer(_cfg(("concrete", "concrete"), p=0.1, epochs=20))
    before = [d.p for d, _ in trainer.model.regularized]
    assert before == pytest.approx([0.1, 0.1], abs=1e-6)
    while not trainer.finished:
        trainer.step()
    after = [d.p for d, _ in trainer.model.regularized]
    assert all(abs(a - b) > 1e-3 for a, b in zip(after, before))


def test_the_mask_recorder_gives_dropconnects_weight_mask_as_nested_lists():
    recorder = MaskRecorder()
    cfg = RunConfig(DataConfig("moons", 0.3, 40, 80, 0),
                    ModelConfig((8, 6), p_hidden=(0.5, 0.5), variants=("standard", "dropconnect")),
                    TrainConfig(max_epochs=1))
    trainer = Trainer(cfg, callbacks=(recorder,))
    trainer.step()
    masks = recorder.to_plain()
    assert len(masks) == 3 and masks[0] == []  # no input dropout
    assert len(masks[1]) == 8 and all(isinstance(v, bool) for v in masks[1])
    assert len(masks[2]) == 6 and all(len(row) == 8 and all(isinstance(v, bool) for v in row) for row in masks[2])
    slot = trainer.model.dropouts[2]
    assert masks[2] == slot.last_mask.tolist()


def test_a_sweep_with_a_variant_member_falls_back_to_trainer_runs():
    members = (_cfg(("gaussian", "dropconnect"), seed=1, epochs=4), _cfg((), seed=2, epochs=4))
    result = run_sweep(Sweep(members))
    assert result.note
    for cfg, got in zip(members, result.members):
        trainer = Trainer(cfg, evaluate=False)
        while not trainer.finished:
            trainer.step()
        alone = trainer.evaluate()
        for key in ("train_loss", "val_loss", "train_acc", "val_acc"):
            assert got[key] == pytest.approx(alone[key], abs=1e-6), key
    assert not run_sweep(Sweep((_cfg((), seed=2, epochs=1),))).note


@pytest.mark.parametrize("variants", [("gaussian", "gaussian"), ("standard", "dropconnect")])
def test_mc_predict_falls_back_for_variants_and_freeze_refuses_them(variants):
    model = build_mlp(ModelConfig((8, 8), p_hidden=(0.5, 0.5), variants=variants), seed=3)
    X = make_split(DataConfig("moons", 0.3, 20, 30, 0)).X_val
    train_mode(model)
    pred = mc_predict(model, X, T=6, seed=4)
    ref = mc_predict_reference(model, X, T=6, seed=4)
    assert pred.probs.shape == (6, 30, 2)
    assert np.array_equal(pred.probs, ref.probs) and np.array_equal(pred.deterministic, ref.deterministic)
    assert float(pred.std.max()) > 0  # the passes differ
    assert model.training  # modes put back
    with pytest.raises(ValueError, match="standard dropout only"):
        freeze(model)
    freeze(build_mlp(ModelConfig((8, 8)), seed=3))  # standard dropout still freezes
