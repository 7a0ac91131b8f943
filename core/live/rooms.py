"""A teacher's room: a short code the class joins, and what the teacher sets for everyone in it.

The teacher opens a room and gets its code (five letters and digits, none that read alike) and a secret
token: whoever holds the token controls the room (there are no accounts), so it travels only in the
teacher's own link. The room holds the control groups students may not change (``locked``) or do not
see (``hidden``), the preset pushed to everyone (with a counter, so each push is applied once), and the
current class prediction: a question, its options, the students' answers and, once revealed, the result.
Every change is written to a store every app process reaches (``core.live.room_store``); each student's
page reads it back. A bad code, an expired or full room, a wrong token and a store that is down raise
``RoomError`` with a sentence to show; the lab works on without the room.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Callable

from core.live.room_store import Store, StoreDown, open_store

CODE_LETTERS = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud or off a projector
CODE_LENGTH = 5
DEFAULT_HOURS = 8.0  # a school day
DEFAULT_SIZE = 120  # students (and their tabs) per room: two classes' worth
KEEP_EXPIRED = 24 * 3600.0  # an expired room is remembered a day, to say "expired" rather than "no such room"


class RoomError(Exception):
    """Something about a room that the page says in a sentence (the message) and then works on without it."""


@dataclass(frozen=True)
class Poll:
    """A class prediction: ``number`` counts the room's polls (answers are kept per number)."""

    number: int
    key: str  # which question of the page's bank
    question: str
    options: tuple[str, ...]
    result: str | None = None  # the option the experiment showed, once revealed
    explanation: str = ""

    @property
    def revealed(self) -> bool:
        return self.result is not None


@dataclass(frozen=True)
class Room:
    code: str
    page: str  # the page the room runs on (its url path)
    opened: float
    expires: float
    locked: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    preset: str | None = None
    pushes: int = 0  # how many times a preset was pushed: a student applies each push once
    poll: Poll | None = None
    version: int = 0  # bumped by every change, so that a page redraws only when something changed
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Room":
        data = json.loads(text)
        poll = data.pop("poll")
        return cls(**{**data, "locked": tuple(data["locked"]), "hidden": tuple(data["hidden"]),
                      "poll": Poll(**{**poll, "options": tuple(poll["options"])}) if poll else None})


def normal_code(raw: str) -> str:
    """A code as typed ("abc 2d", "ABC-2D") in the form rooms use, or RoomError saying what is wrong."""
    code = "".join(c for c in str(raw).upper() if c not in " -")
    if len(code) != CODE_LENGTH or not set(code) <= set(CODE_LETTERS):
        raise RoomError(f"A room code is {CODE_LENGTH} letters and digits (for example K7MQ2); "
                        f"{_quoted(raw)} is not one. Check it with your teacher.")
    return code


def _quoted(raw: Any) -> str:
    text = " ".join(str(raw).split())[:20].replace("`", "'")
    return f"'{text}'"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Rooms:
    """The rooms of one store. ``size`` and ``hours`` default to ``DROPOUT_LAB_ROOM_SIZE`` and
    ``DROPOUT_LAB_ROOM_HOURS`` (or ``DEFAULT_SIZE`` and ``DEFAULT_HOURS``)."""

    def __init__(self, store: Store | None = None, *, size: int | None = None, hours: float | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.store = open_store() if store is None else store
        self.size = size if size is not None else _env_number("DROPOUT_LAB_ROOM_SIZE", DEFAULT_SIZE, int)
        self.hours = hours if hours is not None else _env_number("DROPOUT_LAB_ROOM_HOURS", DEFAULT_HOURS, float)
        self.clock = clock

    @property
    def _ttl(self) -> float:
        return self.hours * 3600 + KEEP_EXPIRED

    def open(self, page: str) -> tuple[Room, str]:
        """A new room on ``page``, and the teacher's token for it."""
        token = secrets.token_urlsafe(12)
        now = self.clock()
        for _ in range(20):
            room = Room(code="".join(secrets.choice(CODE_LETTERS) for _ in range(CODE_LENGTH)), page=page,
                        opened=now, expires=now + self.hours * 3600)
            if _store(lambda: self.store.create(room.code, room.to_json(), _hash(token), self._ttl)):
                return room, token
        raise RoomError("No free room code was found: close a room you no longer use and try again.")

    def get(self, raw_code: str) -> Room:
        """The room, or RoomError: no such room, or it has expired."""
        code = normal_code(raw_code)
        found = _store(lambda: self.store.load(code))
        if found is None:
            raise RoomError(f"There is no room {code}: check the code with your teacher (a room closes "
                            f"{self.hours:g} hours after it opens, or when the teacher closes it).")
        room = Room.from_json(found[0])
        if self.clock() >= room.expires:
            raise RoomError(f"Room {code} has expired (rooms last {self.hours:g} hours): ask your teacher for a "
                            "new code.")
        return room

    def is_teacher(self, code: str, token: str | None) -> bool:
        found = _store(lambda: self.store.load(normal_code(code)))
        return bool(token) and found is not None and hmac.compare_digest(found[1], _hash(str(token)))

    def join(self, raw_code: str, member: str) -> Room:
        """Count ``member`` (a browser session) in the room, or RoomError when the room is full."""
        room = self.get(raw_code)
        joined, _ = _store(lambda: self.store.join(room.code, member, self.size, self._ttl))
        if not joined:
            raise RoomError(f"Room {room.code} is full ({self.size} students): the lab works on here without "
                            "the room; your teacher can open a second room.")
        return room

    def members(self, code: str) -> int:
        return _store(lambda: self.store.members(normal_code(code)))

    def change(self, code: str, token: str | None, **changes: Any) -> Room:
        """The teacher's change to the room (any of Room's fields), written for every process to see."""
        room = self.get(code)
        if not self.is_teacher(room.code, token):
            raise RoomError(f"This link does not control room {room.code}: only the teacher's own link does.")
        room = replace(room, **changes, version=room.version + 1)
        _store(lambda: self.store.save(room.code, room.to_json(), self._ttl))
        return room

    def push(self, code: str, token: str | None, preset: str) -> Room:
        """Every student loads ``preset`` (each applies a push once)."""
        return self.change(code, token, preset=preset, pushes=self.get(code).pushes + 1)

    def ask(self, code: str, token: str | None, key: str, question: str, options: tuple[str, ...]) -> Room:
        """A new class prediction; the last one's answers are kept under its own number."""
        last = self.get(code).poll
        poll = Poll(number=(last.number + 1) if last else 1, key=key, question=question, options=tuple(options))
        return self.change(code, token, poll=poll)

    def reveal(self, code: str, token: str | None, result: str, explanation: str) -> Room:
        room = self.get(code)
        if room.poll is None or result not in room.poll.options:
            raise RoomError("There is no question to reveal: ask one first.")
        return self.change(code, token, poll=replace(room.poll, result=result, explanation=explanation))

    def answer(self, code: str, member: str, number: int, option: str) -> None:
        """A student's answer to poll ``number`` (their last answer counts), or RoomError when it is closed."""
        room = self.get(code)
        poll = room.poll
        if poll is None or poll.number != number:
            raise RoomError("That question is no longer open: your teacher has asked another one.")
        if poll.revealed:
            raise RoomError("The answer has been revealed: answers are closed for this question.")
        if option not in poll.options:
            raise RoomError(f"{_quoted(option)} is not one of this question's answers.")
        _store(lambda: self.store.answer(room.code, number, member, option, self._ttl))

    def mine(self, code: str, member: str, number: int) -> str | None:
        return _store(lambda: self.store.answers(normal_code(code), number)).get(member)

    def tally(self, code: str, number: int) -> dict[str, int]:
        """How many chose each option of poll ``number`` (every option present, 0 if nobody chose it)."""
        room = self.get(code)
        options = room.poll.options if room.poll and room.poll.number == number else ()
        counts = dict.fromkeys(options, 0)
        for option in _store(lambda: self.store.answers(room.code, number)).values():
            counts[option] = counts.get(option, 0) + 1
        return counts

    def close(self, code: str, token: str | None) -> None:
        room = self.get(code)
        if not self.is_teacher(room.code, token):
            raise RoomError(f"This link does not control room {room.code}: only the teacher's own link does.")
        _store(lambda: self.store.delete(room.code))


def _store(step: Callable[[], Any]) -> Any:
    try:
        return step()
    except StoreDown as exc:
        raise RoomError(f"The room store is not reachable ({exc}). The lab works on here without the room; "
                        "your teacher can check the server.") from None


def _env_number(name: str, default: float, kind: type) -> Any:
    raw = os.environ.get(name, "").strip()
    try:
        value = kind(raw) if raw else default
    except ValueError:
        return default
    return value if value > 0 else default
