import copy

import pytest
import torch

from core.engine.config import ConfigError
from core.engine.models import seeded
from core.labs.batchnorm.mc import (MCSettings, accuracy, batch_of_one, batches, lines, mc_passes, run_mc,
                                    same_masks_gap)
from core.labs.batchnorm.net import BNNet, digits, fit


@pytest.fixture(scope="module")
def trained():
    X, y, Xv, yv = digits()
    net = seeded(0, lambda: BNNet(64, 32, 3, 10, 0.5))
    fit(net, X, y, 150, seed=0)
    return net, Xv, yv


def test_one_class_batches_are_nearly_pure_and_no_batch_is_a_single_example():
    _, _, _, yv = digits()
    for batching in ("mixed", "one class"):
        chunks = batches(yv, 16, batching, seed=0)
        assert sorted(torch.cat(chunks).tolist()) == list(range(len(yv)))  # every example once
        assert min(len(c) for c in chunks) >= 2
    pure = [len(set(yv[c].tolist())) == 1 for c in batches(yv, 16, "one class", seed=0)]
    assert sum(pure) >= 0.8 * len(pure)
    assert sum(len(set(yv[c].tolist())) == 1 for c in batches(yv, 16, "mixed", seed=0)) <= 2


def test_mc_mode_keeps_each_example_on_its_own_and_model_train_does_not(trained):
    net, Xv, _ = trained
    assert same_masks_gap(net, Xv, "mc_mode", 16, seed=0) == 0.0
    assert same_masks_gap(net, Xv, "model.train()", 16, seed=0) > 1e-3


def test_mc_mode_leaves_the_running_statistics_alone_and_model_train_moves_them(trained):
    net, Xv, yv = trained
    chunks = batches(yv, 16, "one class", seed=0)
    before = accuracy(net, Xv, yv)
    for mode, moves in (("mc_mode", False), ("model.train()", True)):
        work = copy.deepcopy(net)
        mean = work.norms[0].running_mean.clone()
        probs = mc_passes(work, Xv, chunks, 3, mode, torch.Generator().manual_seed(0))
        assert torch.allclose(probs.sum(1), torch.ones(len(Xv), dtype=probs.dtype))
        assert (not torch.equal(work.norms[0].running_mean, mean)) is moves, mode
        assert (accuracy(work, Xv, yv) == before) is not moves, mode


def test_model_train_refuses_a_batch_of_one_with_batchnorm_s_own_message(trained):
    net, Xv, _ = trained
    assert "Expected more than 1 value per channel" in batch_of_one(net, Xv)


def test_the_experiment_judges_its_claims_over_seeds():
    # 3 seeds x 150 steps: the one-class collapse under model.train() is tens of points, far above its spread.
    out = run_mc(MCSettings(width=32, train_steps=150, passes=5, seeds=3)).to_json()
    status = {v["claim"]: v["status"] for v in out["verdicts"]}
    assert status["mc_mode leaves each example on its own"] == "holds"
    assert status["model.train() ties each prediction to its batch"] == "holds"
    s = out["summary"]
    assert abs(s["mc_mode|mixed|acc"]["mean"] - s["mc_mode|one class|acc"]["mean"]) < 0.03
    assert s["model.train()|one class|acc"]["mean"] < s["mc_mode|one class|acc"]["mean"] - 0.3
    assert "batch of one" in "\n".join(lines(out))


def test_a_cancel_stops_it_and_judges_nothing():
    out = run_mc(MCSettings(train_steps=100, seeds=2), cancelled=lambda: True).to_json()
    assert out["cancelled"] and out["verdicts"] == [] and "cancelled" in "\n".join(lines(out))


@pytest.mark.parametrize("bad", [{"batch_size": 1}, {"passes": 1}, {"seeds": 1}, {"p": 0.95}, {"x": 1}])
def test_bad_settings_are_refused_with_a_sentence(bad):
    with pytest.raises(ConfigError):
        MCSettings.from_json({**MCSettings().to_json(), **bad})
