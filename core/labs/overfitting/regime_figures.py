"""The regime map's figures, from a ``RegimeResult``'s plain data. No Streamlit.

Each grid is a heatmap of the gain from dropout (validation error at p = 0 minus at the map's p,
in percentage points, averaged over seeds), blue where dropout helps and red where it hurts, on a
colour scale symmetric about 0; each cell carries its paired verdict as a mark: ✓ holds (dropout
lowers the error), ✗ does not hold (it raises it), · unclear.
"""
from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go

from core.analysis.verdicts import FAILS, HOLDS
from core.labs.overfitting.regime import RegimeResult
from core.viz import base_layout

MARKS = {HOLDS: "✓", FAILS: "✗"}
UNCLEAR_MARK = "·"
AXIS_TITLES = {"noise": "noise (class overlap)", "width": "hidden width (units per layer)"}


def mark(status: str) -> str:
    return MARKS.get(status, UNCLEAR_MARK)


def _points(x: float) -> float | None:
    return 100 * x if math.isfinite(x) else None


def grid_figure(result: RegimeResult, axis: str, *, limit: float | None = None, height: int = 360) -> go.Figure:
    """One grid: rows are training-set sizes (smallest at the bottom), columns noises or widths."""
    grid = result.grid(axis)
    gains = [[_points(c["gain"]) for c in row] for row in grid["cells"]]
    finite = [abs(g) for row in gains for g in row if g is not None]
    limit = limit or max([1.0, *finite])
    text = [[("n/a" if g is None else f"{g:+.1f}") + f" {mark(c['status'])}" for g, c in zip(grow, row)]
            for grow, row in zip(gains, grid["cells"])]
    hover = [[f"n = {c['n_train']}, noise {c['noise']:g}, width {c['width']}<br>"
              f"error {100 * c['val_err_off']:.1f} % at p = 0, {100 * c['val_err_on']:.1f} % at p = "
              f"{result.settings.p:g}<br>gain {100 * c['gain']:+.1f} ± {100 * c['gain_se']:.1f} points "
              f"({c['seeds']} seeds): {c['status']}" for c in row] for row in grid["cells"]]
    columns = [f"{v:g}" for v in grid["columns"]]
    rows = [str(n) for n in grid["sizes"]]
    trace = {
        "type": "heatmap", "z": gains, "x": columns, "y": rows, "text": text, "texttemplate": "%{text}",
        "textfont": {"size": 13}, "customdata": hover, "hovertemplate": "%{customdata}<extra></extra>",
        "colorscale": "RdBu", "zmid": 0, "zmin": -limit, "zmax": limit,
        "colorbar": {"title": {"text": "gain<br>(points)"}, "thickness": 12},
    }
    fixed = ", ".join(f"{k} {v:g}" for k, v in grid["fixed"].items())
    title = f"Gain from dropout (p = {result.settings.p:g}): training points x {axis}, {fixed}"
    return go.Figure([trace], base_layout(
        title, height, f"regime-{axis}",
        xaxis={"title": {"text": AXIS_TITLES[axis]}, "type": "category"},
        yaxis={"title": {"text": "training points"}, "type": "category"},
    ))


def figures(result: RegimeResult) -> list[go.Figure]:
    """Both grids on one colour scale, so equal colours mean equal gains."""
    finite = [abs(100 * c["gain"]) for c in result.cells if math.isfinite(c["gain"])]
    limit = max([1.0, *finite])
    return [grid_figure(result, axis, limit=limit) for axis in ("noise", "width")]


def summary(result: RegimeResult) -> dict[str, Any]:
    """The numbers the page's caption (and lesson 3's text) quote."""
    counts = result.counts()
    best = max(result.cells, key=lambda c: c["gain"] if math.isfinite(c["gain"]) else -math.inf)
    worst = min(result.cells, key=lambda c: c["gain"] if math.isfinite(c["gain"]) else math.inf)
    return {"cells": len(result.cells), **counts, "best": best, "worst": worst}
