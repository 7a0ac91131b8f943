import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from core.analysis.early_stopping import best_point
from core.analysis.verdicts import check_larger, num, pct
from core.engine.config import OPTIMIZERS, DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine.datasets import make_split
from core.engine.trainer import MaskRecorder, Trainer
from core.engine.trainer import OPTIMIZERS as OPTIMIZER_FACTORIES
from core.labs.playground.presets import preset

TINY = RunConfig(
    DataConfig(dataset="gaussians", noise=0.0, n_train=64, n_val=64, seed=0),
    ModelConfig(num_hiddens=(16,), p_hidden=(0.2,)),
    TrainConfig(lr=0.01, batch_size=16, max_epochs=30, device="cpu"),
)


def train(cfg: RunConfig, steps: int | None = None, **kwargs) -> Trainer:
    trainer = Trainer(cfg, **kwargs)
    while not trainer.finished and (steps is None or trainer.step_count < steps):
        trainer.step()
    return trainer


def test_loss_falls_on_a_tiny_problem():
    h = train(TINY).history.series
    assert h["train_loss"][-1] < h["train_loss"][0] / 3
    assert h["val_acc"][-1] > 0.95
    assert len(h["epoch"]) == TINY.train.max_epochs


def test_same_seed_same_losses_other_seed_other_losses():
    a, b = train(TINY).history.series, train(TINY).history.series
    c = train(replace(TINY, data=replace(TINY.data, seed=1))).history.series
    assert a == b
    assert a["train_loss"] != c["train_loss"]


def test_first_losses_are_pinned():
    """A golden run: if this changes, something changed the data, the init, the masks or the update."""
    if not torch.__version__.startswith("2.13") or TINY.train.device != "cpu":
        pytest.skip("golden values were recorded with torch 2.13 on the CPU")
    losses = []
    trainer = Trainer(TINY)
    for _ in range(3):
        losses.append(trainer.step()["loss"])
    assert losses == pytest.approx(GOLDEN, abs=1e-5)


GOLDEN = [0.6874029636383057, 0.6362715363502502, 0.5479630827903748]  # torch 2.13.0, CPU


def test_a_p_changed_mid_run_is_used_from_the_next_step():
    trainer = train(replace(TINY, model=replace(TINY.model, p_hidden=(0.5,))), steps=10)
    masks = MaskRecorder()
    trainer.callbacks.append(masks)
    trainer.set_p(p_hidden=(0.0,))
    trainer.step()
    assert masks._masks[1] is None, "p = 0 must drop nothing at the very next step"
    assert masks.to_plain()[1] == []
    trainer.set_p(p_hidden=(0.9,))
    trainer.step()
    kept = masks._masks[1].float()
    n = kept.numel()
    assert abs(1 - kept.mean().item() - 0.9) < 5 * math.sqrt(0.09 / n)
    assert [e["text"] for e in trainer.history.events] == ["p 0.5 → 0", "p 0 → 0.9"]
    assert trainer.history.events[0]["step"] == 10
    assert trainer.cfg.model.p_hidden == (0.9,)


def test_lr_and_weight_decay_changes_reach_the_optimizer_and_are_marked():
    trainer = train(TINY, steps=3)
    trainer.set_lr(0.1)
    trainer.set_weight_decay(0.01)
    trainer.set_lr(0.1)  # unchanged: no event
    assert all(g["lr"] == 0.1 and g["weight_decay"] == 0.01 for g in trainer.optimizer.param_groups)
    assert [e["kind"] for e in trainer.history.events] == ["lr", "weight_decay"]
    with pytest.raises(ValueError):
        trainer.set_lr(-1.0)


def test_identical_settings_give_identical_runs_and_dropout_makes_them_differ():
    """What the A/B comparison rests on: same seed = same data, init, batches and masks."""
    split = make_split(TINY.data)
    a = train(TINY, split=split).history.series
    same = train(TINY, split=split).history.series
    other = train(replace(TINY, model=TINY.model.with_p(p_hidden=(0.0,))), split=split).history.series
    assert a == same
    assert a["train_loss"][0] != other["train_loss"][0]


def test_with_dropout_training_loss_ends_higher_and_validation_loss_lower_on_most_seeds():
    """Hinton et al. 2012 on the Playground's defaults, as the lesson states it: over seeds 0-9 at
    300 epochs, A (p = 0.5) ends with the higher training loss 9 times and the lower validation
    loss 7 times. Seeded, so exact; asserted as 'most' to survive a harmless numeric change."""
    higher_train = lower_val = 0
    a_final, b_stopped, best_epochs = {"err": {}, "loss": {}}, {"err": {}, "loss": {}}, []
    for seed in range(10):
        cfg = RunConfig(data=DataConfig(seed=seed))
        a = train(cfg).history.series
        b = train(replace(cfg, model=cfg.model.with_p(p_hidden=(0.0, 0.0)))).history.series
        higher_train += a["train_loss"][-1] > b["train_loss"][-1]
        lower_val += a["val_loss"][-1] < b["val_loss"][-1]
        best = best_point(b)
        a_final["err"][seed], a_final["loss"][seed] = 1 - a["val_acc"][-1], a["val_loss"][-1]
        b_stopped["err"][seed], b_stopped["loss"][seed] = 1 - best["val_acc"], best["val_loss"]
        best_epochs.append(best["epoch"])
    assert higher_train >= 8 and lower_val >= 6, (higher_train, lower_val)
    # Lesson 2, "Early stopping, the rival": B stopped at its best epoch (4 to 41) against A's final
    # numbers: 8.2 % and 0.23 against 9.2 % and 0.73; the error gap unclear, the loss gap clear.
    err = check_larger("", a_final["err"], b_stopped["err"], pct, ("A", "B stopped"))
    loss = check_larger("", a_final["loss"], b_stopped["loss"], num, ("A", "B stopped"))
    assert (min(best_epochs), max(best_epochs)) == (4, 41)
    assert np.mean(list(b_stopped["err"].values())) == pytest.approx(0.082, abs=0.003)
    assert np.mean(list(a_final["err"].values())) == pytest.approx(0.092, abs=0.003)
    assert (err.status, err.difference, err.se) == ("unclear", pytest.approx(0.010, abs=0.003), pytest.approx(0.007, abs=0.002))
    assert np.mean(list(b_stopped["loss"].values())) == pytest.approx(0.23, abs=0.01)
    assert np.mean(list(a_final["loss"].values())) == pytest.approx(0.73, abs=0.02)
    assert loss.status == "holds"


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_trains(optimizer):
    assert set(OPTIMIZERS) == set(OPTIMIZER_FACTORIES)
    h = train(replace(TINY, train=replace(TINY.train, optimizer=optimizer, lr=0.05))).history.series
    assert h["train_loss"][-1] < h["train_loss"][0]


def test_a_diverging_run_is_flagged_not_crashed():
    trainer = Trainer(preset("diverging"))
    for _ in range(50):
        trainer.step()
        if trainer.diverged:
            break
    assert trainer.diverged and "diverged" in trainer.diverged
    assert trainer.step_count < 50


def test_max_norm_bounds_every_units_incoming_weights():
    cfg = replace(TINY, train=replace(TINY.train, max_norm=0.5, lr=0.1))
    trainer = train(cfg, steps=20)
    for linear in trainer.model.linears:
        assert linear.weight.norm(dim=1).max().item() <= 0.5 + 1e-5


def test_batches_cover_each_training_point_once_per_epoch():
    cfg = replace(TINY, data=replace(TINY.data, n_train=50), train=replace(TINY.train, batch_size=16))
    trainer = Trainer(cfg)
    results = [trainer.step() for _ in range(4)]  # 16 + 16 + 16 + 2
    assert [r["metrics"] is not None for r in results] == [False, False, False, True]
    assert trainer.epoch == 1 and trainer.epoch_float == 1.0


def test_predict_proba_is_deterministic_and_in_range():
    trainer = train(TINY, steps=5)
    grid = np.random.default_rng(0).uniform(-1, 1, (100, 2)).astype(np.float32)
    p1, p2 = trainer.predict_proba(grid), trainer.predict_proba(grid)
    assert np.array_equal(p1, p2) and ((p1 >= 0) & (p1 <= 1)).all()
    assert trainer.model.training, "predicting must leave the model training"


def test_a_run_without_evaluation_keeps_no_growing_record_of_its_steps():
    trainer = Trainer(TINY, evaluate=False)
    for _ in range(300):
        trainer.step()
    assert all(values == [] for values in trainer.history.series.values())
    assert not any(isinstance(v, list) and v for v in vars(trainer.history).values())  # nothing appended per step


def test_a_long_run_keeps_a_bounded_history_with_its_latest_epochs_whole():
    from core.engine.plain import MAX_RECORDED_POINTS

    trainer = Trainer(TINY)
    metrics = {key: 0.5 for key in trainer.history.KEYS}
    for epoch in range(3 * MAX_RECORDED_POINTS):
        trainer.history.on_epoch(trainer, {**metrics, "epoch": float(epoch)})
    epochs = trainer.history.series["epoch"]
    assert len(epochs) <= 2 * MAX_RECORDED_POINTS
    assert epochs[-1] == 3 * MAX_RECORDED_POINTS - 1 and epochs[-MAX_RECORDED_POINTS:] == sorted(epochs[-MAX_RECORDED_POINTS:])
