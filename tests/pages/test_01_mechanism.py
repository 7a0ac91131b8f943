from tests.pages.conftest import chart_titled, charts

MECHANISM = "pages/01_mechanism.py"
NS = "mechanism."


def _metric(at, label_start: str, index: int = 0) -> str:
    return [m.value for m in at.metric if m.label.startswith(label_start)][index]


def test_lesson_page_draws_every_figure(open_page):
    at = open_page(MECHANISM)
    assert not at.exception
    titles = [c["layout"]["title"]["text"] for c in charts(at)]
    assert any(t.startswith("One mask, p = 0.5") for t in titles)
    assert any(t.startswith("A batch") for t in titles)
    assert any(t.startswith("Average over k masks") for t in titles)
    assert any(t.startswith("The same five inputs") for t in titles)
    assert _metric(at, "eval_mode") == "spread 0.000"
    assert _metric(at, "train_mode") != "spread 0.000" and _metric(at, "mc_mode") != "spread 0.000"


def test_p_slider_and_resample_change_the_mask(open_page):
    at = open_page(MECHANISM)
    first = next(c for c in charts(at) if c["layout"]["title"]["text"].startswith("One mask"))
    at.slider(key=NS + "p").set_value(0.9).run()
    assert not at.exception
    bars = next(c for c in charts(at) if c["layout"]["title"]["text"].startswith("One mask"))
    assert bars["layout"]["title"]["text"].startswith("One mask, p = 0.9")
    assert "×10.00" in bars["data"][1]["text"]
    at.button(key=NS + "resample.button").click().run()
    again = next(c for c in charts(at) if c["layout"]["title"]["text"].startswith("One mask"))
    assert again["data"][1]["y"] != bars["data"][1]["y"], "a new mask at the same p"
    assert first["data"][0]["y"] == again["data"][0]["y"], "the layer's input h does not change"


def test_bug_switches_move_the_numbers_the_right_way(open_page):
    at = open_page(MECHANISM)
    accuracy_ok = float(_metric(at, "Accuracy", 0).rstrip("%"))
    loss_ok = float(_metric(at, "Log loss", 1))
    at.toggle(key=NS + "bug_a").set_value(True).run()
    at.toggle(key=NS + "bug_b").set_value(True).run()
    assert not at.exception
    assert float(_metric(at, "Accuracy", 0).rstrip("%")) < accuracy_ok
    assert float(_metric(at, "Log loss", 1)) > loss_ok
    assert float(_metric(at, "Mean confidence", 1).rstrip("%")) > 99.0
    assert any("different predicted class" in c.value for c in at.caption)


def test_converter_flags_the_classic_confusion(open_page):
    at = open_page(MECHANISM)
    at.selectbox(key=NS + "convention").set_value("2014 paper p (retain probability)").run()
    assert _metric(at, "nn.Dropout") == "0.2"
    assert any("nn.Dropout(p=0.8) would DROP 80%" in w.value and "pass p = 0.2" in w.value for w in at.warning)
    at.number_input(key=NS + "convention_value").set_value(0.5).run()
    assert _metric(at, "nn.Dropout") == "0.5" and not at.warning, "at 0.5 both readings agree"
    at.selectbox(key=NS + "convention").set_value("PyTorch / Keras p (drop probability)").run()
    at.number_input(key=NS + "convention_value").set_value(0.3).run()
    assert _metric(at, "paper's p") == "0.7" and not at.warning


def test_quiz_checks_an_answer_and_explains_it(open_page):
    at = open_page(MECHANISM)
    at.number_input(key=NS + "quiz.survivor").set_value(6.25).run()
    at.button(key=NS + "quiz.survivor.check.button").click().run()
    assert any(s.value.startswith("Right.") and "6.25" in s.value for s in at.success)
    at.number_input(key=NS + "quiz.paper-p").set_value(0.8).run()
    at.button(key=NS + "quiz.paper-p.check.button").click().run()
    assert any("the answer is 0.2" in e.value for e in at.error)
    assert any("Score: 1 of 5" in c.value for c in at.caption)


def test_lesson_controls_survive_a_visit_to_another_page(open_page):
    at = open_page(MECHANISM)
    at.slider(key=NS + "p").set_value(0.8).run()
    at.number_input(key=NS + "quiz.survivor").set_value(6.25).run()
    at.switch_page("pages/00_home.py").run()
    at.switch_page(MECHANISM).run()
    assert not at.exception and not at.warning
    assert at.slider(key=NS + "p").value == 0.8
    assert at.number_input(key=NS + "quiz.survivor").value == 6.25


def test_the_mode_switch_chooses_which_modes_run(open_page):
    at = open_page(MECHANISM)
    at.session_state[NS + "modes"] = ["eval"]
    at.run()
    assert not at.exception
    assert [m.label for m in at.metric if "mode" in m.label] == ["eval_mode (dropout off)"]
    assert _metric(at, "eval_mode") == "spread 0.000"
    at.session_state[NS + "modes"] = ["mc"]
    at.run()
    assert [m.label for m in at.metric if "mode" in m.label] == ["mc_mode (only dropout on)"]
    assert float(_metric(at, "mc_mode").split()[-1]) > 0.05
    at.session_state[NS + "modes"] = []
    at.run()
    assert any("at least one mode" in i.value for i in at.info)


def test_the_small_networks_are_asked_of_a_worker_once_per_question(open_page, monkeypatch):
    """The page trains nothing itself: it asks the job machinery (a worker process on a server; a thread
    in these tests) and keeps each answer for every session."""
    from core.ui.labs import mechanism

    asked = []

    def counting(job, key, request, **kwargs):
        asked.append((job, getattr(request, "passes", "ensemble")))
        return real(job, key, request, **kwargs)

    real = mechanism.run_now
    monkeypatch.setattr(mechanism, "run_now", counting)
    mechanism.ANSWERS.clear()
    at = open_page(MECHANISM)
    assert not at.exception and not at.error and asked == [("mechanism", 50), ("mechanism", "ensemble")]
    assert _metric(at, "eval_mode") == "spread 0.000" and _metric(at, "mc_mode") != "spread 0.000"
    at.slider(key=NS + "passes").set_value(30).run()
    open_page(MECHANISM)  # another student, the defaults: answered from what the first one asked
    assert asked == [("mechanism", 50), ("mechanism", "ensemble"), ("mechanism", 30)]


def test_a_number_of_passes_no_slider_could_send_breaks_nothing(open_page):
    at = open_page(MECHANISM)
    at.slider(key=NS + "passes").set_value(5000).run()  # Streamlit puts the slider back in its range
    assert not at.exception and not at.error
    assert 10 <= at.session_state[NS + "passes"] <= 200 and _metric(at, "mc_mode") != "spread 0.000"


def test_the_ensemble_view_draws_its_figure_and_quotes_its_numbers(open_page):
    at = open_page(MECHANISM)
    assert not at.exception and not at.error
    assert any(h.value == "The ensemble view" for h in at.header)
    chart = chart_titled(at, "K of the 2^64 thinned networks")
    assert chart["layout"]["xaxis"]["type"] == "log"
    assert [t["x"] for t in chart["data"] if t["x"][0] is not None][0] == [1, 2, 4, 8, 16, 32, 64, 128, 256]
    caption = next(c.value for c in at.caption if "thinned networks share these weights" in c.value)
    assert caption.startswith("64 droppable units, so 2^64") and "With K = 256" in caption
    assert at.select_slider(key=NS + "ensemble.k_max").help, "every control explains itself"
    at.select_slider(key=NS + "ensemble.k_max").set_value(16).run()
    assert not at.exception and not at.error
    chart = chart_titled(at, "K of the 2^64 thinned networks")
    assert chart["data"][0]["x"] == [1, 2, 4, 8, 16]
    assert any("With K = 16" in c.value for c in at.caption)


def test_the_ensemble_view_says_what_went_wrong_instead_of_a_traceback(open_page, monkeypatch):
    from core.labs.mechanism import compute
    from core.ui.labs import mechanism

    def broken(request):
        raise RuntimeError("no thinned networks today")

    monkeypatch.setattr(compute, "ensemble_view", broken)
    mechanism.ANSWERS.clear()
    at = open_page(MECHANISM, raw_state={NS + "ensemble.seed": 7})
    assert not at.exception
    assert any("no thinned networks today" in e.value for e in at.error)
    assert not any(c["layout"]["title"]["text"].startswith("K of the") for c in charts(at))
    assert any(t.startswith("The same five inputs") for t in (c["layout"]["title"]["text"] for c in charts(at)))
