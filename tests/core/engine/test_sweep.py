import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from core.engine.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine.datasets import make_split
from core.engine.sweep import Sweep, _Stack, run_sweep
from core.engine.trainer import Trainer

BASE = RunConfig(model=ModelConfig(num_hiddens=(32, 32), p_hidden=(0.0, 0.0)), train=TrainConfig(max_epochs=20))
FINAL = ("train_loss", "val_loss", "train_acc", "val_acc")


def trained_alone(cfg: RunConfig) -> dict[str, float]:
    trainer = Trainer(cfg, evaluate=False)
    while not trainer.finished:
        trainer.step()
    return trainer.evaluate()


def member(seed=0, n_train=40, hidden=(32, 32), p=0.0, **train) -> RunConfig:
    return replace(
        BASE, data=replace(BASE.data, seed=seed, n_train=n_train),
        model=replace(BASE.model, num_hiddens=hidden, p_hidden=(p,) * len(hidden)),
        train=replace(BASE.train, **train),
    )


def test_without_dropout_each_member_is_exactly_its_single_trainer_run():
    """Same init, data, batch order and update rule: only float rounding may differ."""
    members = [
        member(seed=0),
        member(seed=3, hidden=(16, 24), weight_decay=0.01),  # narrower: padded inside the stack
        member(seed=5, max_norm=0.5),
        member(seed=7, n_train=60),  # another group
    ]
    result = run_sweep(Sweep(tuple(members)))
    for cfg, got in zip(members, result.members):
        alone = trained_alone(cfg)
        for key in FINAL:
            assert got[key] == pytest.approx(alone[key], abs=2e-4), (cfg.data.seed, key)
        assert got["n_train"] == cfg.data.n_train and got["seed"] == cfg.data.seed


def test_padding_and_other_optimizers_match_too():
    """sigmoid(0) = 0.5, so a padded unit must be switched off after the activation; SGD with momentum."""
    def sig(**kw):
        cfg = member(**kw)
        return replace(cfg, model=replace(cfg.model, activation="sigmoid"),
                       train=replace(cfg.train, optimizer="sgd+momentum", lr=0.05))
    members = [sig(seed=1), sig(seed=2, hidden=(8, 20), weight_decay=0.01, max_norm=1.0)]
    for cfg, got in zip(members, run_sweep(Sweep(tuple(members))).members):
        alone = trained_alone(cfg)
        assert [got[k] for k in FINAL] == pytest.approx([alone[k] for k in FINAL], abs=2e-4)


def test_max_norm_and_weight_decay_change_the_result():
    """The exact-match test above would pass vacuously if these were ignored on both sides."""
    plain, constrained, decayed = run_sweep(Sweep((member(), member(max_norm=0.5), member(weight_decay=0.05)))).members
    assert abs(plain["train_loss"] - constrained["train_loss"]) > 1e-3
    assert abs(plain["train_loss"] - decayed["train_loss"]) > 1e-3


def test_with_dropout_members_match_single_trainer_runs_in_distribution():
    """Masks come from another generator, so compare means over seeds, paired by seed."""
    seeds = range(16)
    cfgs = [member(seed=s, p=0.5) for s in seeds]
    batched = [m["train_loss"] for m in run_sweep(Sweep(tuple(cfgs))).members]
    alone = [trained_alone(cfg)["train_loss"] for cfg in cfgs]
    diff = np.array(batched) - np.array(alone)
    se = diff.std(ddof=1) / math.sqrt(len(diff))
    assert abs(diff.mean()) < 3 * se + 1e-3
    # The same comparison tells dropout from no dropout apart, so it is able to fail:
    no_dropout = [m["train_loss"] for m in run_sweep(Sweep(tuple(member(seed=s) for s in seeds))).members]
    gap = np.array(batched) - np.array(no_dropout)
    assert gap.mean() > 3 * gap.std(ddof=1) / math.sqrt(len(gap))


def test_each_member_drops_its_own_rate():
    rates = (0.0, 0.2, 0.5, 0.8)
    stack = _Stack([member(seed=1, p=p) for p in rates], torch.device("cpu"))
    h = torch.ones(len(rates), 500, 32)
    out = stack._dropout(h, 1)
    n = h[0].numel()
    for k, p in enumerate(rates):
        dropped = (out[k] == 0).float().mean().item()
        assert dropped == pytest.approx(p, abs=4 * math.sqrt(p * (1 - p) / n) + 1e-9)
        kept = out[k][out[k] != 0]
        assert torch.allclose(kept, torch.full_like(kept, 1 / (1 - p)))  # inverted: survivors scaled


def test_classic_dropout_scales_at_evaluation():
    cfg = replace(member(p=0.5), model=replace(member(p=0.5).model, classic=True))
    stack = _Stack([cfg], torch.device("cpu"))
    h = torch.ones(1, 10, 32)
    assert torch.equal(stack._eval_scale(h, 1), h * 0.5)
    assert set(stack._dropout(h, 1).unique().tolist()) <= {0.0, 1.0}  # no 1/keep while training


def test_progress_is_reported_and_reaches_the_total():
    seen = []
    sweep = Sweep((member(), member(seed=1, n_train=80)))
    run_sweep(sweep, progress=seen.append, report_every=0.0)
    done = [p.steps_done for p in seen]
    assert done == sorted(done) and done[-1] == sweep.total_steps() == 3 * 20 + 5 * 20
    assert seen[-1].fraction == 1.0 and seen[len(seen) // 2].eta is not None


def test_cancelling_stops_the_sweep():
    calls = []
    result = run_sweep(Sweep((member(),)), cancelled=lambda: calls.append(1) or len(calls) > 2, report_every=0.0)
    assert result.cancelled and result.members == [] and len(calls) == 3  # before the group, then each step


def test_fixed_steps_train_every_size_equally():
    result = run_sweep(Sweep((member(n_train=40), member(n_train=200)), steps=30))
    assert [m["steps"] for m in result.members] == [30, 30]


def test_curves_are_recorded_when_asked():
    result = run_sweep(Sweep((member(),), curve_points=5))
    curve = result.members[0]["curves"]
    assert curve["epoch"] == [4, 8, 12, 16, 20]
    assert curve["val_loss"][-1] == result.members[0]["val_loss"]


def test_digits_members_train_ten_classes():
    cfg = RunConfig(DataConfig("digits", 0.0, 100, 200, 0), ModelConfig(num_hiddens=(32,), p_hidden=(0.2,)),
                    TrainConfig(max_epochs=15))
    got = run_sweep(Sweep((cfg,))).members[0]
    assert got["val_acc"] > 0.5  # far above the 10 % of guessing


def test_a_diverged_member_is_flagged_and_the_others_are_untouched():
    stack = _Stack([member(), member(seed=1)], torch.device("cpu"))
    stack.step()
    with torch.no_grad():
        stack.weights[0][1].fill_(float("inf"))  # member 1 blows up
    stack.step()
    ok, exploded = stack.evaluate()
    assert all(math.isfinite(v) for v in ok.values())
    assert all(math.isnan(v) for v in exploded.values())


@pytest.mark.parametrize("change, message", [
    (lambda c: replace(c, train=replace(c.train, lr=0.01)), "share train.lr"),
    (lambda c: replace(c, model=replace(c.model, num_hiddens=(8,), p_hidden=(0.0,))), "number of hidden layers"),
    (lambda c: replace(c, data=replace(c.data, dataset="circles")), "share data.dataset"),
])
def test_members_must_share_what_the_batch_shares(change, message):
    with pytest.raises(ConfigError, match=message):
        Sweep((BASE, change(BASE)))


def test_batchnorm_is_refused():
    with pytest.raises(ConfigError, match="BatchNorm"):
        Sweep((replace(BASE, model=replace(BASE.model, batchnorm=True)),))


def test_digits_split_is_disjoint_and_respects_the_image_count():
    split = make_split(DataConfig("digits", 0.0, 300, 500, 4))
    assert split.X_train.shape == (300, 64) and split.X_val.shape == (500, 64) and split.num_classes == 10
    train_rows = {row.tobytes() for row in split.X_train}
    assert sum(row.tobytes() in train_rows for row in split.X_val) <= 5  # only true duplicate images may repeat
    with pytest.raises(ConfigError, match="1797 images"):
        DataConfig("digits", 0.0, 1500, 400, 0)
