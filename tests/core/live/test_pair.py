import dataclasses
import pickle
import time
from dataclasses import replace

import numpy as np
import pytest

from core.analysis.knockout import knockout_damage
from core.engine.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.labs.playground.presets import preset
from core.live.pair import GRID_SIZE, LiveRunner

CFG = RunConfig(
    DataConfig(n_train=40, n_val=40),
    ModelConfig(num_hiddens=(16, 16), p_hidden=(0.5, 0.5)),
    TrainConfig(max_epochs=10_000, device="cpu"),
)
CFG_B = replace(CFG, model=CFG.model.with_p(p_hidden=(0.0, 0.0)))


@pytest.fixture
def runner():
    made: list[LiveRunner] = []

    def make(*args, **kwargs) -> LiveRunner:
        made.append(LiveRunner(*args, **kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


def _step_of(snapshot, run=0) -> int:
    return snapshot["runs"][run]["step"]


def test_play_trains_and_pause_stops(runner):
    r = runner(CFG, CFG_B, epochs_per_second=None)
    assert r.snapshot()["state"] == "ready" and _step_of(r.snapshot()) == 0
    r.send("play")
    snap = r.wait_for(lambda s: _step_of(s) > 50, timeout=10)
    assert snap["state"] == "playing" and _step_of(snap) > 50
    assert _step_of(snap, 1) in (_step_of(snap), _step_of(snap) - 1), "A and B advance in lockstep"
    r.send("pause")
    paused = r.wait_for(lambda s: s["state"] == "paused", timeout=20)
    time.sleep(0.3)
    assert _step_of(r.snapshot()) == _step_of(paused)


def test_step_trains_exactly_one_step_of_each_run(runner):
    r = runner(CFG, CFG_B)
    for expected in (1, 2):
        r.send("step")
        snap = r.wait_for(lambda s: _step_of(s) >= expected, timeout=20)
        assert snap["state"] == "paused"
        assert [run["step"] for run in snap["runs"]] == [expected, expected]


def test_set_p_reaches_the_trainer_without_a_reset(runner):
    r = runner(CFG, CFG_B, epochs_per_second=None)
    r.send("play")
    before = r.wait_for(lambda s: _step_of(s) > 20, timeout=10)
    r.send("set_p", run=0, p_hidden=[0.1, 0.2])
    snap = r.wait_for(lambda s: s["runs"][0]["config"].model.p_hidden == (0.1, 0.2), timeout=20)
    assert _step_of(snap) >= _step_of(before), "weights kept: the step count continues"
    assert snap["runs"][0]["events"][-1]["text"] == "p 0.5/0.5 → 0.1/0.2"
    assert snap["runs"][1]["config"].model.p_hidden == (0.0, 0.0), "run B is untouched"


def test_pacing_keeps_a_watchable_speed(runner):
    """At 20 epochs/s a pair trains, and never faster (the thread may lag on a busy machine, so the
    test waits for 10 epochs however long they take and bounds them by the time that really passed)."""
    r = runner(CFG, epochs_per_second=20)
    start = time.monotonic()
    r.send("play")
    r.wait_for(lambda s: s["runs"][0]["epoch"] >= 10, timeout=30)
    epochs, elapsed = r.snapshot()["runs"][0]["epoch"], time.monotonic() - start
    assert 10 <= epochs <= 20 * elapsed + 2


def test_a_run_stops_at_max_epochs_and_can_be_extended(runner):
    cfg = replace(CFG, train=replace(CFG.train, max_epochs=3))
    r = runner(cfg, epochs_per_second=None)
    r.send("play")
    snap = r.wait_for(lambda s: s["state"] == "finished", timeout=10)
    assert snap["runs"][0]["epoch"] == 3 and "max epochs (3)" in snap["message"]
    r.send("set_max_epochs", max_epochs=5)  # raising the limit after the end carries on
    snap = r.wait_for(lambda s: s["state"] == "finished" and s["runs"][0]["epoch"] == 5, timeout=10)
    assert len(snap["runs"][0]["history"]["epoch"]) == 5


def test_a_diverging_run_pauses_itself_with_a_message(runner):
    r = runner(preset("diverging"), epochs_per_second=None)
    r.send("play")
    snap = r.wait_for(lambda s: s["state"] == "diverged", timeout=10)
    assert "diverged" in snap["message"] and "learning rate" in snap["message"]
    assert r.alive, "the thread waits for the next command instead of dying"
    grid = snap["runs"][0]["grid"]
    assert grid is None or np.isfinite(grid).all(), "no garbage map is published"


def test_snapshots_are_plain_data(runner):
    r = runner(CFG, CFG_B)
    r.send("step")
    snap = r.wait_for(lambda s: _step_of(s) >= 1, timeout=20)
    pickle.dumps(snap)  # could cross a process boundary

    def check(value):
        if isinstance(value, dict):
            for k, v in value.items():
                assert isinstance(k, str)
                check(v)
        elif isinstance(value, (list, tuple)):
            for v in value:
                check(v)
        elif dataclasses.is_dataclass(value):  # a run's RunConfig: frozen, and plain all the way down
            assert value.__dataclass_params__.frozen, type(value)
            check(dataclasses.asdict(value))
        else:
            assert value is None or isinstance(value, (str, int, float, bool, np.ndarray, np.generic)), type(value)

    check(snap)
    run = snap["runs"][0]
    assert run["grid"].shape == (GRID_SIZE, GRID_SIZE)
    assert [len(m) for m in run["masks"]] == [0, 12, 12], "input p = 0: no mask; hidden masks cut to 12 units"
    assert run["layer_sizes"] == [2, 16, 16, 2]


def test_close_stops_the_thread_and_bad_input_is_refused(runner):
    r = runner(CFG)
    with pytest.raises(ValueError, match="unknown command"):
        r.send("explode")
    r.close()
    assert not r.alive and r.snapshot()["state"] == "stopped"
    with pytest.raises(ValueError, match="same weights"):
        runner(CFG, replace(CFG, model=replace(CFG.model, num_hiddens=(8, 8))))


def test_an_invalid_value_is_reported_not_fatal(runner):
    r = runner(CFG)
    r.send("set_p", run=0, p_hidden=[1.5, 0.5])
    snap = r.wait_for(lambda s: s["message"] is not None, timeout=20)
    assert "ignored set_p" in snap["message"] and r.alive


@pytest.mark.parametrize(("command", "kwargs", "words"), [
    ("set_speed", {"epochs_per_second": 0}, "ignored set_speed: epochs_per_second must be a number above 0"),
    ("set_speed", {"epochs_per_second": float("nan")}, "ignored set_speed: epochs_per_second must be"),
    ("set_speed", {"epochs_per_second": -1.0}, "ignored set_speed: epochs_per_second must be"),
    ("step", {"n": 0}, "ignored step: n must be a whole number of steps from 1 to"),
    ("step", {"n": 2.5}, "ignored step: n must be a whole number of steps"),
    ("set_p", {"run": 5, "p_hidden": [0.1]}, "ignored set_p: run must be a whole number from 0 to 0, got 5"),
    ("set_p", {"run": -1, "p_hidden": [0.1]}, "ignored set_p: run must be a whole number from 0 to 0"),
    ("set_lr", {"run": "b", "lr": 0.1}, "ignored set_lr: run must be a whole number"),
    ("set_mc", {"passes": 10**6}, "ignored set_mc"),
    # numbers too big for a float or an int: a check that converts first raises OverflowError
    ("step", {"n": 10**400}, "ignored step: n must be a whole number of steps"),
    ("step", {"n": float("inf")}, "ignored step: n must be a whole number of steps"),
    ("set_p", {"run": 10**400, "p_hidden": [0.1]}, "ignored set_p: run must be a whole number"),
    ("set_mc", {"passes": 10**400}, "ignored set_mc"),
    ("set_max_epochs", {"max_epochs": float("inf")}, "ignored set_max_epochs"),
    ("knockout", {"layer": 0, "units": [float("inf")]}, "ignored knockout"),
])
def test_values_no_control_could_send_are_refused_and_the_run_goes_on(runner, command, kwargs, words):
    """The shared lifecycle (core.live.runner) checks what a crafted message could send: a sentence,
    the pace unchanged, the thread alive and training when asked."""
    r = runner(CFG, epochs_per_second=30.0)
    r.send(command, **kwargs)
    snap = r.wait_for(lambda s: (s["message"] or "").startswith("ignored"), timeout=10)
    assert snap["message"].startswith(words), snap["message"]
    assert snap["epochs_per_second"] == 30.0
    r.send("step")
    assert r.wait_for(lambda s: s["runs"][0]["step"] == 1, timeout=10)["runs"][0]["step"] == 1 and r.alive


def test_long_histories_are_thinned_in_snapshots_but_keep_the_last_point():
    from core.engine.plain import MAX_HISTORY_POINTS, thin  # noqa: PLC0415

    series = [float(i) for i in range(10 * MAX_HISTORY_POINTS + 3)]
    thinned = thin(series)
    assert len(thinned) <= MAX_HISTORY_POINTS + 1 and thinned[0] == 0.0 and thinned[-1] == series[-1]
    assert thin(series[:10]) == series[:10]


def test_a_crash_while_publishing_is_reported_not_silent(runner, monkeypatch):
    r = runner(CFG)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(r, "_run_snapshot", broken)
    r.send("step")
    snap = r.wait_for(lambda s: s["state"] == "error", timeout=20)
    assert "RuntimeError: boom" in snap["message"]
    r._thread.join(2)
    assert not r.alive


def test_coadaptation_statistics_are_published_on_a_clock(runner):
    r = runner(CFG, CFG_B, epochs_per_second=None, coadaptation_layer=0)
    first = r.snapshot()["runs"][0]["coadaptation"]  # measured at once, before any training
    assert first["lead"]["ko_max"] >= 0 and len(first["loss_increase"]) == 16
    assert first["correlation"].shape == (16, 16) and sorted(first["order"]) == list(range(16))
    r.send("play")
    snap = r.wait_for(lambda s: len(s["runs"][1]["coadaptation"]["series"]["ko_max"]) >= 3, timeout=10)
    r.send("pause")
    for run in snap["runs"]:
        series = run["coadaptation"]["series"]
        assert len(series["ko_max"]) >= 3 and series["epoch"] == sorted(series["epoch"])
    # About one measurement per STATS_INTERVAL while playing, not one per epoch.
    series = snap["runs"][0]["coadaptation"]["series"]
    epochs_between = np.diff(series["epoch"][1:])
    assert np.median(epochs_between) > 3


def test_a_run_measured_for_a_whole_class_keeps_a_bounded_series(runner, monkeypatch):
    """Measured at every step (no clock) with 4 points kept whole: the series never passes 8 points,
    its latest points are the latest epochs, and its first is still the first measurement."""
    import core.live.pair as pair  # noqa: PLC0415

    monkeypatch.setattr(pair, "STATS_INTERVAL", 0.0)
    monkeypatch.setattr(pair, "STATS_POINTS", 4)
    r = runner(CFG, epochs_per_second=None, coadaptation_layer=0)
    for n in range(1, 31):  # a paused run is measured after every step: 31 measurements in all
        r.send("step")
        r.wait_for(lambda s, n=n: _step_of(s) == n and s["runs"][0]["coadaptation"]["series"]["ko_max"], timeout=30)
    series = r._stats_series[0]  # what the runner keeps, not only what a snapshot shows
    assert _step_of(r.snapshot()) == 30 and 4 < len(series["epoch"]) <= 8
    assert series["epoch"][0] == 0.0 and series["epoch"] == sorted(series["epoch"])
    assert len({len(v) for v in series.values()}) == 1, "every statistic thinned alike"


def test_the_measured_layer_can_change_without_a_new_run(runner):
    r = runner(replace(CFG, model=ModelConfig(num_hiddens=(16, 8), p_hidden=(0.5, 0.5))), epochs_per_second=None,
               coadaptation_layer=0)
    for _ in range(5):
        r.send("step")
    r.wait_for(lambda s: _step_of(s) >= 5 and s["state"] == "paused", timeout=10)
    r.send("set_coadaptation_layer", layer=1)
    snap = r.wait_for(lambda s: s["coadaptation_layer"] == 1, timeout=20)
    stats = snap["runs"][0]["coadaptation"]
    assert len(stats["loss_increase"]) == 8 and stats["correlation"].shape == (8, 8)
    assert len(stats["series"]["ko_max"]) == 1 and _step_of(snap) == 5  # a fresh series, the same run
    r.send("set_coadaptation_layer", layer=2)
    snap = r.wait_for(lambda s: "ignored" in (s["message"] or ""), timeout=20)
    assert "layer must be in 0..1" in snap["message"] and snap["coadaptation_layer"] == 1
    r.send("set_coadaptation_layer", layer=None)
    snap = r.wait_for(lambda s: s["coadaptation_layer"] is None, timeout=20)
    assert "coadaptation" not in snap["runs"][0]


def test_knockout_switches_a_unit_off_in_the_views_of_both_runs(runner):
    r = runner(CFG, CFG_B, epochs_per_second=None)
    r.send("step")
    for _ in range(60):
        r.send("step")
    before = r.wait_for(lambda s: _step_of(s) >= 61 and s["state"] == "paused", timeout=10)
    trainer = r._trainers[1]
    unit = knockout_damage(trainer.model, trainer.X_val, trainer.y_val, 0).worst_unit
    r.send("knockout", layer=0, units=[unit])
    after = r.wait_for(lambda s: "knockout" in s["runs"][0], timeout=20)
    assert _step_of(after) == _step_of(before)  # training untouched
    for i in (0, 1):
        run = after["runs"][i]
        assert run["knockout"]["units"] == [unit] and 0 <= run["knockout"]["val_acc"] <= 1
    assert not np.allclose(after["runs"][1]["grid"], before["runs"][1]["grid"])  # its map changed
    r.send("knockout", layer=0, units=None)
    cleared = r.wait_for(lambda s: "knockout" not in s["runs"][0], timeout=20)
    np.testing.assert_allclose(cleared["runs"][1]["grid"], before["runs"][1]["grid"], atol=1e-6)
    r.send("knockout", layer=5, units=[0])
    refused = r.wait_for(lambda s: (s["message"] or "").startswith("ignored knockout"), timeout=20)
    assert "layer must be in" in refused["message"] and "knockout" not in refused["runs"][0]


def test_weights_are_published_for_maps_drawn_elsewhere(runner):
    from core.analysis.mc import deterministic_predict

    r = runner(CFG, CFG_B, epochs_per_second=None, publish_weights=True)
    for _ in range(7):
        r.send("step")
    snap = r.wait_for(lambda s: _step_of(s) >= 7 and s["state"] == "paused", timeout=10)
    for i, run in enumerate(snap["runs"]):
        assert run["frozen_step"] == run["step"] == 7
        trainer = r._trainers[i]
        np.testing.assert_allclose(deterministic_predict(run["frozen"], trainer.X_val)[:, 1],
                                   trainer.predict_proba(trainer.X_val.numpy()), atol=1e-5)
    assert "frozen" not in runner(CFG, epochs_per_second=None).snapshot()["runs"][0]


def test_published_weights_follow_a_change_of_p_between_steps(runner):
    r = runner(CFG, epochs_per_second=None, publish_weights=True)
    r.send("step")
    before = r.wait_for(lambda s: _step_of(s) >= 1 and s["state"] == "paused", timeout=10)["runs"][0]["frozen"]
    r.send("set_p", p_input=0.0, p_hidden=[0.0] * len(CFG.model.num_hiddens))
    after = r.wait_for(lambda s: s["runs"][0]["frozen"] is not before, timeout=20)["runs"][0]
    assert after["frozen_step"] == 1 and set(after["frozen"].p) == {0.0} and after["frozen"].fingerprint != \
        before.fingerprint


def test_monte_carlo_maps_and_the_probe_are_computed_in_the_runner():
    """Lesson 5's maps come from the runner's thread (in a worker, next to the weights), and are the
    MC engine's own numbers for the weights it publishes; set_mc changes T and the probe, checked."""
    from core.analysis.calibration import point_probe  # noqa: PLC0415
    from core.analysis.mc import MCMapCache  # noqa: PLC0415
    from core.live.pair import _GRID_POINTS, MAX_MC_PASSES  # noqa: PLC0415

    r = LiveRunner(CFG, publish_weights=True, mc_passes=20, probe=(1.0, -0.5))
    try:
        r.send("step", n=3)
        snap = r.wait_for(lambda s: (s["runs"][0].get("mc") or {}).get("step") == 3, timeout=20)
        run = snap["runs"][0]
        mc, frozen = run["mc"], run["frozen"]
        assert mc["T"] == 20 and mc["mean"].shape == (GRID_SIZE * GRID_SIZE,) and run["frozen_step"] == 3
        expected = MCMapCache().predict(frozen, _GRID_POINTS, 20)
        np.testing.assert_allclose(mc["mean"], expected.mean[:, 1], atol=1e-6)
        np.testing.assert_allclose(mc["mutual_info"], expected.mutual_info, atol=1e-6)
        probe = point_probe(frozen, (1.0, -0.5), 20)
        assert mc["probe"]["x"] == (1.0, -0.5) and mc["probe"]["mean"] == pytest.approx(float(probe.mean[1]))

        for kwargs, words in [({"passes": 0}, "passes must be a whole number from 1 to"),
                              ({"passes": MAX_MC_PASSES + 1}, "passes must be a whole number"),
                              ({"probe": (float("nan"), 0.0)}, "probe must lie in"),
                              ({"probe": (99.0, 0.0)}, "probe must lie in")]:
            r.send("set_mc", **kwargs)
            said = r.wait_for(lambda s: (s["message"] or "").startswith("ignored set_mc"), timeout=10)
            assert words in said["message"] and said["mc_passes"] == 20 and r.alive, said["message"]
            r.send("step")  # a step clears the message for the next check
            r.wait_for(lambda s: not s["message"], timeout=10)
        r.send("set_mc", passes=35, probe=(0.0, 0.0))
        snap = r.wait_for(lambda s: (s["runs"][0].get("mc") or {}).get("T") == 35, timeout=20)
        assert snap["probe"] == (0.0, 0.0) and snap["runs"][0]["mc"]["probe"]["probs"].shape == (35,)
    finally:
        r.close()


def test_five_thousand_slider_moves_keep_the_snapshot_and_the_figure_small(runner):
    from core.engine.plain import MAX_EVENTS
    from core.viz import curves

    r = runner(CFG)
    for i in range(5000):
        r.send("set_p", run=0, p_hidden=[0.5 if i % 2 else 0.4, 0.5])
    snap = r.wait_for(lambda s: s["runs"][0]["events_hidden"] + len(s["runs"][0]["events"]) == 5000, timeout=60)
    run = snap["runs"][0]
    assert len(run["events"]) == MAX_EVENTS and run["events_hidden"] == 5000 - MAX_EVENTS
    figure = curves(snap["runs"], ["A"], "loss")
    assert len(figure.layout.shapes) == MAX_EVENTS
    assert f"{5000 - MAX_EVENTS} earlier ones not" in figure.layout.title.text
