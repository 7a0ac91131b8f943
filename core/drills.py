"""Drills: check-yourself questions (``lessons/<lesson id>_quiz.toml``, answers computed by the engine)
and predict-then-observe items (``lessons/<lesson id>_predictions.toml``).

A question is ``kind = "number"`` (answer = {fn = NAME, args = {...}}, NAME one of the answer
functions the lesson hands in, lesson 1's ``core.labs.mechanism.compute.QUIZ_FUNCTIONS``; checked within ``tolerance``) or ``kind = "choice"``
(``options`` and ``answer = {choice = INDEX}``). ``{answer}`` in the explanation is replaced
by the computed answer, so the text cannot disagree with the engine.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Mapping

from core.lessons import LESSONS_DIR

AnswerFunctions = Mapping[str, Callable[..., float]]


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


def _question(raw: dict, source: str, functions: AnswerFunctions) -> Question:
    qid = raw.get("id", "?")
    where = f"{source}, question {qid!r}"
    for key in ("id", "prompt", "kind", "answer", "explanation"):
        if key not in raw:
            raise QuizError(f"{where}: missing {key!r}")
    answer_spec = raw["answer"]
    if raw["kind"] == "number":
        fn = functions.get(answer_spec.get("fn"))
        if fn is None:
            raise QuizError(f"{where}: answer.fn must be one of {', '.join(functions) or '(none handed in)'}")
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


def load_quiz(lesson_id: str, functions: AnswerFunctions | None = None, directory: Path = LESSONS_DIR) -> list[Question]:
    """The questions of ``lessons/<lesson_id>_quiz.toml``; a number's answer is computed by the
    function of that name in ``functions`` (the lesson's own maths, handed in)."""
    path = directory / f"{lesson_id}_quiz.toml"
    with path.open("rb") as f:
        data = tomllib.load(f)
    return [_question(raw, path.name, functions or {}) for raw in data.get("question", [])]


@dataclass(frozen=True)
class Prediction:
    """Predict first, then see: a choice whose answer a live statistic or the lesson's numbers show."""

    id: str
    prompt: str
    options: tuple[str, ...]
    answer: int
    explanation: str
    statistic: str | None  # the lead number compared live (None: not one of the live runs')
    lower_with_dropout: bool  # what the measured claim says about it


@lru_cache(maxsize=8)
def load_predictions(lesson_id: str, directory: Path = LESSONS_DIR) -> dict[str, Prediction]:
    """``lessons/<lesson_id>_predictions.toml``, parsed once per process (every page run asks for it)."""
    path = directory / f"{lesson_id}_predictions.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    items = {}
    for raw in data["prediction"]:
        options = tuple(raw["options"])
        if not 0 <= raw["answer"] < len(options):
            raise QuizError(f"{path.name}: prediction {raw['id']!r} has no option {raw['answer']}")
        items[raw["id"]] = Prediction(raw["id"], raw["prompt"], options, raw["answer"], raw["explanation"],
                                      raw.get("statistic"), raw.get("lower_with_dropout", False))
    return items
