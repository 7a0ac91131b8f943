"""Lesson 7's page, headless: run A (a dropout variant per layer) trains next to run B (standard dropout) and
their masks are drawn the way each variant draws them; a variant switch starts both again; AlphaDropout
without SELU is warned about; an experiment runs in the background and gives its verdicts; links are read."""
from __future__ import annotations

from core.ui.labs.variants import JOB, NS, RUNNER
from tests.pages.conftest import charts, wait_until_done

PAGE = "pages/07_variants.py"
WAIT = 60.0  # generous: the condition returns as soon as it holds


def titles(at) -> list[str]:
    return [c["layout"]["title"]["text"] for c in charts(at)]


def test_a_and_b_train_and_each_mask_is_drawn_its_own_way(open_page):
    at = open_page(PAGE)
    assert not at.exception and not at.error
    runner = at.session_state[RUNNER]
    snap = runner.wait_for(lambda s: s["runs"][0]["epoch"] >= 2, WAIT)
    assert snap["state"] == "playing" and len(snap["runs"]) == 2
    assert snap["runs"][0]["config"].model.layer_variants() == ("gaussian", "dropconnect")
    assert snap["runs"][1]["config"].model.layer_variants() == ("standard", "standard")
    at.run()
    assert not at.exception
    shown = titles(at)
    assert "Decision map, A: gaussian/dropconnect, p=0.5" in shown and "Decision map, B: standard, p=0.5" in shown
    assert "A, hidden layer 1: multipliers (1 = unchanged)" in shown
    assert "A, hidden layer 2: weight mask (each example its own)" in shown
    assert "B, hidden layer 2: units kept (blue) and dropped (grey)" in shown
    weights = next(c for c in charts(at) if c["layout"]["title"]["text"].startswith("A, hidden layer 2"))
    assert len(weights["data"][0]["z"]) == 64 and len(weights["data"][0]["z"][0]) == 64  # out x in
    captions = " ".join(c.value for c in at.caption)
    assert "weights kept at this step" in captions and "multipliers at this step" in captions


def test_switching_a_variant_starts_both_runs_again_from_the_same_weights(open_page):
    at = open_page(PAGE)
    first = at.session_state[RUNNER]
    at.selectbox(key=NS + "variant_1").set_value("standard").run()
    assert not at.exception
    runner = at.session_state[RUNNER]
    assert runner is not first
    wait_until_done(first, WAIT, "the old run did not stop")
    assert runner.snapshot()["runs"][0]["config"].model.layer_variants() == ("gaussian", "standard")
    assert any("New run: dropout variant" in i.value for i in at.info)
    at.slider(key=NS + "p").set_value(0.3).run()  # p is live: no new run
    assert at.session_state[RUNNER] is runner
    snap = runner.wait_for(lambda s: all(r["config"].model.p_hidden == (0.3, 0.3) for r in s["runs"]), WAIT)
    assert all(r["config"].model.p_hidden == (0.3, 0.3) for r in snap["runs"])


def test_alpha_dropout_without_selu_is_warned_about(open_page):
    at = open_page(PAGE, raw_state={NS + "variant_0": "alpha"})
    assert any("AlphaDropout is built for SELU" in w.value for w in at.warning)
    at.selectbox(key=NS + "activation").set_value("selu").run()
    assert not at.exception and not any("AlphaDropout is built for SELU" in w.value for w in at.warning)


def test_the_link_picks_an_experiment_and_a_bad_one_is_refused(open_page):
    at = open_page(PAGE, query={"experiment": "droppath"})
    assert not at.exception and at.selectbox(key=NS + "experiment").value == "droppath"
    at = open_page(PAGE, query={"experiment": "<b>nope</b>"})
    assert not at.exception
    assert any("experiment" in w.value for w in at.warning)
    assert at.selectbox(key=NS + "experiment").value == "dropconnect"


def test_an_experiment_runs_in_the_background_and_gives_its_verdicts(open_page):
    k = NS + "gaussian."
    at = open_page(PAGE, raw_state={NS + "experiment": "gaussian", k + "seeds": 2, k + "epochs": 10, k + "width": 16,
                                    NS + "speed": "5"})
    assert not at.exception
    next(b for b in at.button if b.label == "▶ Run the experiment").click().run()
    assert not at.exception
    wait_until_done(at.session_state[JOB])
    at.run()
    assert not at.exception
    verdicts = [m.value for m in at.markdown if "gaussian agrees with bernoulli" in m.value or "gaussian beats none" in m.value]
    assert len(verdicts) == 2
    assert any(t.startswith("val loss by epoch") for t in titles(at)), titles(at)
    assert any("Signature: theory var 1" in c.value for c in at.caption)


def test_bad_settings_of_an_experiment_are_said_not_raised(open_page):
    at = open_page(PAGE, raw_state={NS + "experiment": "gaussian", NS + "gaussian.p": 0.99})
    assert not at.exception
    assert any("These settings do not make a valid run" in e.value for e in at.error)
