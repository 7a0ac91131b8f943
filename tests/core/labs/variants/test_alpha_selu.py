"""AlphaDropout on a SELU stack: the network's LeCun init, what each dropout does to a layer's moments (exact
expectations given the layer's activations), settings refused with sentences, verdicts, cancel, strict JSON."""
from __future__ import annotations

import json
import math

import pytest
import torch

from core.analysis.verdicts import FAILS, HOLDS, UNCLEAR
from core.engine.config import ConfigError
from core.engine.variants import ALPHA_PRIME, alpha_affine
from core.labs.variants import alpha_selu
from core.labs.variants.alpha_selu import SeluStack

SMALL = alpha_selu.Settings(seeds=4, depth=8, n_examples=1000, p=0.3)


@pytest.mark.parametrize("bad", [{"p": 0.0}, {"p": 0.95}, {"seeds": 1}, {"depth": 2.5}, {"width": 100_000},
                                 {"inputs": 1}, {"n_examples": 10}])
def test_bad_settings_are_refused_with_a_sentence(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        alpha_selu.Settings(**bad)
    with pytest.raises(ConfigError, match="unknown setting"):
        alpha_selu.Settings.from_json({"colour": 1})


def test_the_stack_is_lecun_normal_and_the_same_for_a_seed_on_every_side():
    nets = [SeluStack(3, inputs=32, width=256, depth=3, drop=side, p=0.1) for side in alpha_selu.SIDES]
    for layer in nets[0].linears:
        w, fan_in = layer.weight.detach(), layer.weight.shape[1]
        n = w.numel()
        # the sample variance of n normal draws of variance v has se sqrt(2 / n) v
        assert abs(float(w.var()) * fan_in - 1) < 5 * math.sqrt(2 / n)
        assert abs(float(w.mean())) < 5 / math.sqrt(n * fan_in)
        assert torch.all(layer.bias == 0)
    for other in nets[1:]:
        for a, b in zip(nets[0].linears, other.linears):
            assert torch.equal(a.weight, b.weight)


def _first_layer(side: str, p: float, n: int = 4000) -> tuple[torch.Tensor, torch.Tensor]:
    """Layer 1's SELU output (no dropout) and the same after ``side``'s dropout, on the same inputs."""
    s = alpha_selu.Settings(p=p, depth=2, n_examples=n)
    x = alpha_selu.inputs_of(s, 0)
    net = SeluStack(0, inputs=s.inputs, width=s.width, depth=2, drop=side, p=p).train()
    net.set_generator(torch.Generator().manual_seed(5))
    with torch.no_grad():
        h = net.act(net.linears[0](x))
        return h, net.drops[0](h)


@pytest.mark.parametrize("p", [0.1, 0.3])
def test_standard_dropout_multiplies_the_second_moment_by_one_over_one_minus_p(p):
    h, y = _first_layer("standard", p)
    q = 1 - p
    # given h, sum y^2 = sum h^2 m / q^2 with m ~ Bernoulli(q): mean sum h^2 / q, variance sum h^4 p / q^3
    expected, se = float((h**2).sum()) / q, math.sqrt(float((h**4).sum()) * p / q**3)
    assert abs(float((y**2).sum()) - expected) < 5 * se
    assert float((y**2).mean()) > float((h**2).mean()) * (1 + p / 2)  # clearly up: the variance drifts


@pytest.mark.parametrize("p", [0.1, 0.3])
def test_alpha_dropout_is_the_affine_map_of_selus_floor(p):
    h, y = _first_layer("alpha", p)
    a, b = alpha_affine(p)
    q = 1 - p
    # given h, y = a (h m + alpha' (1 - m)) + b: mean a q h (b cancels a p alpha'), variance a^2 (h - alpha')^2 p q
    se = math.sqrt(float(((h - ALPHA_PRIME) ** 2).sum()) * a**2 * p * q)
    assert abs(float(y.sum()) - a * q * float(h.sum())) < 5 * se
    dropped = torch.isclose(y, torch.full_like(y, a * ALPHA_PRIME + b))
    assert abs(float(dropped.float().mean()) - p) < 5 * math.sqrt(p * q / y.numel())


def test_the_verdicts_follow_the_paired_differences_of_the_absolute_deviations():
    small = {s: 0.01 + 0.001 * s for s in range(6)}
    large = {s: v + 0.3 for s, v in small.items()}
    noisy = {s: v + (0.05 if s % 2 else -0.05) for s, v in small.items()}
    good = dict(alpha_selu.judge({"alpha": small, "standard": large}, {"alpha": small, "standard": large}))
    assert good["alpha keeps the variance at 1"].status == HOLDS and good["alpha keeps the mean at 0"].status == HOLDS
    bad = dict(alpha_selu.judge({"alpha": large, "standard": small}, {"alpha": small, "standard": noisy}))
    assert bad["alpha keeps the mean at 0"].status == FAILS and bad["alpha keeps the variance at 1"].status == UNCLEAR


def test_a_small_run_judges_both_claims_and_is_strict_json_and_deterministic():
    first = alpha_selu.run(SMALL)
    assert not first.cancelled
    assert [name for name, _ in first.verdicts] == ["alpha keeps the variance at 1", "alpha keeps the mean at 0"]
    assert all(v.status == HOLDS for _, v in first.verdicts)  # at p = 0.3 the drift is many se wide
    assert {row["label"] for row in first.rows} == set(alpha_selu.SIDES)
    for side in alpha_selu.SIDES:
        assert first.series[side]["layer"] == [float(i) for i in range(SMALL.depth + 1)]
        assert len(first.series[side]["mean"]) == len(first.series[side]["var"]) == SMALL.depth + 1
    sig = first.signature
    assert sig["standard_last_var"] > sig["alpha_last_var"] and abs(sig["alpha_last_var"] - 1) < 0.2
    assert all(isinstance(v, float) for v in sig.values())
    text = json.dumps(first.to_json(), allow_nan=False)
    assert json.loads(text)["experiment"] == "alpha-selu"
    assert alpha_selu.run(SMALL).rows == first.rows


def test_cancel_returns_a_cancelled_result_without_verdicts():
    result = alpha_selu.run(SMALL, cancelled=lambda: True)
    assert result.cancelled and not result.verdicts and "cancelled" in result.note
    assert alpha_selu.work(SMALL) > 0
