"""The leaked-context task and the two-tower model: the leak is in the training rows and gone at serving, the
model's context p and mode do what they say, and equal seeds give equal runs."""
from __future__ import annotations

import math

import pytest
import torch

from core.engine.config import ConfigError
from core.labs.production.task import LeakTrainer, RunSpec, build, make_task, measure


def context_names_label(rows) -> float:
    return float((rows.context.argmax(1) == rows.y).double().mean())


def test_the_leak_is_in_training_and_gone_at_serving():
    spec = RunSpec(leak=1.0, honest=0.4, n_train=4000, n_test=4000)
    task = make_task(spec)
    assert bool(task.train.leaked.all()) and bool(task.val.leaked.all()) and not bool(task.serve.leaked.any())
    assert context_names_label(task.train) == 1.0
    # honest context: right with probability 0.4 + 0.6 / 4 = 0.55; 4000 rows give sd 0.008
    assert abs(context_names_label(task.serve) - 0.55) < 4 * math.sqrt(0.55 * 0.45 / 4000)


@pytest.mark.parametrize("leak", [0.0, 0.3, 0.7])
def test_the_leak_s_share_of_training_rows(leak):
    n = 5000
    task = make_task(RunSpec(leak=leak, n_train=n, n_test=100))
    share = float(task.train.leaked.double().mean())
    assert abs(share - leak) < 4 * math.sqrt(leak * (1 - leak) / n) + 1e-9
    assert context_names_label(task.train) == pytest.approx(leak + (1 - leak) * 0.55, abs=0.03)


def test_leak_noise_blurs_the_leaked_one_hot_only():
    task = make_task(RunSpec(leak=0.5, leak_noise=0.5, n_train=1000, n_test=100))
    leaked, honest = task.train.context[task.train.leaked], task.train.context[~task.train.leaked]
    assert leaked.std() > 0.4 and set(honest.unique().tolist()) == {0.0, 1.0}


def test_the_legitimate_inputs_are_the_same_whatever_the_leak():
    a, b = make_task(RunSpec(leak=1.0, seed=3)), make_task(RunSpec(leak=0.0, seed=3))
    assert torch.equal(a.train.x, b.train.x) and torch.equal(a.serve.x, b.serve.x) and torch.equal(a.train.y, b.train.y)


def test_p_and_mode_do_not_change_the_initial_weights():
    ref = build(RunSpec(p=0.0, mode="unit", seed=5)).state_dict()
    for p, mode in ((0.8, "unit"), (0.5, "feature"), (0.0, "none")):
        other = build(RunSpec(p=p, mode=mode, seed=5)).state_dict()
        assert all(torch.equal(ref[k], other[k]) for k in ref)


def test_unit_dropout_drops_units_feature_masking_drops_the_whole_layer_and_eval_drops_nothing():
    torch.manual_seed(0)
    x, c = torch.randn(4000, 8), torch.eye(4)[torch.randint(0, 4, (4000,))]
    captured = {}
    for mode in ("unit", "feature"):
        model = build(RunSpec(p=0.5, mode=mode)).train()
        model.head.register_forward_hook(lambda m, inp, out, mode=mode: captured.__setitem__(mode, inp[0][:, 32:]))
        model(x, c)
        b = captured[mode]
        live = model.context(c) > 0  # units that are not zero before dropout
        dropped = (b == 0) & live
        rows_all_dropped = (dropped | ~live).all(1)
        if mode == "unit":
            assert abs(float(dropped.sum() / live.sum()) - 0.5) < 0.02  # about half of the live units
        else:
            # every row keeps all its live units or none: the share of rows with none is p
            assert bool(((dropped == live) | (dropped == 0)).all())
            assert abs(float(rows_all_dropped.double().mean()) - 0.5) < 4 * math.sqrt(0.25 / 4000)
        model.eval()
        assert torch.equal(model(x, c), model(x, c))


def test_a_run_repeats_exactly_and_the_measures_are_accuracies():
    spec = RunSpec(p=0.8, steps=60, n_train=400, n_test=400)
    a, b = LeakTrainer(spec).run().measure(), LeakTrainer(spec).run().measure()
    assert a == b
    for name in ("train_acc", "val_acc", "serving_acc", "legit_only_acc", "context_only_acc"):
        assert 0.0 <= a[name] <= 1.0


def test_no_context_means_the_context_is_never_read():
    trainer = LeakTrainer(RunSpec(mode="none", steps=50, n_train=400, n_test=400)).run()
    m = trainer.measure()
    assert m["serving_acc"] == m["legit_only_acc"] and m["reliance_context"] == 0.0


def test_knocking_out_a_tower_is_measured_on_the_leaked_rows():
    trainer = LeakTrainer(RunSpec(p=0.0, steps=300, n_train=1000, n_test=1000)).run()
    m = measure(trainer.model, trainer.task)
    assert m["val_acc"] > 0.95 and m["reliance_context"] > 0.2  # p = 0 leans on the leak


@pytest.mark.parametrize("change", [{"p": 1.0}, {"mode": "rows"}, {"leak": 1.5}, {"batch_size": 10_000},
                                    {"steps": 0}, {"seed": -1}, {"honest": float("nan")}])
def test_bad_settings_are_refused_with_their_name(change):
    with pytest.raises(ConfigError, match=next(iter(change))):
        RunSpec(**change)
    with pytest.raises(ConfigError, match="unknown"):
        RunSpec.from_json({"p": 0.5, "width_of_it": 3})
