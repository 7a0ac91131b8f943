"""How often each live view may redraw, so a whole class's redraws fit what one app process can draw.

Every redraw of a live view (six Plotly figures, built and sent) costs the app process CPU time
under Python's global interpreter lock, whatever the number of students. Past what the process
can draw, every student waits: for the charts, and for the answer to a slider. So each view
refreshes every ``max(base, views / budget)`` seconds, ``views`` being the views that redrew
in the last ``STALE`` seconds and ``budget`` the redraws per second the whole process aims at.
"""
from __future__ import annotations

import threading
import time

STALE = 10.0
"""A view that has not redrawn for this many seconds no longer counts (its tab closed, or it paused)."""


class RedrawBudget:
    def __init__(self, budget: float, clock=time.monotonic):
        self.budget = budget
        self._clock = clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def interval(self, view: str, base: float) -> float:
        """Record that ``view`` redraws now; return the seconds until its next redraw."""
        now = self._clock()
        with self._lock:
            self._last[view] = now
            for key in [k for k, t in self._last.items() if now - t > STALE]:
                del self._last[key]
            views = len(self._last)
        return max(base, views / self.budget)

    def forget(self, view: str) -> None:
        with self._lock:
            self._last.pop(view, None)
