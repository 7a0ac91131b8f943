import pickle
import time

import numpy as np
import pytest

from core.labs.uncertainty.bands import GRID
from core.labs.uncertainty.regression import RegressionConfig
from core.labs.uncertainty.regression_runner import COMMANDS, DEFAULT_PASSES, LiveRegression

CFG = RegressionConfig(max_epochs=100_000)


@pytest.fixture
def runner():
    made: list[LiveRegression] = []

    def make(*args, **kwargs) -> LiveRegression:
        made.append(LiveRegression(*args, **kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


PLAIN = (str, int, float, bool, type(None), np.ndarray)


def _assert_plain(value, path="snapshot"):
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str), f"{path} has a non-string key {k!r}"
            _assert_plain(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _assert_plain(v, f"{path}[{i}]")
    else:
        assert isinstance(value, PLAIN), f"{path} is a {type(value).__name__}"


def test_a_new_runner_is_ready_with_bands_and_plain_data(runner):
    r = runner(CFG)
    snap = r.snapshot()
    assert snap["state"] == "ready" and snap["step"] == 0 and snap["run"] == 1
    assert snap["bands"]["passes"].shape == (DEFAULT_PASSES, len(GRID))
    assert snap["data"]["n"] == 40 and snap["data"]["added"] == 0
    assert snap["tau"]["text"] == "τ = 1² · 0.8 / (2 · 40 · 0.00025) = 40, so τ⁻¹ = 0.025"
    np.testing.assert_allclose(snap["bands"]["total_std"] ** 2, snap["bands"]["std"] ** 2 + 0.025, rtol=1e-5)
    held = snap["heldout"]  # the bands checked on 400 new noisy observations, +-1 and +-2 std
    assert set(held) == {"k1", "k2"} and held["k2"]["n"] == 400 and held["k1"]["k"] == 1.0
    assert 0 <= held["k1"]["passes"] <= held["k2"]["passes"] <= held["k2"]["with_noise"] <= 1
    _assert_plain(snap)
    pickle.dumps(snap)


def test_play_trains_and_pause_stops(runner):
    r = runner(CFG, epochs_per_second=None)
    r.send("play")
    snap = r.wait_for(lambda s: s["step"] > 100, timeout=10)
    assert snap["state"] == "playing" and snap["step"] > 100
    assert snap["history"]["train_mse"][-1] < snap["history"]["train_mse"][0]
    r.send("pause")
    paused = r.wait_for(lambda s: s["state"] == "paused", timeout=20)
    time.sleep(0.3)
    assert r.snapshot()["step"] == paused["step"]
    _assert_plain(r.snapshot())


def test_step_trains_exactly_the_steps_asked_for(runner):
    r = runner(CFG)
    r.send("step")
    assert r.wait_for(lambda s: s["step"] == 1, timeout=20)["state"] == "paused"
    r.send("step", n=5)
    snap = r.wait_for(lambda s: s["step"] >= 6, timeout=20)
    time.sleep(0.2)
    assert r.snapshot()["step"] == 6 and snap["state"] == "paused"


def test_set_p_and_add_points_reach_the_trainer_and_the_bands(runner):
    r = runner(CFG, epochs_per_second=None)
    r.send("step", n=50)
    before = r.wait_for(lambda s: s["step"] == 50, timeout=10)
    r.send("set_p", p=0.4)
    r.send("add_points", x=[5.0, 5.5], y=[-4.8, -3.9])
    snap = r.wait_for(lambda s: s["config"]["p"] == 0.4 and s["data"]["n"] == 42, timeout=20)
    assert snap["step"] == 50, "weights kept"
    assert snap["data"]["added"] == 2 and snap["data"]["x"][-1] == 5.5
    assert [e["text"] for e in snap["events"]] == ["p 0.2 → 0.4", "+2 points (N = 42)"]
    assert snap["tau"]["n"] == 42 and snap["tau"]["p"] == 0.4
    assert not np.array_equal(snap["bands"]["std"], before["bands"]["std"]), "bands recomputed for the new p"


def test_bands_are_recomputed_only_when_something_they_depend_on_changed(runner):
    r = runner(CFG)
    first = r.snapshot()
    r.send("set_speed", epochs_per_second=10)
    same = r.wait_for(lambda s: s["epochs_per_second"] == 10, timeout=20)
    assert same["version"] > first["version"]
    assert same["bands"]["passes"] is first["bands"]["passes"], "cached: nothing they depend on changed"
    r.send("set_passes", n_passes=200)
    more = r.wait_for(lambda s: s["n_passes"] == 200, timeout=20)
    assert more["bands"]["passes"].shape == (200, len(GRID))
    np.testing.assert_array_equal(more["bands"]["passes"][:DEFAULT_PASSES], first["bands"]["passes"])


def test_bad_commands_give_a_message_and_the_thread_lives_on(runner):
    r = runner(CFG)
    for command, kwargs, words in [
        ("jump", {}, "ignored jump: unknown command 'jump'"),
        ("set_p", {"p": 2}, r"ignored set_p: p must be in [0.0, 0.9], got 2.0"),
        ("set_p", {}, "ignored set_p: it needs a value for 'p'"),
        ("add_points", {"x": [1, 2], "y": [1]}, "ignored add_points: need as many y as x"),
        ("set_passes", {"n_passes": 500},
         "ignored set_passes: T (stochastic passes) must be a whole number in [1, 200]"),
        ("set_activation", {"activation": "sigmoid"}, "ignored set_activation: activation must be one of relu, tanh"),
        ("reset", {"colour": "red"}, "ignored reset: unknown setting 'colour'; expected some of activation,"),
        ("step", {"n": 0}, "ignored step: n must be a whole number of steps from 1 to 10000, got 0"),
        ("step", {"n": 10**9}, "ignored step: n must be a whole number of steps from 1 to 10000"),
        ("step", {"n": float("nan")}, "ignored step: n must be a whole number of steps"),
        ("set_speed", {"epochs_per_second": 0}, "ignored set_speed: epochs_per_second must be a number above 0"),
        ("set_speed", {"epochs_per_second": float("nan")}, "ignored set_speed: epochs_per_second must be"),
        ("set_speed", {"epochs_per_second": -3}, "ignored set_speed: epochs_per_second must be"),
    ]:
        r.send(command, **kwargs)
        snap = r.wait_for(lambda s, w=words: s["message"] is not None and s["message"].startswith(w), timeout=20)
        assert snap["message"].startswith(words), (command, snap["message"])
    assert r.alive and r.snapshot()["run"] == 1 and r.snapshot()["n_passes"] == DEFAULT_PASSES
    assert set(COMMANDS) >= {"play", "pause", "step", "set_p", "add_points", "stop"}


def test_set_activation_starts_a_new_run(runner):
    r = runner(CFG, epochs_per_second=None)
    r.send("step", n=20)
    r.wait_for(lambda s: s["step"] == 20, timeout=20)
    r.send("add_points", x=[6.0], y=[0.0])
    r.send("set_activation", activation="tanh")
    snap = r.wait_for(lambda s: s["run"] == 2, timeout=20)
    assert snap["config"]["activation"] == "tanh" and snap["step"] == 0 and snap["state"] == "ready"
    assert snap["data"]["n"] == 40, "a new run starts from the original points"
    r.send("reset", p=0.1, seed=3)
    snap = r.wait_for(lambda s: s["run"] == 3, timeout=20)
    assert (snap["config"]["p"], snap["config"]["seed"], snap["config"]["activation"]) == (0.1, 3, "tanh")


def test_pacing_keeps_a_watchable_speed(runner):
    """At 40 epochs/s (1 full-batch step each) a run trains, and never faster than 40 epochs/s.

    The run may lag on a busy machine, so the test waits for 20 epochs however long they take and
    bounds the epochs by the time that really passed."""
    r = runner(CFG, epochs_per_second=40)
    start = time.monotonic()
    r.send("play")
    r.wait_for(lambda s: s["epoch"] >= 20, timeout=30)
    epochs, elapsed = r.snapshot()["epoch"], time.monotonic() - start
    assert 20 <= epochs <= 40 * elapsed + 3


def test_a_run_stops_at_max_epochs_and_play_goes_on(runner):
    r = runner(RegressionConfig(max_epochs=30), epochs_per_second=None)
    r.send("play")
    snap = r.wait_for(lambda s: s["state"] == "finished", timeout=10)
    assert snap["epoch"] == 30 and "30 epochs" in snap["message"]
    r.send("play")
    assert r.wait_for(lambda s: s["state"] == "finished" and s["epoch"] == 60, timeout=10)["epoch"] == 60


def test_close_stops_the_thread(runner):
    r = runner(CFG, epochs_per_second=None)
    r.send("play")
    r.wait_for(lambda s: s["step"] > 5, timeout=20)
    r.close()
    assert not r.alive and r.snapshot()["state"] == "stopped"
    r.close()  # twice is fine
