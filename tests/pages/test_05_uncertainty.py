"""Lesson 5's page, headless: the regression trains and follows p and T, points can be added, the
classification maps and probe come from T passes, Fig. 11 and the reliability diagram appear once
the run stops, and the digit network trains in the background and moves a digit."""

from core.labs.uncertainty.far import WIDE_EXTENT
from core.ui.labs.uncertainty import CLS, CLS_RUNNER, DIGIT_JOB, NS, REG, REG_RUNNER
from tests.pages.conftest import charts, wait_until_done

PAGE = "pages/05_uncertainty.py"


def titles(at) -> list[str]:
    return [c["layout"].get("title", {}).get("text", "") for c in charts(at)]


def test_regression_follows_p_and_t_and_takes_new_points(open_page):
    at = open_page(PAGE)
    assert not at.exception and not at.error
    runner = at.session_state[REG_RUNNER]
    snap = runner.wait_for(lambda s: s["step"] >= 50, timeout=60)
    assert snap["state"] == "playing" and snap["n_passes"] == 50 and len(snap["bands"]["passes"]) == 50
    at.slider(key=REG + "T").set_value(120).run()
    at.slider(key=REG + "p").set_value(0.4).run()
    snap = runner.wait_for(lambda s: s["n_passes"] == 120 and float(s["config"]["p"]) == 0.4, timeout=30)
    assert len(snap["bands"]["passes"]) == 120 and at.session_state[REG_RUNNER] is runner  # the same run
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Far from the data (|x| ≥ 5)"]) > float(metrics["Band (std) inside the data"])
    for label in ("Held-out observations inside ±2 std, with τ⁻¹", "Inside ±1 std, with τ⁻¹"):  # new noisy points
        assert metrics[label].endswith("%"), metrics
    assert any("τ = 1² · 0.6 / (2 · 40 · 0.00025)" in m.value for m in at.markdown)
    at.button(key=REG + "add3.button").click().run()
    snap = runner.wait_for(lambda s: s["data"]["added"] == 3, timeout=30)
    assert snap["data"]["n"] == 43 and not at.exception
    at.button(key=REG + "add3.button").click().run()  # a second click adds again: each click counts once
    assert runner.wait_for(lambda s: s["data"]["added"] == 6, timeout=30)["data"]["n"] == 46
    at.radio(key=REG + "activation").set_value("tanh").run()  # a new run
    assert at.session_state[REG_RUNNER] is not runner and not at.exception
    assert at.session_state[REG_RUNNER].snapshot()["config"]["activation"] == "tanh"
    assert at.session_state[REG + "reset_reason"] == "New run: activation relu → tanh."


def test_regression_buttons_step_ten_and_reset_to_a_paused_start(open_page):
    at = open_page(PAGE)
    runner = at.session_state[REG_RUNNER]
    runner.wait_for(lambda s: s["step"] >= 5, timeout=60)
    at.button(key=REG + "play.button").click().run()  # Pause
    step = runner.wait_for(lambda s: s["state"] == "paused", timeout=30)["step"]
    at.button(key=REG + "step.button").click().run()  # exactly ten steps
    assert runner.wait_for(lambda s: s["step"] >= step + 10, timeout=30)["step"] == step + 10
    at.button(key=REG + "reset.button").click().run()
    fresh = at.session_state[REG_RUNNER]
    assert fresh is not runner and not runner.alive and not at.exception
    snap = fresh.snapshot()
    assert snap["state"] == "ready" and snap["step"] == 0
    assert at.button(key=REG + "play.button").label == "▶ Play"


def test_classification_maps_probe_and_calibration(open_page):
    at = open_page(PAGE, raw_state={CLS + "T": 20})
    shown = titles(at)
    for title in ("Mean P(blue) over the passes", "Predictive entropy (total)", "Mutual information (epistemic)",
                  "The 20 passes' P(blue) at the probe"):
        assert title in shown, title
    assert any(i.value.startswith("These are computed on the validation set when the run is paused")
               for i in at.info)
    runner = at.session_state[CLS_RUNNER]
    runner.send("pause")
    runner.wait_for(lambda s: s["state"] == "paused", timeout=5)
    at.run()
    assert not at.exception
    shown = titles(at)
    assert "MC averaging against weight scaling, as T grows" in shown
    assert "Reliability diagram (validation set)" in shown
    text = " ".join(m.value for m in at.markdown)
    assert "weight scaling gives accuracy" in text and "ECE:" in text
    assert "equal-width bins hold points" in text and "Confidently wrong:" in text
    # the MC maps are zoomed out to +-WIDE_EXTENT, and say where the mean is sure far from the data
    entropy_map = next(c for c in charts(at) if c["layout"]["title"]["text"] == "Predictive entropy (total)")
    assert entropy_map["layout"]["xaxis"]["range"] == [-WIDE_EXTENT, WIDE_EXTENT]
    assert any(c.value.startswith("The maps reach ±3.5") and "Dotted outline" in c.value for c in at.caption)
    # the probe can go far from every training point, beyond the Playground's +-1.75
    at.slider(key=CLS + "probe_x").set_value(3.2).run()
    at.slider(key=CLS + "probe_y").set_value(-3.0).run()
    runner.wait_for(lambda s: tuple(s["probe"]) == (3.2, -3.0) and
                    tuple((s["runs"][0].get("mc") or {}).get("probe", {}).get("x", ())) == (3.2, -3.0), timeout=60)
    at.run()
    assert not at.exception
    assert any("At the probe (3.20, -3.00)" in m.value for m in at.markdown)


def test_a_digit_leaves_the_data(open_page):
    at = open_page(PAGE)
    next(b for b in at.button if b.label.startswith("▶ Train the digit network")).click().run()
    job = at.session_state[DIGIT_JOB]
    wait_until_done(job)
    at.run()
    assert not at.exception and "Uncertainty as the digit leaves the data" in titles(at)
    path = next(c for c in charts(at) if c["layout"]["title"]["text"] == "Uncertainty as the digit leaves the data")
    assert path["data"][0]["x"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    at.selectbox(key=NS + "digits.path").set_value("rotate").run()
    path = next(c for c in charts(at) if c["layout"]["title"]["text"] == "Uncertainty as the digit leaves the data")
    assert path["data"][0]["x"][-1] == 90.0 and not at.exception
