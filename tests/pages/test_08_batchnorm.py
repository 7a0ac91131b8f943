"""Lesson 8's page, headless: the shift is measured in a worker and drawn per layer next to its formula; moving p
measures again and the ratio follows; each background experiment runs and gives its verdicts; bad settings are
said, not raised; the check-yourself questions are the lesson's."""
from __future__ import annotations

from core.ui.labs.batchnorm import NS, PANELS
from tests.pages.conftest import chart_titled, wait_until_done

PAGE = "pages/08_batchnorm.py"


def bars(at) -> dict[str, list[float]]:
    fig = chart_titled(at, "Variance ratio per BatchNorm layer")
    return {trace["name"]: trace["y"] for trace in fig["data"]}


def test_the_shift_is_drawn_per_layer_next_to_its_formula_and_follows_p(open_page):
    at = open_page(PAGE)
    assert not at.exception and not at.error
    shown = bars(at)
    measured, formula = shown["measured"], shown["formula"]
    assert len(measured) == 3 and measured[0] == 1.0  # BN 1 reads the pixels: no shift
    for m, f in zip(measured[1:], formula[1:]):
        assert m > 1.1 and abs(m - f) < 0.02 * f  # within the masks' sampling noise at 1797 x 4 draws
    assert any("BN 2: train / eval variance" in m.label for m in at.metric)
    assert chart_titled(at, "BN 2, unit by unit")
    at.slider(key=NS + "shift.p").set_value(0.2).run()
    assert not at.exception
    lower = bars(at)["measured"]
    assert 1.0 < lower[1] < measured[1]  # less noise, less shift
    at.slider(key=NS + "shift.p").set_value(0.0).run()
    assert all(abs(m - 1.0) < 1e-9 for m in bars(at)["measured"])
    assert any("nothing shifts" in c.value for c in at.caption)


def test_the_fixes_run_in_the_background_and_give_their_verdicts(open_page):
    at = open_page(PAGE, raw_state={NS + "bn-fixes.seeds": 2})
    panel = PANELS["bn-fixes"]
    at.button(key=panel.prefix + "run.button").click().run()
    assert not at.exception
    wait_until_done(at.session_state[panel.job_key], 300)
    at.run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "Recomputed statistics give a lower calibration error" in text
    assert "Gaussian noise of dropout's variance" in text
    assert chart_titled(at, "Last BatchNorm: stored / test-time variance")


def test_mc_with_batchnorm_runs_and_shows_train_mode_failing_on_one_class_batches(open_page):
    at = open_page(PAGE, raw_state={NS + "bn-mc.seeds": 2})
    panel = PANELS["bn-mc"]
    at.button(key=panel.prefix + "run.button").click().run()
    wait_until_done(at.session_state[panel.job_key], 300)
    at.run()
    assert not at.exception
    fig = chart_titled(at, "MC accuracy")
    by_name = {t["name"]: t["y"] for t in fig["data"]}
    assert by_name["one class batches"][1] < by_name["mixed batches"][1] - 0.3  # model.train() collapses
    assert abs(by_name["one class batches"][0] - by_name["mixed batches"][0]) < 0.03  # mc_mode does not
    assert any("BatchNorm refuses it" in c.value for c in at.caption)


def test_bad_settings_are_said_not_raised_and_the_questions_are_the_lesson_s(open_page):
    at = open_page(PAGE, raw_state={NS + "shift.width": 7, NS + "bn-fixes.p": 0.99, NS + "bn-mc.seeds": "many",
                                    NS + "shift.noise": "<b>x</b>"})
    assert not at.exception
    assert sum("no control can send" in w.value for w in at.warning) == 4
    assert at.session_state[NS + "shift.width"] == 64 and at.session_state[NS + "bn-fixes.p"] == 0.5
    at.run()
    assert not at.exception
    assert "Check yourself" in [h.value for h in at.subheader]
    text = " ".join(m.value for m in at.markdown)
    assert "model.train()" in text
