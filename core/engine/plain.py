"""Plain data for snapshots and results: read-only arrays, thinned series, strict JSON.

Results and snapshots cross threads, processes and Streamlit's cache; these helpers keep them
small, immutable and valid JSON, for every lab alike.
"""
from __future__ import annotations

import math
from typing import Any

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


def strict_json(value: Any) -> Any:
    """NaN and infinities (a diverged member, a one-seed error bar) become None: valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value
