"""Plotly figures and captions for lesson 7, from plain data: the live runner's masks and the experiments'
results (``VariantResult``). No Streamlit, no torch.

A mask is drawn the way its variant draws it: a strip of units (kept / dropped, or Gaussian
multipliers), a weight matrix for DropConnect (out x in), time x units for an RNN's locked or naive
masks, and blocks x examples for DropPath.
"""
from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

import numpy as np

import core.viz as viz  # viz.figure, looked up at each call (the tests validate every figure through it)

MASK_SCALE = [[0.0, viz.DROPPED_COLOR], [1.0, "#1c3d6e"]]  # dropped grey, kept dark blue
NOISE_SCALE = [[0.0, "#c92a2a"], [0.5, "#f5f5f5"], [1.0, "#1c3d6e"]]  # a multiplier below 1 red, above 1 blue
X_KEYS = ("epoch", "step", "layer", "n_train", "t", "size")
SIDE_COLORS = ("#868e96", "#0877bd", "#e8590c", "#2b8a3e", "#ae3ec9", "#f59f00")


def _heatmap(z: np.ndarray, title: str, *, scale: list, zmin: float, zmax: float, x_title: str, y_title: str,
             height: int = 170, hover: str = "") -> Any:
    trace = {"type": "heatmap", "z": z.tolist(), "colorscale": scale, "zmin": zmin, "zmax": zmax,
             "showscale": False, "hovertemplate": hover or f"{x_title} %{{x}}, {y_title} %{{y}}: %{{z}}<extra></extra>"}
    return viz.figure([trace], viz.base_layout(title, height, "mask-" + title, xaxis={"title": {"text": x_title}},
                                               yaxis={"title": {"text": y_title}, "autorange": "reversed"}))


def mask_figure(mask: Sequence[Any], kind: str, title: str) -> Any:
    """One layer's mask of the last step, for example 0: units, or DropConnect's weights (``[]``: nothing drawn)."""
    z = np.asarray(mask, dtype=float)
    if z.size == 0:
        return _heatmap(np.zeros((1, 1)), f"{title}: p = 0, nothing dropped", scale=MASK_SCALE, zmin=0, zmax=1,
                        x_title="unit", y_title="")
    if kind == "dropconnect" and z.ndim == 2:
        return _heatmap(z, f"{title}: weight mask (each example its own)", scale=MASK_SCALE, zmin=0, zmax=1,
                        x_title="input unit", y_title="output unit", height=max(170, min(320, 40 + 3 * z.shape[0])),
                        hover="weight from %{x} to %{y}: %{z} (1 kept, 0 dropped)<extra></extra>")
    z = z.reshape(1, -1)
    if kind in ("gaussian", "concrete"):
        spread = max(1e-6, float(np.abs(z - 1).max()))
        return _heatmap(z, f"{title}: multipliers (1 = unchanged)", scale=NOISE_SCALE, zmin=1 - spread,
                        zmax=1 + spread, x_title="unit", y_title="", height=130,
                        hover="unit %{x}: × %{z:.2f}<extra></extra>")
    return _heatmap(z, f"{title}: units kept (blue) and dropped (grey)", scale=MASK_SCALE, zmin=0, zmax=1,
                    x_title="unit", y_title="", height=130, hover="unit %{x}: %{z} (1 kept, 0 dropped)<extra></extra>")


def mask_signature(mask: Sequence[Any], kind: str, p: float) -> str:
    """What this one mask shows of the variant's signature, against its theory, in a sentence."""
    z = np.asarray(mask, dtype=float)
    if z.size == 0:
        return "Nothing was dropped at this step (p = 0, or the run has not stepped yet)."
    n = z.size
    se = math.sqrt(max(p * (1 - p), 1e-12) / n)
    if kind in ("gaussian", "concrete"):
        return (f"{n} multipliers at this step: mean {z.mean():.2f} (theory 1), variance {z.var():.2f}"
                + (f" (theory p/(1-p) = {p / (1 - p):.2f})." if kind == "gaussian" and p < 1 else "."))
    what = "weights" if kind == "dropconnect" and z.ndim == 2 else "units"
    extra = " Every example of the minibatch draws its own weight mask; this is example 0's." \
        if what == "weights" else ""
    return (f"{int(z.sum())} of {n} {what} kept at this step: {z.mean():.0%} (theory 1 - p = {1 - p:.0%}, "
            f"± {se:.0%} for {n} draws).{extra}")


# -- experiment results ------------------------------------------------------------------------------
def _leaves(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str, dict[str, list]]]:
    """Every dict under ``node`` that holds an x series (``X_KEYS``) and y series of the same length."""
    if not isinstance(node, dict):
        return
    x_key = next((k for k in X_KEYS if isinstance(node.get(k), list)), None)
    if x_key is not None:
        n = len(node[x_key])
        ys = {k: v for k, v in node.items() if k != x_key and isinstance(v, list) and len(v) == n and n > 0
              and all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in v)}
        if ys:
            yield path, x_key, {x_key: node[x_key], **ys}
            return
    for key, child in node.items():
        yield from _leaves(child, (*path, str(key)))


def series_figures(series: dict[str, Any]) -> list[Any]:
    """One line chart per (group, measured quantity), one line per side: the groups are the series' nesting."""
    groups: dict[tuple[tuple[str, ...], str, str], list[tuple[str, list, list]]] = {}
    for path, x_key, data in _leaves(series):
        group, side = path[:-1], path[-1] if path else ""
        for y_key, ys in data.items():
            if y_key != x_key:
                groups.setdefault((group, x_key, y_key), []).append((side, data[x_key], ys))
    figs = []
    for (group, x_key, y_key), lines in groups.items():
        traces = []
        for i, (side, xs, ys) in enumerate(lines):
            xs, ys = viz.decimate(xs, ys)
            traces.append({"type": "scatter", "x": xs, "y": [None if not math.isfinite(v) else v for v in ys],
                           "name": side, "mode": "lines" if len(xs) > 12 else "lines+markers",
                           "line": {"color": SIDE_COLORS[i % len(SIDE_COLORS)], "width": 2}})
        title = " · ".join([*group, y_key.replace("_", " ")]) + f" by {x_key.replace('_', ' ')}"
        figs.append(viz.figure(traces, viz.base_layout(title, 300, "series-" + title,
                                                       xaxis={"title": {"text": x_key.replace("_", " ")}},
                                                       yaxis={"title": {"text": y_key.replace("_", " ")}})))
    return figs


def _matrices(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, np.ndarray]]:
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _matrices(child, (*path, str(key)))
    elif isinstance(node, list) and node and all(isinstance(r, list) and r for r in node):
        z = np.asarray(node, dtype=float)
        if z.ndim == 2:
            yield " · ".join(path), z


AXES = {"branch": ("residual block", "example"), "mask": ("time step", "unit")}
"""A signature table's rows and columns, by a word in its name: DropPath's branch mask (one row per block, one
column per example of the minibatch), an RNN's mask (one row per time step)."""


def result_figures(result: Any) -> list[Any]:
    """The signature's masks (any 2-D table, e.g. time x units) as heatmaps, then the series' line charts."""
    figs = []
    for name, z in _matrices(result.signature):
        binary = bool(np.isin(z, (0.0, 1.0)).all())
        rows, cols = AXES.get(next((k for k in AXES if k in name), ""), ("row", "column"))
        suffix = f": {rows} x {cols}, blue kept, grey dropped" if binary and rows != "row" else ""
        figs.append(_heatmap(z, name.replace("_", " ") + suffix, scale=MASK_SCALE if binary else NOISE_SCALE,
                             zmin=0 if binary else float(z.min()), zmax=1 if binary else float(z.max()),
                             x_title=cols, y_title=rows, height=max(170, min(320, 40 + 8 * z.shape[0]))))
    return figs + series_figures(result.series)


def signature_text(signature: dict[str, Any]) -> str:
    """The signature's plain numbers and words, in one line (tables are drawn, not written)."""
    parts = []
    for key, value in signature.items():
        if isinstance(value, bool) or isinstance(value, str):
            parts.append(f"{key.replace('_', ' ')}: {value}")
        elif isinstance(value, (int, float)):
            parts.append(f"{key.replace('_', ' ')} {value:.4g}" if math.isfinite(value) else f"{key} n/a")
    return "; ".join(parts)


def summary_table(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each side's numbers as 'mean ± se' text, one row per side."""
    table = []
    for row in rows:
        out: dict[str, Any] = {"side": row.get("label", "")}
        for key, value in row.items():
            if key in ("label",) or key.endswith("_se"):
                continue
            se = row.get(key + "_se")
            if isinstance(value, float) and isinstance(se, float) and math.isfinite(se):
                out[key.replace("_", " ")] = f"{value:.4g} ± {se:.2g}"
            else:
                out[key.replace("_", " ")] = value if not isinstance(value, float) else f"{value:.4g}"
        table.append(out)
    return table
