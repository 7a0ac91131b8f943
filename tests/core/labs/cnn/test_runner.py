"""Lesson 6's live runner: three CNNs from the same weights in lockstep, live changes, refusals as
messages, divergence, and the maps and masks of one validation digit matching each dropout kind."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.engine.config import CNNConfig, DataConfig, RunConfig, TrainConfig
from core.labs.cnn.runner import LiveCNN

WAIT = 60.0  # generous: a busy machine trains slowly, and a condition met early returns at once


def configs(kinds=("element", "channel", "none"), p=0.3, lr=0.003, epochs=300, **model) -> list[RunConfig]:
    data = DataConfig(dataset="digits", noise=0.0, n_train=200, n_val=100, seed=3)
    train = TrainConfig(batch_size=50, lr=lr, max_epochs=epochs)
    return [RunConfig(data, CNNConfig(kinds=(k, k), p_hidden=(p, p), **model), train) for k in kinds]


@pytest.fixture
def runner():
    made: list[LiveCNN] = []

    def _make(cfgs=None, **kwargs) -> LiveCNN:
        r = LiveCNN(cfgs or configs(), **kwargs)
        made.append(r)
        return r

    yield _make
    for r in made:
        r.close()


def test_the_runs_start_from_the_same_weights_and_the_loss_falls(runner):
    r = runner(configs(kinds=("element", "channel", "block")))
    models = [t.model for t in r._trainers]
    for a, b in zip(models[0].parameters(), models[1].parameters()):
        assert torch.equal(a, b)
    for a, c in zip(models[0].parameters(), models[2].parameters()):
        assert torch.equal(a, c)
    r.send("play")
    snap = r.wait_for(lambda s: s["runs"][0]["epoch"] >= 15, WAIT)
    assert snap["state"] == "playing"
    for run in snap["runs"]:
        losses = run["history"]["train_loss"]
        assert losses[-1] < 0.7 * losses[0], run["name"]
        assert run["gap"] == pytest.approx(run["history"]["val_loss"][-1] - run["history"]["train_loss"][-1])
    assert [run["name"] for run in snap["runs"]] == ["A", "B", "C"]
    assert len({run["step"] for run in snap["runs"]}) == 1  # lockstep


def test_p_and_lr_reach_the_trainers_of_every_run_or_of_one(runner):
    r = runner()
    r.send("set_p", p=0.5)
    snap = r.wait_for(lambda s: all(run["config"].model.p_hidden == (0.5, 0.5) for run in s["runs"]), WAIT)
    assert all(run["config"].model.p_hidden == (0.5, 0.5) for run in snap["runs"])
    assert all(t.model.conv_dropouts[0].p == 0.5 for t in r._trainers if t.model.conv_dropouts)
    r.send("set_lr", lr=0.01, run=1)
    snap = r.wait_for(lambda s: s["runs"][1]["config"].train.lr == 0.01, WAIT)
    assert [run["config"].train.lr for run in snap["runs"]] == [0.003, 0.01, 0.003]
    assert r._trainers[1].optimizer.param_groups[0]["lr"] == 0.01
    assert snap["runs"][1]["events"][-1]["text"] == "lr 0.003 → 0.01"
    r.send("set_p", p_hidden=[0.1, 0.2], run=0)
    snap = r.wait_for(lambda s: s["runs"][0]["config"].model.p_hidden == (0.1, 0.2), WAIT)
    assert snap["runs"][0]["config"].model.p_hidden == (0.1, 0.2)
    assert snap["runs"][1]["config"].model.p_hidden == (0.5, 0.5)


@pytest.mark.parametrize("command, args, said", [
    ("set_p", {"p": 1.5}, "ignored set_p"),
    ("set_p", {"p": float("nan")}, "ignored set_p"),
    ("set_p", {"p_hidden": [0.1]}, "one drop probability per conv layer"),
    ("set_p", {"p": 0.2, "run": 3}, "run must be a whole number from 0 to 2"),
    ("set_lr", {"lr": -1}, "ignored set_lr"),
    ("set_lr", {}, "it needs a value for 'lr'"),
    ("set_digit", {"digit": 100}, "digit must be a whole number from 0 to 99"),
    ("set_digit", {"digit": "three"}, "digit must be a whole number"),
    ("set_speed", {"epochs_per_second": -3}, "epochs_per_second must be a number above 0"),
    ("step", {"n": 0}, "n must be a whole number of steps"),
    ("set_max_epochs", {"max_epochs": float("inf")}, "max_epochs must be a whole number"),
    ("fly", {}, "unknown command 'fly'"),
])
def test_bad_commands_give_messages_and_the_runner_lives_on(runner, command, args, said):
    r = runner(configs(kinds=("element", "channel", "none")))
    before = r.snapshot()
    r.send(command, **args)
    snap = r.wait_for(lambda s: s["message"] is not None, WAIT)
    assert said in snap["message"] and r.alive
    assert [run["config"] for run in snap["runs"]] == [run["config"] for run in before["runs"]]
    assert snap["digit"] == before["digit"]
    r.send("step")
    assert r.wait_for(lambda s: s["runs"][0]["step"] == 1, WAIT)["runs"][0]["step"] == 1


def test_a_set_p_refused_for_one_run_changes_none(runner):
    r = runner()
    r.send("set_p", p_hidden=[0.2, 0.2, 0.2])
    snap = r.wait_for(lambda s: s["message"] is not None, WAIT)
    assert all(run["config"].model.p_hidden == (0.3, 0.3) for run in snap["runs"])


def test_a_diverging_learning_rate_pauses_the_runs_with_a_message(runner):
    r = runner(configs(lr=10.0))
    r.send("play")
    snap = r.wait_for(lambda s: s["state"] not in ("ready", "playing"), WAIT)
    assert snap["state"] == "diverged", snap["message"]
    assert snap["message"].startswith("Run ") and "diverged" in snap["message"] and r.alive
    r.send("play")
    snap = r.wait_for(lambda s: "ignored play" in (s["message"] or ""), WAIT)
    assert "reset to start again" in snap["message"] and snap["state"] == "diverged"


def test_the_masks_match_each_kind(runner):
    r = runner(configs(kinds=("element", "channel", "block", "none")[:3], p=0.5))
    snap = r.snapshot()
    element, channel, block = (run["layers"] for run in snap["runs"])
    for layers in (element, channel, block):
        assert len(layers) == 2
        assert layers[0]["maps"].shape == (8, 8, 8) and layers[0]["mask"].shape == (8, 8, 8)
        assert layers[0]["mask"].dtype == bool
    for layer in channel:  # a whole map kept or dropped
        mask = layer["mask"]
        assert np.all(mask == mask[:, :1, :1])
        assert 0 < mask[:, 0, 0].sum() < 8 or layer["dropped"] in (0.0, 1.0)
    for layer in element:  # single activations: maps partly kept
        mask = layer["mask"]
        partial = [(m.any() and not m.all()) for m in mask]
        assert sum(partial) >= 4
    # DropBlock drops 3x3 squares: every dropped pixel has a dropped 3x3 square that holds it
    for layer in block:
        dropped = ~layer["mask"]
        assert dropped.any()
        for c, i, j in zip(*np.nonzero(dropped)):
            assert any(dropped[c, a:a + 3, b:b + 3].all() and dropped[c, a:a + 3, b:b + 3].shape == (3, 3)
                       for a in range(max(0, i - 2), i + 1) for b in range(max(0, j - 2), j + 1))


def test_a_run_without_dropout_has_no_masks_and_p_zero_drops_nothing(runner):
    r = runner(configs(kinds=("none", "element"), p=0.0))
    snap = r.snapshot()
    assert all(layer["mask"] is None and layer["dropped"] == 0.0 for run in snap["runs"] for layer in run["layers"])
    assert snap["runs"][0]["probs"].shape == (10,)
    assert snap["runs"][0]["probs"].sum() == pytest.approx(1.0, abs=1e-5)


def test_the_masks_change_while_training_and_the_digit_can_be_chosen(runner):
    r = runner(configs(kinds=("element",)), view_interval=0.0)
    first = r.snapshot()
    assert first["digit"] == 0 and first["image"].shape == (8, 8)
    r.send("step")
    second = r.wait_for(lambda s: s["views_step"] == 1, WAIT)
    assert not np.array_equal(first["runs"][0]["layers"][0]["mask"], second["runs"][0]["layers"][0]["mask"])
    r.send("set_digit", digit=7)
    snap = r.wait_for(lambda s: s["digit"] == 7, WAIT)
    assert snap["label"] == int(r._trainers[0].y_val[7])
    assert not np.array_equal(snap["image"], second["image"])


def test_upsampled_images_give_larger_maps(runner):
    r = runner(configs(kinds=("block",), image_size=16, block_size=5))
    snap = r.snapshot()
    assert snap["image"].shape == (16, 16)
    assert snap["runs"][0]["layers"][0]["maps"].shape == (8, 16, 16)


def test_runs_that_do_not_share_their_data_or_weights_are_refused():
    a, b = configs(kinds=("element", "channel"))
    other = RunConfig(DataConfig(dataset="digits", noise=0.0, n_train=300, n_val=100, seed=3), b.model, b.train)
    with pytest.raises(ValueError, match="share run A's data"):
        LiveCNN([a, other])
    with pytest.raises(ValueError, match="1 to 3 runs"):
        LiveCNN([a] * 4)
    with pytest.raises(ValueError, match="digit must be"):
        LiveCNN([a], digit=-1)


def test_a_finished_run_plays_on(runner):
    r = runner(configs(kinds=("element",), epochs=2))
    r.send("play")
    snap = r.wait_for(lambda s: s["state"] == "finished", WAIT)
    assert snap["state"] == "finished" and snap["runs"][0]["epoch"] == 2
    r.send("play")
    snap = r.wait_for(lambda s: s["runs"][0]["epoch"] >= 3, WAIT)
    assert snap["runs"][0]["epoch"] >= 3
