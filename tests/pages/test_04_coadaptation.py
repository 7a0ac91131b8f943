"""Lesson 4's page, headless: two live runs with their statistics, predictions before each reveal,
units switched off and on, the measured layer, bad links, and the digit features in the background.

Clicking a unit in a chart needs a browser (tests/e2e/test_coadaptation_browser.py); here the
knock-out is set as the click's callback sets it.
"""

import numpy as np

from core.ui.labs.coadaptation import FEATURES_JOB, KNOCKED, NS, RUNNER
from tests.pages.conftest import charts, wait_until_done

PAGE = "pages/04_coadaptation.py"


def titles(at) -> list[str]:
    return [c["layout"]["title"]["text"] for c in charts(at)]


def test_the_page_trains_both_runs_and_hides_each_statistic_until_predicted(open_page):
    at = open_page(PAGE)
    assert not at.exception and not at.error
    runner = at.session_state[RUNNER]
    snap = runner.wait_for(lambda s: s["runs"][0]["epoch"] >= 2, timeout=20)
    assert snap["state"] == "playing" and len(snap["runs"]) == 2
    a, b = (run["config"] for run in snap["runs"])
    assert (a.model.p_hidden, b.model.p_hidden) == ((0.5,), (0.0,)) and a.data.seed == b.data.seed
    assert "coadaptation" in snap["runs"][0] and snap["coadaptation_layer"] == 0
    at.run()
    shown = titles(at)
    assert shown.count("Decision map") == 2 and sum(t.startswith("Network: click") for t in shown) == 2
    assert not any(t.startswith(("Knock-out damage", "Over training", "Activations")) for t in shown)
    predictions = [r for r in at.radio if r.label.startswith("**Predict first:**")]
    assert len(predictions) == 4 and all(r.value is None for r in predictions)
    worst = [m for m in at.metric if m.label == "Worst unit costs"]
    assert len(worst) == 2 and all(m.value == "?" for m in worst)  # the answer is not on the page yet
    markdown = " ".join(m.value for m in at.markdown)
    assert "Bigger dots cost more" not in markdown and "Knock-out damage holds" not in markdown
    assert "roughness fell from" not in markdown

    predictions[0].set_value(1).run()  # "without dropout loses more": the measured answer
    assert not at.exception
    assert any(s.value.startswith("Right.") and "0.18 nats" in s.value for s in at.success)
    assert any(c.value.startswith("In these two runs right now:") for c in at.caption)
    shown = titles(at)
    assert "Knock-out damage of every unit, worst first" in shown and shown.count("Over training") == 1
    assert not any(t.startswith("Activations") for t in shown)  # the others stay hidden
    assert all(m.value.endswith("nats") for m in at.metric if m.label == "Worst unit costs")

    next(r for r in at.radio if "less correlated" in r.label).set_value(0).run()
    assert any(w.value.startswith("Not quite.") for w in at.warning)
    next(b for b in at.button if b.key == f"{NS}skip.sparsity.button").click().run()
    assert "Activations on the validation set" in titles(at) and not at.exception
    assert "Knock-out damage holds" not in " ".join(m.value for m in at.markdown)  # one prediction to go
    next(b for b in at.button if b.key == f"{NS}skip.features.button").click().run()
    markdown = " ".join(m.value for m in at.markdown)
    assert "Knock-out damage holds" in markdown and "roughness fell from 0.715 to 0.59" in markdown


def test_the_projector_switch_shows_everything_at_once(open_page):
    at = open_page(PAGE)
    at.toggle(key=NS + "reveal_all").set_value(True).run()
    shown = titles(at)
    for title in ("Knock-out damage of every unit, worst first", "Activations on the validation set"):
        assert title in shown
    assert shown.count("Over training") == 3  # one per statistic
    assert sum(t.startswith(("With dropout (p=0.5): mean |r|", "Without dropout: mean |r|")) for t in shown) == 2


def test_switched_off_units_show_in_both_runs_and_come_back(open_page):
    at = open_page(PAGE, raw_state={NS + "speed": "max", NS + "epochs": 50})
    runner = at.session_state[RUNNER]
    runner.wait_for(lambda s: s["state"] == "finished", timeout=30)
    runner.send("knockout", layer=0, units=[2, 5])  # what a click's callback sends
    at.session_state[KNOCKED] = [2, 5]
    runner.wait_for(lambda s: "knockout" in s["runs"][1], timeout=5)
    at.run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "hidden layer 1, units 3, 6" in text
    assert titles(at).count("Decision map, units 3, 6 off") == 2
    labels = [m.label for m in at.metric]
    assert labels.count("Val accuracy, units off") == 2
    restore = next(b for b in at.button if b.key == NS + "restore.button")
    restore.click().run()
    assert at.session_state[KNOCKED] == [] and "knockout" not in runner.snapshot()["runs"][0]
    assert titles(at).count("Decision map") == 2


def test_measuring_the_second_layer_keeps_the_run(open_page):
    at = open_page(PAGE, raw_state={NS + "layers": 2})
    runner = at.session_state[RUNNER]
    runner.send("pause")
    first = runner.wait_for(lambda s: s["state"] == "paused", timeout=5)["runs"][0]["coadaptation"]
    at.radio(key=NS + "layer").set_value(2).run()
    assert not at.exception and at.session_state[RUNNER] is runner
    snap = runner.wait_for(lambda s: s["coadaptation_layer"] == 1, timeout=5)
    second = snap["runs"][0]["coadaptation"]
    assert len(second["loss_increase"]) == 16 and not np.allclose(second["loss_increase"], first["loss_increase"])
    at.slider(key=NS + "layers").set_value(1).run()  # a new architecture: a new run, layer 1 again
    assert not at.exception and at.session_state[RUNNER] is not runner
    assert at.session_state[NS + "layer"] == 1 and at.session_state[RUNNER].snapshot()["coadaptation_layer"] == 0


def test_the_link_sets_the_controls_and_bad_values_are_refused(open_page):
    at = open_page(PAGE, query={"width": "8", "p": "0.3", "dataset": "xor", "seed": "7"})
    assert not at.exception and not at.warning
    cfg = at.session_state[RUNNER].snapshot()["runs"][0]["config"]
    assert (cfg.model.num_hiddens, cfg.model.p_hidden, cfg.data.dataset, cfg.data.seed) == ((8,), (0.3,), "xor", 7)
    assert at.query_params["width"] == "8" and at.query_params["p"] == "0.3"

    at = open_page(PAGE, query={"width": "7", "p": "inf", "dataset": "mnist", "epochs": "2.5", "speed": "fast"})
    assert not at.exception and not at.error
    warnings = " ".join(w.value for w in at.warning)
    for name in ("`width`=", "`p`=", "`dataset`=", "`epochs`=", "`speed`="):
        assert name in warnings
    cfg = at.session_state[RUNNER].snapshot()["runs"][0]["config"]
    assert (cfg.model.num_hiddens, cfg.model.p_hidden, cfg.data.dataset) == ((16,), (0.5,), "moons")

    at = open_page(PAGE, query={"layer": "2"})  # a valid number, but the network has one hidden layer
    assert not at.exception
    assert any("measure hidden layer 2 of a network with 1; measuring layer 1" in w.value for w in at.warning)
    assert at.session_state[RUNNER].snapshot()["coadaptation_layer"] == 0


def test_digit_features_train_in_the_background_and_show_their_tiles(open_page):
    k = NS + "features."
    at = open_page(PAGE, raw_state={k + "epochs": 10, k + "n_train": 100, k + "width": 16})
    next(b for b in at.button if b.label.startswith("▶ Train the two digit networks")).click().run()
    job = at.session_state[FEATURES_JOB]
    wait_until_done(job)
    at.run()
    assert not at.exception and FEATURES_JOB not in at.session_state
    shown = titles(at)
    assert "With dropout (p=0.5, input p=0.2)" in shown and "Without dropout" in shown
    assert any("roughness of the tiles" in m.value for m in at.markdown)
    tiles = next(c for c in charts(at) if c["layout"]["title"]["text"] == "Without dropout")
    assert tiles["data"][0]["z"]["shape"] == f"{2 * 9 - 1}, {8 * 9 - 1}"  # 16 tiles: two rows of eight


def test_with_tanh_the_sparsity_reveal_says_it_measures_nothing(open_page):
    at = open_page(PAGE, query={"activation": "tanh"})
    at.toggle(key=NS + "reveal_all").set_value(True).run()
    assert not at.exception
    captions = [c.value for c in at.caption if c.value.startswith("In these two runs right now:")]
    assert len(captions) == 3
    assert "tanh units are (almost) never exactly zero" in captions[2]
    assert "0.000 with dropout, 0.000 without" in captions[2]


def test_a_click_toggles_the_units_it_picked():
    from core.ui.labs.coadaptation import toggled

    unit = lambda u: {"customdata": u, "curve_number": 3}  # noqa: E731
    assert toggled([], [unit(4)]) == [4]
    assert toggled([4], [unit(4)]) == []  # clicked again: back on
    assert toggled([4], [unit(2), unit(7)]) == [2, 4, 7]
    assert toggled([4], [{"customdata": None, "curve_number": 2}]) == [4]  # a grey dot: nothing


def test_a_run_pauses_while_its_page_is_not_shown(open_page):
    from core.ui.labs.playground import RUNNER as PLAYGROUND_RUNNER
    from core.ui.frame import PAUSED_ELSEWHERE

    at = open_page("pages/02_playground.py")
    playground_runner = at.session_state[PLAYGROUND_RUNNER]
    assert playground_runner.snapshot()["state"] == "playing"
    at.switch_page(PAGE).run()
    assert not at.exception
    assert playground_runner.wait_for(lambda s: s["state"] == "paused", timeout=5)["state"] == "paused"
    lesson_runner = at.session_state[RUNNER]
    assert lesson_runner.snapshot()["state"] == "playing"
    at.switch_page("pages/02_playground.py").run()
    assert lesson_runner.wait_for(lambda s: s["state"] == "paused", timeout=5)["state"] == "paused"
    assert at.session_state[PLAYGROUND_RUNNER] is playground_runner  # the same run, waiting for Play
    assert any(i.value == PAUSED_ELSEWHERE for i in at.info)
    at.button(key="playground.play.button").click().run()
    assert playground_runner.snapshot()["state"] == "playing"
    assert not any(i.value == PAUSED_ELSEWHERE for i in at.info)
