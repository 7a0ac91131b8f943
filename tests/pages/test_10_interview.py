"""The interview page as a learner uses it: drill a topic with hints and follow-ups, sit a mock interview and
read the score, keep progress in a file (and have a bad file refused), and the judge on the page."""
import json

from core.labs.interview.practice import Progress

INTERVIEW = "pages/10_interview.py"
NS = "interview."


def _open(open_page, **state):
    at = open_page(INTERVIEW, raw_state={NS + k: v for k, v in state.items()})
    assert not at.exception
    return at


def _texts(at, kind):
    return " ".join(e.value for e in getattr(at, kind))


def test_the_page_opens_on_the_drill_with_its_lesson_text(open_page):
    at = _open(open_page)
    assert [t.label for t in at.tabs] == ["Drill", "Mock interview", "Implement it", "Progress"]
    assert at.selectbox(key=NS + "drill.topic").value == "all"
    assert "Question 1 of" in _texts(at, "caption")
    assert any("What to try" in s.value for s in at.subheader)


def test_a_drill_checks_an_answer_explains_it_and_counts_it(open_page):
    at = _open(open_page)
    at.selectbox(key=NS + "drill.topic").set_value("keep-vs-drop").run()
    at.multiselect(key=NS + "drill.types").set_value(["numeric"]).run()
    key = next(n.key for n in at.number_input if n.key.startswith(NS + "quiz."))
    qid = key.split(".")[2]
    from core.analysis.answers import ANSWERS  # noqa: PLC0415
    from core.drills import load_bank  # noqa: PLC0415

    seed = at.session_state[NS + "progress"].seed
    q = load_bank(ANSWERS).question(qid, seed=seed)
    at.number_input(key=key).set_value(float(q.answer)).run()
    at.button(key=key + ".check.button").click().run()
    assert not at.exception and _texts(at, "success").startswith("Right.")
    assert at.session_state[NS + "progress"].totals() == (1, 1)
    at.button(key=key + ".check.button").click().run()  # a rerun shows the verdict again, not a second answer
    assert at.session_state[NS + "progress"].totals() == (1, 1)


def test_a_wrong_choice_names_its_misconception_and_the_lab(open_page):
    at = _open(open_page)
    at.selectbox(key=NS + "drill.topic").set_value("train-vs-inference").run()
    at.multiselect(key=NS + "drill.types").set_value(["choice"]).run()
    radio = next(r for r in at.radio if r.key.startswith(NS + "quiz."))
    from core.analysis.answers import ANSWERS  # noqa: PLC0415
    from core.drills import load_bank  # noqa: PLC0415

    q = load_bank(ANSWERS).question(radio.key.split(".")[2])
    wrong = (q.answer + 1) % len(q.options)
    radio.set_value(wrong).run()
    at.button(key=radio.key + ".check.button").click().run()
    assert "Not quite" in _texts(at, "error") and "What this answer suggests" in _texts(at, "caption")
    assert "open the lab" in " ".join(m.value for m in at.markdown)
    assert at.session_state[NS + "progress"].misconceptions() == {q.misconceptions[wrong]: 1}


def test_no_question_matches_says_so_and_the_next_button_moves_on(open_page):
    at = _open(open_page)
    at.multiselect(key=NS + "drill.levels").set_value([]).run()
    assert "No question matches" in _texts(at, "info")
    at.multiselect(key=NS + "drill.levels").set_value(["easy", "medium", "hard"]).run()
    at.button(key=NS + "drill.next.button").click().run()
    assert "Question 2 of" in _texts(at, "caption")


def test_the_follow_up_chain_goes_from_implementing_dropout_to_the_rnn(open_page):
    at = _open(open_page, **{"drill.goto": "scratch-implement-dropout"})
    assert "Follow-up chain" in _texts(at, "caption")
    assert at.text_area(key=NS + "drill.code.dropout").value.startswith(("import", "class", "#", '"""'))
    at.button(key=NS + "follow.scratch-implement-dropout.button").click().run()
    assert not at.exception
    assert any(r.key.startswith(NS + "quiz.rnn-same-mask") for r in at.radio)


def test_a_mock_interview_keeps_time_and_scores_with_a_breakdown(open_page):
    at = _open(open_page)
    at.slider(key=NS + "mock.n").set_value(3).run()
    at.button(key=NS + "mock.start.button").click().run()
    state = at.session_state[NS + "mock"]
    assert len(state["ids"]) == 3 and state["limit"] == 3 * 90
    assert any("left of" in p.proto.text for p in at.get("progress"))
    at.button(key=NS + "mock.finish.button").click().run()
    assert not at.exception
    score = next(m for m in at.metric if m.label == "Score")
    assert score.value == "0 of 3"  # nothing answered: nothing right, and every answer is reviewed
    assert len([e for e in at.error if e.value.startswith("Not quite")]) + len(at.warning) >= 1
    at.button(key=NS + "mock.again.button").click().run()
    assert NS + "mock" not in at.session_state


def test_progress_uploads_back_and_a_bad_file_is_refused_with_a_sentence(open_page):
    at = _open(open_page)
    mine = Progress(seed=4242)
    mine.record("paper-p", False, "keep-drop-swap")
    at.file_uploader(key=NS + "progress.upload").upload("mine.json", mine.to_json().encode(), "application/json").run()
    assert not at.exception and "Loaded mine.json: 1 questions answered before" in _texts(at, "success")
    assert at.session_state[NS + "progress"].seed == 4242
    for name, raw, says in (("photo.json", b"\x89PNG\x00\x00", "not a text file"),
                            ("other.json", json.dumps({"app": "other", "version": 1}).encode(), "not a Dropout Lab"),
                            ("broken.json", b"{", "not JSON")):
        at.file_uploader(key=NS + "progress.upload").set_value((name, raw, "application/json")).run()
        assert not at.exception
        assert f"{name} was not loaded" in _texts(at, "error") and says in _texts(at, "error")
    assert at.session_state[NS + "progress"].seed == 4242, "a refused file changes nothing"


def test_with_code_exercises_off_the_page_says_so_and_runs_nothing(open_page, monkeypatch):
    from core.live import pool  # noqa: PLC0415
    from core.live.settings import ServerSettings  # noqa: PLC0415

    monkeypatch.setattr(pool, "_settings", ServerSettings(trainers="threads", code_exercises=False))
    at = _open(open_page)
    assert "Code exercises are off on this server" in _texts(at, "info")
    assert not [b for b in at.button if b.key == NS + "code.dropout.submit.button"]


def test_the_judge_on_the_page_accepts_a_correct_layer_and_names_a_wrong_ones_bug(open_page):
    from core.analysis.answers import ANSWERS  # noqa: PLC0415
    from core.drills import load_bank  # noqa: PLC0415

    q = load_bank(ANSWERS).question("scratch-implement-dropout")
    at = _open(open_page)
    at.text_area(key=NS + "code.dropout").set_value(q.answer).run()
    at.button(key=NS + "code.dropout.submit.button").click().run(timeout=120)
    assert not at.exception and "Accepted" in _texts(at, "success")
    unscaled = q.answer.replace("x * mask / keep", "x * mask")
    assert unscaled != q.answer, "the reference divides the masked x by keep = 1 - p"
    at.text_area(key=NS + "code.dropout").set_value(unscaled).run()
    at.button(key=NS + "code.dropout.submit.button").click().run(timeout=120)
    assert "Rejected" in _texts(at, "error")
    assert "inverted dropout divides the survivors" in _texts(at, "caption")  # the no-scaling misconception


def test_the_mc_predict_drill_accepts_the_reference_and_names_model_train(open_page):
    from core.analysis.answers import ANSWERS  # noqa: PLC0415
    from core.drills import load_bank  # noqa: PLC0415

    q = load_bank(ANSWERS).question("mc-implement-predict")
    at = _open(open_page)
    at.radio(key=NS + "code.task").set_value("mc_predict").run()
    assert at.text_area(key=NS + "code.mc_predict").value == q.starter
    at.text_area(key=NS + "code.mc_predict").set_value(q.answer).run()
    at.button(key=NS + "code.mc_predict.submit.button").click().run(timeout=120)
    assert not at.exception and "Accepted" in _texts(at, "success")
    assert not [b for b in at.button if b.key.startswith(NS + "code.mc_predict.network")], "only a layer trains"
    wrong = q.answer.replace("model.eval()  #", "model.train()  #")
    assert wrong != q.answer
    at.text_area(key=NS + "code.mc_predict").set_value(wrong).run()
    at.button(key=NS + "code.mc_predict.submit.button").click().run(timeout=120)
    assert "Rejected" in _texts(at, "error") and "model.train()" in _texts(at, "caption")
