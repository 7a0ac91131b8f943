import pytest

from core.drills import QuizError, load_quiz
from core.labs.mechanism import compute as mechanism
from core.lessons import all_lessons


def test_every_lesson_quiz_parses_with_checked_answers_and_explanations():
    quizzes = [lesson for lesson in all_lessons() if "quiz" in lesson.meta]
    assert quizzes, "lesson 1 has a quiz"
    for lesson in quizzes:
        questions = load_quiz(lesson.id, mechanism.QUIZ_FUNCTIONS)
        assert 3 <= len(questions) <= 5
        for q in questions:
            assert q.explanation.strip() and "{answer}" not in q.explanation
            assert q.check(q.answer), f"{q.id}: its own answer must check"
            wrong = (q.answer + 1) % max(2, len(q.options)) if q.kind == "choice" else q.answer + 10
            assert not q.check(wrong) and not q.check(None)


def test_numeric_answers_are_the_engines_and_the_explanations_quote_them():
    questions = {q.id: q for q in load_quiz("01_mechanism", mechanism.QUIZ_FUNCTIONS)}
    assert questions["survivor"].answer == mechanism.inverted_train_output(5.0, 0.2) == pytest.approx(6.25)
    assert questions["paper-p"].answer == mechanism.drop_from_keep(0.8)
    assert questions["classic-test"].answer == mechanism.classic_eval_output(3.0, 0.5)
    for q in questions.values():
        if q.kind == "number":
            assert q.answer_text in q.explanation
    assert questions["survivor"].check(6.251) and not questions["survivor"].check(5.0)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[[question]]\nid = "a"\nkind = "number"\nprompt = "?"\nexplanation = "e"\n', "missing 'answer'"),
        ('[[question]]\nid = "a"\nkind = "number"\nprompt = "?"\nexplanation = "e"\nanswer = { fn = "eval" }\n',
         "answer.fn must be one of"),
        ('[[question]]\nid = "a"\nkind = "choice"\nprompt = "?"\nexplanation = "e"\noptions = ["x"]\n'
         'answer = { choice = 3 }\n', "answer.choice"),
        ('[[question]]\nid = "a"\nkind = "essay"\nprompt = "?"\nexplanation = "e"\nanswer = {}\n', "kind must be"),
    ],
)
def test_a_broken_quiz_file_names_the_problem(tmp_path, toml, message):
    (tmp_path / "x_quiz.toml").write_text(toml)
    with pytest.raises(QuizError, match=message):
        load_quiz("x", directory=tmp_path)
