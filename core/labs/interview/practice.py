"""A candidate's practice, as plain data: what was answered, what each miss revealed, when each question is
due again (spaced review scheduled by FSRS, the ``fsrs`` package), and mock interviews.

``Progress`` round-trips through a small JSON file (``to_json`` / ``from_json``) so that a candidate can
download it tonight and upload it tomorrow without an account. ``from_json`` refuses a bad or foreign file
with a sentence (``ProgressError``); it never trusts a field it did not check.
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from fsrs import Card, Rating, Scheduler

APP = "dropout-lab-interview"
VERSION = 1
MAX_FILE_BYTES = 512 * 1024
MAX_ENTRIES = 5000
SCHEDULER = Scheduler(enable_fuzzing=False)  # reproducible due dates: the same answers give the same schedule
MOCK_TYPES = ("choice", "numeric", "bug", "explain")  # answered on the spot; code and live experiments are drills


class ProgressError(ValueError):
    pass


@dataclass
class Record:
    attempts: int = 0
    correct: int = 0
    misses: dict[str, int] = field(default_factory=dict)  # misconception key -> times revealed
    card: dict[str, Any] | None = None  # fsrs.Card.to_dict()

    def to_json(self) -> dict[str, Any]:
        return {"attempts": self.attempts, "correct": self.correct, "misses": dict(self.misses), "card": self.card}


@dataclass
class Progress:
    seed: int  # draws this candidate's numbers in numeric questions
    records: dict[str, Record] = field(default_factory=dict)

    @classmethod
    def new(cls, rng: random.Random | None = None) -> "Progress":
        return cls(seed=(rng or random.SystemRandom()).randrange(1, 10**6))

    def record(self, qid: str, correct: bool, misconception: str | None = None, *,
               now: datetime | None = None, rating: Rating | None = None) -> Record:
        """One answer: counts, the misconception a miss revealed, and the question's next review date."""
        entry = self.records.setdefault(qid, Record())
        entry.attempts += 1
        entry.correct += bool(correct)
        if not correct and misconception:
            entry.misses[misconception] = entry.misses.get(misconception, 0) + 1
        card = Card.from_dict(entry.card) if entry.card else Card()
        card, _ = SCHEDULER.review_card(card, rating or (Rating.Good if correct else Rating.Again),
                                        review_datetime=now or datetime.now(timezone.utc))
        entry.card = card.to_dict()
        return entry

    def due(self, now: datetime | None = None) -> list[str]:
        """Questions whose review is due, the most overdue first."""
        now = now or datetime.now(timezone.utc)
        dated = [(Card.from_dict(r.card).due, qid) for qid, r in self.records.items() if r.card]
        return [qid for due, qid in sorted(dated) if due <= now]

    def next_due(self) -> datetime | None:
        dates = [Card.from_dict(r.card).due for r in self.records.values() if r.card]
        return min(dates) if dates else None

    def misconceptions(self) -> dict[str, int]:
        """Every misconception revealed so far, with how often, the most frequent first."""
        counts: dict[str, int] = {}
        for r in self.records.values():
            for key, n in r.misses.items():
                counts[key] = counts.get(key, 0) + n
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def totals(self) -> tuple[int, int]:
        return sum(r.attempts for r in self.records.values()), sum(r.correct for r in self.records.values())

    def to_json(self) -> str:
        return json.dumps({"app": APP, "version": VERSION, "seed": self.seed,
                           "records": {qid: r.to_json() for qid, r in sorted(self.records.items())}}, indent=1)

    @classmethod
    def from_json(cls, raw: bytes | str, known_ids: Iterable[str], known_misconceptions: Iterable[str]) -> "Progress":
        """A progress file read back; ProgressError with a sentence for anything that is not one of ours."""
        if isinstance(raw, bytes):
            if len(raw) > MAX_FILE_BYTES:
                raise ProgressError(f"This file is {len(raw) / 1024:.0f} KB; a progress file is a few KB at most.")
            try:
                raw = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ProgressError("This is not a text file: a progress file is JSON, as the page downloads it.") from None
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ProgressError(f"This is not JSON (line {exc.lineno}: {exc.msg}); upload the file this page "
                                "downloaded.") from None
        if not isinstance(data, dict) or data.get("app") != APP:
            raise ProgressError("This JSON is not a Dropout Lab interview progress file (it has no \"app\": "
                                f"\"{APP}\").")
        if data.get("version") != VERSION:
            raise ProgressError(f"This progress file has version {data.get('version')!r}; this page reads version {VERSION}.")
        seed, records = data.get("seed"), data.get("records")
        if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 10**9:
            raise ProgressError("Its \"seed\" must be a whole number from 0 to 999,999,999.")
        if not isinstance(records, dict) or len(records) > MAX_ENTRIES:
            raise ProgressError("Its \"records\" must be an object of at most 5,000 questions.")
        known, names = set(known_ids), set(known_misconceptions)
        out = cls(seed=seed)
        for qid, r in records.items():
            if qid not in known:
                raise ProgressError(f"It has answers for a question this bank does not have ({str(qid)[:40]!r}): "
                                    "it comes from another version or was edited.")
            out.records[qid] = _record(qid, r, names)
        return out


def _record(qid: str, r: Any, names: set[str]) -> Record:
    where = f"Question {qid!r}"
    if not isinstance(r, dict):
        raise ProgressError(f"{where}: its record must be an object.")
    attempts, correct, misses = r.get("attempts"), r.get("correct"), r.get("misses", {})
    if not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 10**6 for n in (attempts, correct)) \
            or correct > attempts:
        raise ProgressError(f"{where}: attempts and correct must be whole numbers, correct at most attempts.")
    if not isinstance(misses, dict) or not all(k in names and isinstance(v, int) and 0 < v <= attempts
                                               for k, v in misses.items()):
        raise ProgressError(f"{where}: its misses must name known misconceptions, each with a count.")
    card = r.get("card")
    if card is not None:
        try:
            Card.from_dict(card).due.isoformat()
        except (TypeError, ValueError, KeyError, AttributeError):
            raise ProgressError(f"{where}: its review schedule (\"card\") is not one this page wrote.") from None
    return Record(attempts, correct, dict(misses), card)


@dataclass(frozen=True)
class Answer:
    qid: str
    response: Any  # an option index, a number, a line number, a list of ticked rubric items
    correct: bool
    misconception: str | None
    seconds: float


def pick_mock(candidates: list[str], n: int, topics: dict[str, str], seed: int) -> list[str]:
    """``n`` questions for a mock interview, spread over as many topics as possible (``topics``: id -> topic),
    in a seeded order."""
    rng = random.Random(seed)
    pool = sorted(candidates)
    rng.shuffle(pool)
    by_topic: dict[str, list[str]] = {}
    for qid in pool:
        by_topic.setdefault(topics[qid], []).append(qid)
    order = sorted(by_topic, key=lambda t: rng.random())
    chosen: list[str] = []
    while len(chosen) < min(n, len(pool)):
        for topic in order:
            if by_topic[topic] and len(chosen) < n:
                chosen.append(by_topic[topic].pop())
    return chosen


def score(answers: list[Answer]) -> dict[str, Any]:
    """A mock interview's score: right out of asked, time taken, and the misconceptions behind the misses."""
    breakdown: dict[str, int] = {}
    for a in answers:
        if not a.correct and a.misconception:
            breakdown[a.misconception] = breakdown.get(a.misconception, 0) + 1
    return {"right": sum(a.correct for a in answers), "asked": len(answers),
            "seconds": round(sum(a.seconds for a in answers), 1),
            "misconceptions": dict(sorted(breakdown.items(), key=lambda kv: (-kv[1], kv[0]))),
            "unexplained": sum(1 for a in answers if not a.correct and not a.misconception)}
