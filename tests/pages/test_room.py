"""A teacher's room on the Playground, teacher and students as two sessions of the app (one process here;
tests/e2e/test_room_browser.py puts them on two app processes)."""
import socket

from core.labs.playground.polls import QUESTIONS
from core.ui import room
from core.ui.labs.playground import NS, RUNNER
from tests.pages.conftest import PLAYGROUND


def _texts(at) -> str:
    return " ".join(e.value for kind in ("markdown", "caption", "info", "success", "warning") for e in at.get(kind)
                    if isinstance(getattr(e, "value", None), str))


def _teacher(open_page):
    teacher = open_page(PLAYGROUND, preset="tiny")
    teacher.button(key="room.open.button").click().run()
    code, token = teacher.session_state[room.CODE], teacher.session_state[room.TOKEN]
    assert teacher.query_params["room"] == code and teacher.query_params["teacher"] == token
    assert any(e.label == "Lock for students" for e in teacher.multiselect)
    return teacher, code


def test_a_teacher_locks_hides_pushes_asks_and_reveals_and_a_student_follows(open_page):
    teacher, code = _teacher(open_page)
    teacher.multiselect(key="room.locked").set_value(["Data"]).run()
    teacher.multiselect(key="room.hidden").set_value(["Comparison run B"]).run()
    teacher.selectbox(key="room.preset").set_value("spirals").run()
    teacher.button(key="room.push.button").click().run()
    teacher.selectbox(key="room.question").set_value("lower_val_loss").run()
    teacher.button(key="room.ask.button").click().run()

    student = open_page(PLAYGROUND, query={"room": code})
    assert not student.exception
    assert student.session_state[room.CODE] == code and "teacher" not in student.query_params
    assert student.session_state[NS + "preset"] == "spirals"  # the push reached the student
    assert student.session_state[NS + "dataset"] == "spirals"
    assert not any(e.label == "Lock for students" for e in student.multiselect)  # no teacher's controls
    assert "set by your teacher" in " ".join(e.label for e in student.expander)
    student.slider(key=NS + "noise").set_value(0.9).run()  # a locked control moved anyway goes back
    assert student.session_state[NS + "noise"] == 0.2
    assert QUESTIONS["lower_val_loss"].text in _texts(student)
    student.radio(key="room.choice_1").set_value("B").run()
    student.button(key="room.send.button").click().run()
    assert "You answered **B**" in _texts(student)

    teacher.run()  # (its runner again: the student's page took the one lease a test process has)
    if teacher.session_state[RUNNER].snapshot()["state"] == "ready":
        teacher.button(key=NS + "play.button").click().run()
    runner = teacher.session_state[RUNNER]
    runner.wait_for(lambda s: s["state"] == "finished", 120)  # the tiny run: 20 epochs
    assert runner.snapshot()["state"] == "finished", "the teacher's run did not finish within 120 s"
    teacher.run()
    assert room.rooms().tally(code, 1) == {"A": 0, "B": 1, "About the same": 0}
    teacher.button(key="room.reveal.button").click().run()
    poll = room.rooms().get(code).poll
    history = runner.snapshot()["runs"]
    a, b = history[0]["history"]["val_loss"][-1], history[1]["history"]["val_loss"][-1]
    assert poll.revealed and poll.explanation.endswith("Read at the end of the run.")
    assert f"{a:.3f}" in poll.explanation and f"{b:.3f}" in poll.explanation
    assert poll.result == ("About the same" if abs(a - b) <= 0.02 * max(a, b) else "A" if a < b else "B")
    student.run()
    assert f"Your teacher's run showed **{poll.result}**" in _texts(student)


def test_a_bad_code_says_so_and_the_lab_works_on(open_page):
    at = open_page(PLAYGROUND, preset="tiny", query={"room": "<b>nope</b>"})
    assert not at.exception
    assert any("A room code is 5 letters" in w.value for w in at.warning)
    assert room.CODE not in at.session_state and "room" not in at.query_params
    assert at.get("plotly_chart")  # the lab is there


def test_a_closed_room_and_a_wrong_token_are_sentences(open_page):
    teacher, code = _teacher(open_page)
    impostor = open_page(PLAYGROUND, preset="tiny", query={"room": code, "teacher": "guessed"})
    assert any("does not control this room" in w.value for w in impostor.warning)
    assert not any(e.label == "Lock for students" for e in impostor.multiselect)
    teacher.button(key="room.close.button").click().run()
    late = open_page(PLAYGROUND, preset="tiny", query={"room": code})
    assert any(f"There is no room {code}" in w.value for w in late.warning)


def test_a_store_that_is_down_is_a_sentence_and_the_lab_works_on(open_page, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DROPOUT_LAB_ROOMS", f"redis://127.0.0.1:{port}/0")
    monkeypatch.setattr(room, "_rooms", None)
    at = open_page(PLAYGROUND, preset="tiny")
    at.button(key="room.open.button").click().run()
    assert not at.exception
    assert any("The room store is not reachable" in w.value and "without the room" in w.value for w in at.warning)
    assert room.CODE not in at.session_state and at.get("plotly_chart")
    joined = open_page(PLAYGROUND, preset="tiny", query={"room": "K7MQ2"})
    assert any("not reachable" in w.value for w in joined.warning) and joined.get("plotly_chart")
    monkeypatch.setattr(room, "_rooms", None)  # the next test opens the tests' own store again


def test_a_student_who_joins_starts_from_the_teacher_s_preset(open_page):
    teacher, code = _teacher(open_page)  # on the tiny preset
    assert room.rooms().get(code).preset == "tiny"
    student = open_page(PLAYGROUND, query={"room": code})
    assert student.session_state[NS + "preset"] == "tiny" and not student.exception
