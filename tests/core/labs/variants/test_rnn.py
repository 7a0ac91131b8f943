"""Locked against naive dropout in a GRU: the task's data, the masks' time structure (locked: every (t, t+1)
pair agrees; naive: p^2 + (1-p)^2 of them), the verdicts on crafted numbers, settings, cancel, strict JSON."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from core.analysis.verdicts import FAILS, HOLDS, UNCLEAR
from core.engine.config import ConfigError
from core.engine.dropout import train_mode
from core.engine.variant_models import build_rnn
from core.labs.variants import rnn

SMALL = rnn.Settings(seeds=2, epochs=3, n_train=40, seq_len=8, hidden=8, sensors=2)


@pytest.mark.parametrize("bad", [{"p": 0.0}, {"p": 0.95}, {"seeds": 1}, {"epochs": 2.5}, {"hidden": 1000},
                                 {"seq_len": 2}, {"sensors": 0}, {"noise": -1.0}])
def test_bad_settings_are_refused_with_a_sentence(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        rnn.Settings(**bad)
    with pytest.raises(ConfigError, match="unknown setting"):
        rnn.Settings.from_json({"colour": 1})


def test_the_target_is_the_next_clean_value_and_the_data_depend_on_the_seed_alone():
    s = rnn.Settings(noise=0.0, seq_len=20, sensors=3)
    X, y = rnn.sequences(200, s, np.random.default_rng(0))
    assert X.shape == (200, 20, 3) and y.shape == (200, 1)
    x = X[:, :, 0].double().numpy()
    assert np.allclose(X[:, :, 1].numpy(), X[:, :, 0].numpy())  # no noise: every sensor reads the sine
    # a sine satisfies x[t+1] + x[t-1] = 2 cos(w) x[t]: fit cos(w) per sequence, then extrapolate one step
    c = ((x[:, 2:] + x[:, :-2]) * x[:, 1:-1]).sum(1) / (2 * (x[:, 1:-1] ** 2).sum(1))
    assert np.allclose(2 * c * x[:, -1] - x[:, -2], y[:, 0].numpy(), atol=1e-4)
    a, b = rnn.make_data(rnn.Settings(), 3), rnn.make_data(rnn.Settings(), 3)
    assert all(torch.equal(a[k], b[k]) for k in a) and not torch.equal(a["X"], rnn.make_data(rnn.Settings(), 4)["X"])


def _agreement(locked: bool, p: float, passes: int, steps: int = 20, hidden: int = 32) -> tuple[int, int]:
    model = train_mode(build_rnn(0, inputs=2, hidden=hidden, p=p, locked=locked))
    model.set_generator(torch.Generator().manual_seed(1))
    agree = pairs = 0
    with torch.no_grad():
        for _ in range(passes):
            model(torch.randn(4, steps, 2))
            assert model.last_masks.shape == (steps, hidden)
            a, n = rnn.agreement(model.last_masks)
            agree, pairs = agree + a, pairs + n
    return agree, pairs


@pytest.mark.parametrize("p", [0.25, 0.5])
def test_locked_masks_agree_at_every_step_and_naive_ones_as_often_as_chance(p):
    agree, pairs = _agreement(True, p, 20)
    assert agree == pairs > 0
    passes, steps, hidden = 60, 20, 32
    agree, pairs = _agreement(False, p, passes, steps, hidden)
    q = 1 - p
    chance = p**2 + q**2
    # along one unit, pairs (t, t+1) and (t+1, t+2) share a mask: covariance p^3 + q^3 - chance^2
    links = steps - 1
    chain_var = links * chance * (1 - chance) + 2 * (links - 1) * (p**3 + q**3 - chance**2)
    se = math.sqrt(passes * hidden * chain_var) / pairs
    assert abs(agree / pairs - chance) < 5 * se


def test_the_verdicts_follow_the_paired_differences():
    base = {s: 0.10 + 0.01 * s for s in range(6)}
    better = {s: v - 0.02 for s, v in base.items()}
    noisy = {s: v + (0.03 if s % 2 else -0.03) for s, v in base.items()}
    holds = dict(rnn.judge({"none": base, "naive": base, "locked": better}))
    assert holds["locked beats naive"].status == HOLDS and holds["locked beats none"].status == HOLDS
    fails = dict(rnn.judge({"none": noisy, "naive": better, "locked": base}))
    assert fails["locked beats naive"].status == FAILS and fails["locked beats none"].status == UNCLEAR


def test_a_small_run_judges_both_claims_shows_the_masks_and_is_strict_json_and_deterministic():
    first = rnn.run(SMALL)
    assert not first.cancelled and [name for name, _ in first.verdicts] == ["locked beats naive", "locked beats none"]
    assert {row["label"] for row in first.rows} == set(rnn.SIDES)
    assert all(first.series[side]["epoch"] == [1.0, 2.0, 3.0] for side in rnn.SIDES)
    sig = first.signature
    steps = SMALL.seeds * SMALL.epochs * SMALL.steps_per_epoch
    assert sig["locked_pairs"] == sig["naive_pairs"] == steps * (SMALL.seq_len - 1) * SMALL.hidden
    assert sig["locked_agreement"] == 1.0
    chance = sig["theory_naive_agreement"]
    # neighbouring pairs are correlated (correlation under 1): the variance is at most 3 times the binomial's
    assert abs(sig["naive_agreement"] - chance) < 5 * math.sqrt(3 * chance * (1 - chance) / sig["naive_pairs"])
    for side in ("naive", "locked"):
        mask = np.array(sig[f"{side}_mask"])
        assert mask.shape == (SMALL.seq_len, min(rnn.SHOWN_UNITS, SMALL.hidden)) and set(mask.ravel()) <= {0, 1}
    assert (np.array(sig["locked_mask"]) == np.array(sig["locked_mask"])[0]).all()  # the same row at every t
    text = json.dumps(first.to_json(), allow_nan=False)
    assert json.loads(text)["experiment"] == "variational-rnn"
    again = rnn.run(SMALL)
    assert again.rows == first.rows and again.signature == first.signature


def test_cancel_returns_a_cancelled_result_without_verdicts():
    result = rnn.run(SMALL, cancelled=lambda: True)
    assert result.cancelled and not result.verdicts and "cancelled" in result.note
    assert rnn.work(SMALL) > 0
