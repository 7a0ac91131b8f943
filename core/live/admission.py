"""The class cap: at most so many runs train at once, the others wait in line."""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Hashable


class Admission:
    """At most ``cap`` holders at once (None: no cap); the others wait in line, first come first served.

    A holder is any hashable; ``request`` takes the function that tells it, later, that it got
    a place (0) or moved up the line (its new position). It is a ``core.live.runner.Gate`` for
    runners of this process, which are told through ``notify``.
    """

    def __init__(self, cap: int | None):
        self.cap = cap
        self._lock = threading.Lock()
        self._holders: set[Hashable] = set()
        self._queue: OrderedDict[Hashable, Callable[[int], None]] = OrderedDict()

    def request(self, who: Hashable, notify: Callable[[int], None] | None = None) -> int:
        """0 if ``who`` may train now, else its position in line (1 = next)."""
        with self._lock:
            if who in self._holders:
                return 0
            if who not in self._queue and (self.cap is None or len(self._holders) < self.cap) and not self._queue:
                self._holders.add(who)
                return 0
            if who not in self._queue:
                self._queue[who] = notify if notify is not None else who.notify
            return list(self._queue).index(who) + 1

    def release(self, who: Hashable) -> None:
        self.release_where(lambda holder: holder == who)

    def release_where(self, predicate: Callable[[Hashable], bool]) -> None:
        """Give back the places (and leave the line) of every holder ``predicate`` picks."""
        with self._lock:
            before = (len(self._holders), len(self._queue))
            self._holders = {h for h in self._holders if not predicate(h)}
            for who in [w for w in self._queue if predicate(w)]:
                del self._queue[who]
            notices = self._fill() if (len(self._holders), len(self._queue)) != before else []
        for notify, position in notices:
            notify(position)

    def _fill(self) -> list[tuple[Callable[[int], None], int]]:
        notices = []
        while self._queue and (self.cap is None or len(self._holders) < self.cap):
            who, notify = self._queue.popitem(last=False)
            self._holders.add(who)
            notices.append((notify, 0))
        notices += [(notify, i + 1) for i, notify in enumerate(self._queue.values())]
        return notices

    def counts(self) -> tuple[int, int]:
        """(runs training, runs waiting)."""
        with self._lock:
            return len(self._holders), len(self._queue)


class ServerFull(RuntimeError):
    """A new run was refused: the server (or this one browser) already holds as many runs as it may."""


class RunCount:
    """Runs that exist (playing or not), counted per server and per owner (a browser), each capped.

    A run counts from ``admit`` until it is no longer ``alive`` (closed by its page, its tab's lease,
    or its worker's end). ``None`` caps do not cap."""

    def __init__(self, max_runs: int | None, max_per_owner: int | None):
        self.max_runs, self.max_per_owner = max_runs, max_per_owner
        self._lock = threading.Lock()
        self._runs: list[tuple[Hashable, object]] = []  # (owner, runner)

    def _prune(self) -> None:
        self._runs = [(owner, run) for owner, run in self._runs if getattr(run, "alive", False)]

    def check(self, owner: Hashable | None) -> None:
        """Raise ``ServerFull`` with what to do when one more run for ``owner`` would pass a cap."""
        with self._lock:
            self._prune()
            if self.max_runs is not None and len(self._runs) >= self.max_runs:
                raise ServerFull(f"the server is full: it holds {len(self._runs)} runs, the most it takes "
                                 "(DROPOUT_LAB_MAX_RUNS). Close the tabs of this app you no longer use, or ask "
                                 "your teacher; a place frees up as soon as any run anywhere is closed.")
            mine = sum(1 for who, _ in self._runs if owner is not None and who == owner)
            if self.max_per_owner is not None and owner is not None and mine >= self.max_per_owner:
                raise ServerFull(f"this browser already holds {mine} run{'s' * (mine != 1)}, the most one browser may "
                                 "(DROPOUT_LAB_MAX_RUNS_PER_BROWSER). Close the tabs of this app you no longer "
                                 "use; their runs stop within seconds and this one can start.")

    def admit(self, owner: Hashable | None, run: object) -> None:
        with self._lock:
            self._runs.append((owner, run))

    def count(self, owner: Hashable | None = None) -> int:
        with self._lock:
            self._prune()
            return len(self._runs) if owner is None else sum(1 for who, _ in self._runs if who == owner)
