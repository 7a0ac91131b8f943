"""Plain data for snapshots and results: read-only arrays, thinned series, strict JSON.

Results and snapshots cross threads, processes and Streamlit's cache; these helpers keep them
small, immutable and valid JSON, for every lab alike.
"""
from __future__ import annotations

import math
from collections import deque
from typing import Any, Iterator

import numpy as np

MAX_HISTORY_POINTS = 1000
"""A thinned series keeps at most about this many points (a chart is a few hundred pixels wide)."""


def read_only(a: Any) -> np.ndarray:
    """``a`` as an array that refuses writes, so a cached result cannot be changed by a reader."""
    a = np.asarray(a)
    a.setflags(write=False)
    return a


def thin(series: list[float], points: int = MAX_HISTORY_POINTS) -> list[float]:
    """Every k-th point plus the last, so a long run's snapshot stays small and cheap to copy."""
    stride = -(-len(series) // points)
    if stride <= 1:
        return list(series)
    thinned = series[::stride]
    if (len(series) - 1) % stride:
        thinned.append(series[-1])
    return thinned


MAX_RECORDED_POINTS = 4096
"""A recorder keeps the latest this many points of a series whole, and thins the older ones."""
MAX_EVENTS = 100
"""A recorder keeps the latest this many events (p, lr... changed); older ones are counted, not kept."""


def bound_series(series: dict[str, list[float]], recent: int = MAX_RECORDED_POINTS) -> None:
    """Keep series recorded together bounded, in place: past ``2 * recent`` points, every second point
    older than the latest ``recent`` is dropped, in every series alike. A long run's oldest stretch is
    thinned most, its latest stays whole, and no series grows past ``2 * recent`` points."""
    for values in series.values():
        if len(values) > 2 * recent:
            values[:] = values[:-recent:2] + values[-recent:]


class EventLog:
    """The latest ``limit`` events, in order, and how many older ones were let go (``hidden``)."""

    def __init__(self, limit: int = MAX_EVENTS) -> None:
        self._events: deque[dict[str, Any]] = deque(maxlen=limit)
        self.total = 0

    def append(self, event: dict[str, Any]) -> None:
        self._events.append(event)
        self.total += 1

    @property
    def hidden(self) -> int:
        return self.total - len(self._events)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._events)

    def __len__(self) -> int:
        return len(self._events)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self._events[i]


def strict_json(value: Any) -> Any:
    """NaN and infinities (a diverged member, a one-seed error bar) become None: valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value
