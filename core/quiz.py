"""Check-yourself questions: ``lessons/<lesson id>_quiz.toml``, answers computed by the engine.

A question is ``kind = "number"`` (answer = {fn = NAME, args = {...}}, NAME from
``core.mechanism.QUIZ_FUNCTIONS``, checked within ``tolerance``) or ``kind = "choice"``
(``options`` and ``answer = {choice = INDEX}``). ``{answer}`` in the explanation is replaced
by the computed answer, so the text cannot disagree with the engine.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from core.lessons import LESSONS_DIR
from core.mechanism import QUIZ_FUNCTIONS


class QuizError(ValueError):
    pass


@dataclass(frozen=True)
class Question:
    id: str
    prompt: str
    kind: str
    answer: float | int  # the number, or the index of the right option
    explanation: str
    options: tuple[str, ...] = ()
    tolerance: float = 1e-6

    def check(self, response: float | int | None) -> bool:
        if response is None:
            return False
        if self.kind == "choice":
            return int(response) == self.answer
        return math.isclose(float(response), float(self.answer), rel_tol=0, abs_tol=self.tolerance)

    @property
    def answer_text(self) -> str:
        return self.options[self.answer] if self.kind == "choice" else f"{self.answer:g}"


def _question(raw: dict, source: str) -> Question:
    qid = raw.get("id", "?")
    where = f"{source}, question {qid!r}"
    for key in ("id", "prompt", "kind", "answer", "explanation"):
        if key not in raw:
            raise QuizError(f"{where}: missing {key!r}")
    answer_spec = raw["answer"]
    if raw["kind"] == "number":
        fn = QUIZ_FUNCTIONS.get(answer_spec.get("fn"))
        if fn is None:
            raise QuizError(f"{where}: answer.fn must be one of {', '.join(QUIZ_FUNCTIONS)}")
        answer = fn(**answer_spec.get("args", {}))
        options: tuple[str, ...] = ()
    elif raw["kind"] == "choice":
        options = tuple(raw.get("options", ()))
        answer = int(answer_spec.get("choice", -1))
        if not 0 <= answer < len(options):
            raise QuizError(f"{where}: answer.choice must index one of its {len(options)} options")
    else:
        raise QuizError(f"{where}: kind must be 'number' or 'choice'")
    text = f"{answer:g}" if raw["kind"] == "number" else options[answer]
    return Question(
        id=qid, prompt=raw["prompt"], kind=raw["kind"], answer=answer, options=options,
        explanation=raw["explanation"].replace("{answer}", text), tolerance=float(raw.get("tolerance", 1e-6)),
    )


def load_quiz(lesson_id: str, directory: Path = LESSONS_DIR) -> list[Question]:
    path = directory / f"{lesson_id}_quiz.toml"
    with path.open("rb") as f:
        data = tomllib.load(f)
    return [_question(raw, path.name) for raw in data.get("question", [])]
