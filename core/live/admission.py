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
