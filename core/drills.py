"""Drills: the question bank (``lessons/bank/*.toml``, one file per topic) that the interview page and
every lesson's "check yourself" draw from, and predict-then-observe items (``lessons/<id>_predictions.toml``).

One format, one loader. A bank file has a ``topic`` and a ``title``, then ``[[question]]`` tables with
``id``, ``difficulty`` (easy, medium, hard), ``type``, ``prompt``, ``answer``, ``explanation``, ``lab``
(the lab link that shows it, e.g. ``"playground?preset=tiny"``) and optionally ``hint``, ``follow_up``
(the id of the question an interviewer asks next) and ``lessons`` (the lessons whose check-yourself shows it).
By type:

- ``choice``: ``options``, ``answer`` = the index of the right one, ``misconceptions`` = one name per
  option (``""`` for the right one), each a key of ``lessons/bank/misconceptions.toml``.
- ``numeric``: ``answer = {fn = NAME, args = {...}}``, NAME a function handed in (the engine's maths,
  ``core.analysis.answers.ANSWERS``); ``variants = {arg = [values...]}`` draws args per learner seed;
  ``{arg}`` in the prompt and ``{answer}`` in the explanation are filled in; ``tolerance``;
  ``traps = [{fn = NAME, misconception = NAME}]``: a wrong formula whose value names the mistake.
- ``bug``: ``code`` (a snippet), ``answer`` = the 1-based number of the buggy line, ``misconception``.
- ``predict``: ``options``, ``answer``, ``misconceptions`` and ``experiment`` (a name the page runs live;
  its measurement picks the option it supports).
- ``explain``: ``answer`` = a model answer, ``rubric`` = the checklist the learner grades themself by.
- ``code``: ``task`` (a judge task: ``dropout`` or ``mc_predict``), ``starter`` and ``answer`` = a
  reference solution the judge accepts.
"""
from __future__ import annotations

import math
import random
import re
import tomllib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Mapping

from core.lessons import LESSONS_DIR

AnswerFunctions = Mapping[str, Callable[..., float]]
BANK_DIR = LESSONS_DIR / "bank"
TYPES = ("choice", "numeric", "bug", "predict", "explain", "code")
DIFFICULTIES = ("easy", "medium", "hard")
TASKS = ("dropout", "mc_predict")
SELF_GRADED = ("explain",)  # the learner ticks a rubric; every other type is checked by the app


class QuizError(ValueError):
    pass


@dataclass(frozen=True)
class Question:
    id: str
    topic: str
    difficulty: str
    type: str
    prompt: str
    answer: Any  # an option index, a number, a line number, or a model answer / solution (text)
    explanation: str
    lab: str
    options: tuple[str, ...] = ()
    misconceptions: tuple[str, ...] = ()  # per option (choice, predict), or the one a bug / wrong number shows
    tolerance: float = 1e-6
    hint: str = ""
    follow_up: str = ""
    lessons: tuple[str, ...] = ()
    code: str = ""
    rubric: tuple[str, ...] = ()
    task: str = ""
    starter: str = ""
    experiment: str = ""
    traps: tuple[tuple[float, str], ...] = ()  # (a wrong formula's value, the misconception it shows)
    args: Mapping[str, Any] = field(default_factory=dict)  # the numbers this variant was drawn with
    seed: int | None = None

    @property
    def kind(self) -> str:  # the check-yourself widgets' word for it
        return self.type

    def check(self, response: Any) -> bool:
        """Whether ``response`` is right: an option index, a number within tolerance, a line number."""
        if response is None:
            return False
        if self.type in ("choice", "predict", "bug"):
            return int(response) == self.answer
        if self.type == "numeric":
            try:
                value = float(response)
            except (TypeError, ValueError):
                return False
            return math.isfinite(value) and math.isclose(value, float(self.answer), rel_tol=0, abs_tol=self.tolerance)
        raise QuizError(f"question {self.id!r} ({self.type}) is not checked by comparing an answer")

    def misconception(self, response: Any) -> str | None:
        """The misconception a wrong ``response`` reveals (a key of misconceptions.toml), or None."""
        if response is None or self.type in ("explain", "code") or self.check(response):
            return None
        if self.type in ("choice", "predict"):
            index = int(response)
            return (self.misconceptions[index] or None) if 0 <= index < len(self.misconceptions) else None
        if self.type == "bug":
            return self.misconceptions[0] if self.misconceptions else None
        value = float(response)
        for trap, name in self.traps:
            if math.isclose(value, trap, rel_tol=0, abs_tol=self.tolerance):
                return name
        return self.misconceptions[0] if self.misconceptions else None

    @property
    def answer_text(self) -> str:
        if self.type in ("choice", "predict"):
            return self.options[self.answer]
        if self.type == "numeric":
            return f"{self.answer:g}"
        if self.type == "bug":
            return f"line {self.answer}"
        return str(self.answer)

    @property
    def lines(self) -> list[str]:
        return self.code.strip("\n").splitlines()


@dataclass(frozen=True)
class Topic:
    slug: str
    title: str
    questions: tuple[str, ...]  # ids, in file order


_REQUIRED = ("id", "difficulty", "type", "prompt", "answer", "explanation", "lab")
_BY_TYPE = {"choice": ("options", "misconceptions"), "predict": ("options", "misconceptions", "experiment"),
            "numeric": ("tolerance",), "bug": ("code", "misconception"), "explain": ("rubric",),
            "code": ("task", "starter")}


class Bank:
    """Every question of every topic, parsed and checked once; numeric answers computed on demand by
    ``functions`` (for the base numbers, or for the variant a learner's ``seed`` draws)."""

    def __init__(self, raw: dict[str, dict], topics: dict[str, Topic], misconceptions: dict[str, str],
                 functions: AnswerFunctions):
        self._raw, self.topics, self.misconceptions, self._functions = raw, topics, misconceptions, functions
        self._base = {qid: self._build(qid, None) for qid in raw}

    @property
    def ids(self) -> list[str]:
        return list(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, qid: object) -> bool:
        return qid in self._raw

    def question(self, qid: str, seed: int | None = None) -> Question:
        """Question ``qid``; with a ``seed``, a numeric one gets the numbers that seed draws (the same
        seed gives the same numbers on every machine and every day)."""
        if qid not in self._raw:
            raise KeyError(f"no question {qid!r} in the bank")
        if seed is None or not self._raw[qid].get("variants"):
            return replace(self._base[qid], seed=seed)
        return self._build(qid, seed)

    def questions(self, *, topics: tuple[str, ...] = (), difficulties: tuple[str, ...] = (),
                  types: tuple[str, ...] = (), seed: int | None = None) -> list[Question]:
        chosen = [q for q in self._base.values() if (not topics or q.topic in topics)
                  and (not difficulties or q.difficulty in difficulties) and (not types or q.type in types)]
        return [self.question(q.id, seed) for q in chosen]

    def for_lesson(self, lesson_id: str) -> list[Question]:
        """A lesson's check-yourself: the questions tagged with it, with their base numbers."""
        return [q for q in self._base.values() if lesson_id in q.lessons]

    def chain(self, qid: str) -> list[Question]:
        """``qid`` and the follow-ups an interviewer asks after it, in order."""
        out, seen = [], set()
        while qid and qid not in seen:
            seen.add(qid)
            out.append(self._base[qid])
            qid = self._base[qid].follow_up
        return out

    def _build(self, qid: str, seed: int | None) -> Question:
        raw = self._raw[qid]
        where = f"{raw['_source']}, question {qid!r}"
        extra: dict[str, Any] = {}
        kind = raw["type"]
        answer = raw["answer"]
        args: dict[str, Any] = {}
        prompt, explanation = raw["prompt"], raw["explanation"]
        if kind == "numeric":
            spec = answer if isinstance(answer, dict) else {}
            args = dict(spec.get("args", {}))
            if seed is not None:
                rng = random.Random(f"{seed}/{qid}")  # a string seed: stable across processes and versions
                args.update({name: rng.choice(values) for name, values in sorted(raw.get("variants", {}).items())})
            answer = self._call(spec.get("fn"), args, where)
            extra["traps"] = tuple((self._call(t.get("fn"), args, where), t.get("misconception", ""))
                                   for t in raw.get("traps", ()))
            extra["tolerance"] = float(raw.get("tolerance", 1e-6))
            extra["misconceptions"] = (raw["misconception"],) if raw.get("misconception") else ()
            try:
                prompt = prompt.format(**args)
            except (KeyError, IndexError, ValueError) as exc:
                raise QuizError(f"{where}: the prompt names {exc} that answer.args does not give") from None
            explanation = explanation.replace("{answer}", f"{answer:g}")
        elif kind in ("choice", "predict"):
            options = tuple(raw["options"])
            tags = tuple(raw["misconceptions"])
            if not isinstance(answer, int) or not 0 <= answer < len(options):
                raise QuizError(f"{where}: answer must index one of its {len(options)} options")
            if len(tags) != len(options) or tags[answer] or not all(tags[i] for i in range(len(tags)) if i != answer):
                raise QuizError(f"{where}: misconceptions needs one name per wrong option and \"\" for the right one")
            extra.update(options=options, misconceptions=tags, experiment=raw.get("experiment", ""))
        elif kind == "bug":
            code = str(raw["code"]).strip("\n")
            if not isinstance(answer, int) or not 1 <= answer <= len(code.splitlines()):
                raise QuizError(f"{where}: answer must be a line number of its code (1 to {len(code.splitlines())})")
            extra.update(code=code, misconceptions=(raw["misconception"],))
        elif kind == "explain":
            if not str(answer).strip() or not raw["rubric"]:
                raise QuizError(f"{where}: an explain question needs a model answer and a rubric")
            extra["rubric"] = tuple(raw["rubric"])
        elif kind == "code":
            if raw["task"] not in TASKS:
                raise QuizError(f"{where}: task must be one of {', '.join(TASKS)}")
            extra.update(task=raw["task"], starter=str(raw["starter"]).strip("\n") + "\n")
            answer = str(answer).strip("\n") + "\n"
        for name in extra.get("misconceptions", ()):
            if name and name not in self.misconceptions:
                raise QuizError(f"{where}: misconception {name!r} is not in misconceptions.toml")
        return Question(
            id=qid, topic=raw["_topic"], difficulty=raw["difficulty"], type=kind, prompt=prompt, answer=answer,
            explanation=explanation, lab=raw["lab"], hint=raw.get("hint", ""), follow_up=raw.get("follow_up", ""),
            lessons=tuple(raw.get("lessons", ())), args=args, seed=seed, **extra)

    def _call(self, name: Any, args: dict[str, Any], where: str) -> float:
        fn = self._functions.get(name) if isinstance(name, str) else None
        if fn is None:
            raise QuizError(f"{where}: answer.fn must be one of {', '.join(sorted(self._functions)) or '(none handed in)'}")
        try:
            return fn(**args)
        except TypeError as exc:
            raise QuizError(f"{where}: {name}() cannot take these args: {exc}") from None


def parse_bank(directory: Path, functions: AnswerFunctions) -> Bank:
    """Every ``*.toml`` of ``directory`` but misconceptions.toml; a problem raises QuizError naming the file,
    the question and what is wrong."""
    mis_path = directory / "misconceptions.toml"
    misconceptions = tomllib.loads(mis_path.read_text(encoding="utf-8")).get("misconception", {}) if mis_path.exists() else {}
    raw: dict[str, dict] = {}
    topics: dict[str, Topic] = {}
    for path in sorted(directory.glob("*.toml")):
        if path.name == mis_path.name:
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise QuizError(f"{path.name}: {exc}") from None
        slug = data.get("topic") or path.stem
        if slug != path.stem or slug in topics:
            raise QuizError(f"{path.name}: topic must be the file's name, {path.stem!r}, and name one file")
        ids = []
        for item in data.get("question", []):
            qid = item.get("id", "?")
            where = f"{path.name}, question {qid!r}"
            missing = [k for k in (*_REQUIRED, *_BY_TYPE.get(item.get("type"), ())) if k not in item and k != "tolerance"]
            if item.get("type") not in TYPES:
                raise QuizError(f"{where}: type must be one of {', '.join(TYPES)}")
            if missing:
                raise QuizError(f"{where}: missing {', '.join(map(repr, missing))}")
            if item["difficulty"] not in DIFFICULTIES:
                raise QuizError(f"{where}: difficulty must be one of {', '.join(DIFFICULTIES)}")
            if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", qid) or qid in raw:
                raise QuizError(f"{where}: ids are lower-case words joined by '-', one per question in the whole bank")
            raw[qid] = {**item, "_source": path.name, "_topic": slug}
            ids.append(qid)
        topics[slug] = Topic(slug, data.get("title", slug), tuple(ids))
    for qid, item in raw.items():
        if item.get("follow_up") and item["follow_up"] not in raw:
            raise QuizError(f"{item['_source']}, question {qid!r}: follow_up {item['follow_up']!r} is not in the bank")
    return Bank(raw, topics, misconceptions, functions)


@lru_cache(maxsize=4)
def _cached(directory: Path, functions_key: tuple) -> Bank:
    return parse_bank(directory, dict(functions_key))


def load_bank(functions: AnswerFunctions, directory: Path = BANK_DIR) -> Bank:
    """The bank, parsed once per process for the same directory and functions."""
    return _cached(directory, tuple(sorted(functions.items())))


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
