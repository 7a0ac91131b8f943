from core.ui.labs.playground import NS, REASON, RUNNER
from tests.pages.conftest import PLAYGROUND, chart_titled, charts


def _runner(at):
    return at.session_state[RUNNER]


def _finished(at):
    return _runner(at).wait_for(lambda s: s["state"] == "finished", timeout=20)


def test_playground_trains_at_once_and_draws_everything(open_page):
    at = open_page(PLAYGROUND, preset="tiny")
    assert not at.exception
    snap = _finished(at)
    assert snap["runs"][0]["epoch"] == 20
    at.run()
    assert not at.exception
    titles = [c["layout"]["title"]["text"] for c in charts(at)]
    assert len(titles) == 6
    assert sum(t.startswith("Decision map") for t in titles) == 2
    assert sum(t.startswith("Network") for t in titles) == 2
    loss = chart_titled(at, "Cross-entropy loss")
    assert [t["name"] for t in loss["data"]] == ["A: p=0.5 train", "A: p=0.5 val", "A: p=0.5 best epoch",
                                                 "B: p=0.0 train", "B: p=0.0 val", "B: p=0.0 best epoch"]
    assert all(len(t["x"]) == 20 for t in loss["data"] if t.get("mode") != "markers")
    for star, val in ((loss["data"][2], loss["data"][1]), (loss["data"][5], loss["data"][4])):  # the lowest val loss
        assert star["y"][0] == min(val["y"]) and val["x"][val["y"].index(min(val["y"]))] == star["x"][0]
    note = " ".join(c.value for c in at.caption)
    assert "early stopping" in note and "was best at epoch" in note
    gaps = {m.label: m.value for m in at.metric}
    assert "Loss gap" in gaps and gaps["Loss gap"] != "–"
    assert any("Finished" in p.proto.text for p in at.get("progress"))


def test_a_p_slider_change_reaches_the_running_trainer(open_page):
    at = open_page(PLAYGROUND, preset="tiny")
    runner = _runner(at)
    at.slider(key=NS + "p_hidden_0").set_value(0.2).run()
    assert not at.exception
    assert _runner(at) is runner, "changing p must not reset the run"
    snap = runner.snapshot()
    assert snap["runs"][0]["config"].model.p_hidden == (0.2,)
    assert snap["runs"][0]["events"][-1]["text"] == "p 0.5 → 0.2"
    assert snap["runs"][1]["config"].model.p_hidden == (0.0,)


def test_lr_change_reaches_the_trainer_and_b_follows_its_own_p(open_page):
    at = open_page(PLAYGROUND, preset="tiny")
    runner = _runner(at)
    at.select_slider(key=NS + "lr").set_value(0.03).run()
    at.slider(key=NS + "b_p_hidden").set_value(0.3).run()
    snap = runner.snapshot()
    assert [r["config"].train.lr for r in snap["runs"]] == [0.03, 0.03]
    assert snap["runs"][1]["config"].model.p_hidden == (0.3,)
    assert _runner(at) is runner


def test_changing_the_data_starts_a_new_run_and_says_why(open_page):
    at = open_page(PLAYGROUND, preset="tiny")
    old = _runner(at)
    at.selectbox(key=NS + "dataset").set_value("circles").run()
    assert not at.exception
    assert _runner(at) is not old and not old.alive
    assert at.session_state[REASON] == "New run: dataset moons → circles."
    assert any("dataset moons → circles" in i.value for i in at.info)
    assert _runner(at).snapshot()["runs"][0]["config"].data.dataset == "circles"


def test_a_new_run_plays_after_a_finished_one_and_waits_after_a_pause(open_page):
    at = open_page(PLAYGROUND, preset="tiny")
    assert _finished(at)["state"] == "finished"
    at.selectbox(key=NS + "dataset").set_value("circles").run()
    assert at.session_state[REASON] == "New run: dataset moons → circles."
    # the learner was watching a run that ended on its own: the new one trains
    assert _runner(at).wait_for(lambda s: s["runs"][0]["step"] > 0, timeout=20)["state"] in ("playing", "finished")

    at = open_page(PLAYGROUND, preset="tiny", max_epochs=10_000, speed=3)
    at.button(key=NS + "play.button").click().run()  # pauses
    assert _runner(at).snapshot()["state"] == "paused"
    at.selectbox(key=NS + "dataset").set_value("circles").run()
    fresh = _runner(at).snapshot()
    assert fresh["state"] == "ready" and fresh["runs"][0]["step"] == 0


def test_pause_step_and_reset_buttons(open_page):
    at = open_page(PLAYGROUND, preset="tiny", max_epochs=10_000, speed=3)
    runner = _runner(at)
    at.button(key=NS + "play.button").click().run()  # it was playing: this pauses
    assert runner.snapshot()["state"] == "paused"
    step = runner.snapshot()["runs"][0]["step"]
    at.button(key=NS + "step.button").click().run()
    assert runner.snapshot()["runs"][0]["step"] == step + 1
    at.button(key=NS + "reset.button").click().run()
    fresh = _runner(at)
    assert fresh is not runner and not runner.alive
    assert fresh.snapshot()["state"] == "ready" and fresh.snapshot()["runs"][0]["step"] == 0


def test_a_diverging_run_shows_a_warning_not_a_traceback(open_page):
    at = open_page(PLAYGROUND, preset="diverging")
    _runner(at).wait_for(lambda s: s["state"] == "diverged", timeout=20)
    at.run()
    assert not at.exception
    assert any("diverged" in w.value for w in at.warning)


def test_without_run_b_only_one_map_is_drawn(open_page):
    at = open_page(PLAYGROUND, preset="tiny", compare=False)
    assert not at.exception
    titles = [c["layout"]["title"]["text"] for c in charts(at)]
    assert sum(t.startswith("Decision map") for t in titles) == 1
    assert len(_runner(at).snapshot()["runs"]) == 1


def test_choosing_a_preset_loads_it_into_the_controls(open_page):
    at = open_page(PLAYGROUND, preset="tiny")
    at.selectbox(key=NS + "preset").set_value("spirals").run()
    assert not at.exception
    assert at.session_state[NS + "dataset"] == "spirals" and at.session_state[NS + "layers"] == 3
    assert _runner(at).snapshot()["runs"][0]["config"].model.num_hiddens == (64, 64, 64)


def test_a_link_can_choose_the_preset(open_page):
    at = open_page(PLAYGROUND, query={"preset": "spirals"})
    assert not at.exception
    assert at.session_state[NS + "dataset"] == "spirals"


def test_a_bad_preset_in_the_link_is_reported_and_the_default_shown(open_page):
    at = open_page(PLAYGROUND, query={"preset": "no-such-thing"})
    assert not at.exception
    assert any("no-such-thing" in w.value for w in at.warning)
    assert at.session_state[NS + "preset"] == "default"


def test_a_crashed_run_is_replaced_and_the_reason_shown(open_page):
    at = open_page(PLAYGROUND, preset="tiny", speed=3)
    runner = _runner(at)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    runner._run_snapshot = broken
    runner.send("step")
    runner.wait_for(lambda s: s["state"] == "error", timeout=5)
    runner._thread.join(2)
    at.run()
    assert not at.exception
    assert _runner(at) is not runner
    assert "ended with an error" in at.session_state[REASON] and "boom" in at.session_state[REASON]


def test_settings_and_run_survive_a_visit_to_another_page(open_page):
    at = open_page(PLAYGROUND, preset="tiny", speed=3, max_epochs=10_000)
    at.selectbox(key=NS + "dataset").set_value("circles").run()
    runner = _runner(at)
    at.switch_page("pages/00_home.py").run()
    at.switch_page(PLAYGROUND).run()
    assert not at.exception and not at.warning
    assert at.session_state[NS + "dataset"] == "circles"
    assert _runner(at) is runner and runner.alive, "coming back must not start a new run"


def test_preset_buttons_load_a_preset(open_page):
    at = open_page(PLAYGROUND, preset="tiny")
    at.button(key=NS + "load_too-much-dropout.button").click().run()
    assert not at.exception
    assert at.session_state[NS + "preset"] == "too-much-dropout"
    assert _runner(at).snapshot()["runs"][0]["config"].model.p_hidden == (0.9, 0.9)


def test_nuisance_inputs_start_a_new_run_with_them_and_the_map_still_draws(open_page):
    at = open_page(PLAYGROUND, preset="tiny")
    old = _runner(at)
    at.slider(key=NS + "nuisance").set_value(10).run()
    assert not at.exception
    runner = _runner(at)
    assert runner is not old and "nuisance inputs" in at.session_state[REASON]
    snap = runner.wait_for(lambda s: s["state"] == "finished", timeout=20)
    assert snap["data"]["X_train"].shape[1] == 12 and snap["runs"][0]["config"].data.nuisance == 10
    at.run()
    assert not at.exception
    maps = [c for c in charts(at) if c["layout"]["title"]["text"].startswith("Decision map")]
    assert len(maps) == 2


def test_standard_dropout_on_selu_is_pointed_out_and_alpha_dropout_named(open_page):
    at = open_page(PLAYGROUND, preset="tiny")
    assert not any("standard dropout on a SELU network" in c.value for c in at.caption)
    at.selectbox(key=NS + "activation").set_value("selu").run()
    assert not at.exception
    if all(s.value == 0 for s in at.slider if s.key and s.key.startswith(NS + "p_")):
        at.slider(key=NS + "p_hidden_0").set_value(0.5).run()
    note = [c.value for c in at.caption if "standard dropout on a SELU network" in c.value]
    assert note and "AlphaDropout" in note[0] and "lesson 7" in note[0]
