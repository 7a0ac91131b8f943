"""Figures for lesson 1 (the mechanism), from the plain data of core.labs.mechanism.compute and .ensemble.
No Streamlit, no torch."""
from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from core.viz import CLASS_COLORS, DROPPED_COLOR, RUN_COLORS, base_layout, figure

MODE_LABELS = {"eval": "eval_mode (dropout off)", "train": "train_mode (forgot eval)", "mc": "mc_mode (only dropout on)"}
MODE_COLORS = {"eval": "#333333", "train": RUN_COLORS[1], "mc": RUN_COLORS[0]}


def mask_bars(draw: dict[str, Any], p: float, *, height: int = 320) -> go.Figure:
    """Each unit's input h, and its training output: 0 if dropped, h x 1/(1-p) if kept."""
    units = np.arange(1, len(draw["h"]) + 1)
    kept = draw["kept"]
    factor = f"×{float(draw['scale']):.2f}"
    traces = [
        {"type": "bar", "x": units, "y": draw["h"], "name": "input h (= the evaluation output)",
         "marker": {"color": "#bbbbbb"}},
        {"type": "bar", "x": units, "y": draw["inverted_train"], "name": f"training output (survivors {factor})",
         "marker": {"color": [CLASS_COLORS[1] if k else DROPPED_COLOR for k in kept]},
         "text": [factor if k and h != 0 else ("dropped" if not k else "") for k, h in zip(kept, draw["h"])],
         "textposition": "outside", "textfont": {"size": 9}},
    ]
    return figure(traces, base_layout(
        f"One mask, p = {p:g}: {int((~kept).sum())} of {len(kept)} units dropped", height, "mask-bars",
        barmode="group", xaxis={"title": {"text": "unit"}, "dtick": 1},
        yaxis={"title": {"text": "activation"}, "rangemode": "tozero"},
    ))


def batch_heatmap(mask: np.ndarray, *, height: int = 260) -> go.Figure:
    """Units x samples keep-mask: each column is one example's own mask."""
    trace = {"type": "heatmap", "z": mask.astype(int), "zmin": 0, "zmax": 1, "showscale": False,
             "colorscale": [[0, DROPPED_COLOR], [0.5, DROPPED_COLOR], [0.5, CLASS_COLORS[1]], [1, CLASS_COLORS[1]]],
             "x": np.arange(1, mask.shape[1] + 1), "y": np.arange(1, mask.shape[0] + 1), "xgap": 1, "ygap": 1,
             "hovertemplate": "example %{x}, unit %{y}: %{z}<extra>1 = kept, 0 = dropped</extra>"}
    return figure([trace], base_layout(
        "A batch: one independent mask per example (blue = kept, grey = dropped)", height, "batch",
        xaxis={"title": {"text": "example in the batch"}}, yaxis={"title": {"text": "unit"}, "autorange": "reversed"},
    ))


def convergence(inverted: dict[str, Any], classic: dict[str, Any], *, height: int = 340) -> go.Figure:
    """Running mean of the layer's dropped output over k masks, with the +-2 sd band expected at k."""
    traces: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    for run, name, color in ((inverted, "inverted (÷keep in training)", RUN_COLORS[0]),
                             (classic, "classic (no training scale)", RUN_COLORS[1])):
        k, target, band = run["counts"], run["target"], run["band"]
        traces += [
            {"type": "scatter", "x": k, "y": target + band, "mode": "lines", "line": {"width": 0},
             "showlegend": False, "hoverinfo": "skip"},
            {"type": "scatter", "x": k, "y": target - band, "mode": "lines", "line": {"width": 0},
             "fill": "tonexty", "fillcolor": _fade(color), "name": f"{name}: ±2 sd expected", "hoverinfo": "skip"},
            {"type": "scatter", "x": k, "y": run["running_mean"], "mode": "lines", "name": f"{name}: running mean",
             "line": {"color": color, "width": 2}},
        ]
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": target, "y1": target,
                       "line": {"color": color, "dash": "dash", "width": 1}})
    return figure(traces, base_layout(
        "Average over k masks → its evaluation output (dashed)", height, "convergence", shapes=shapes,
        xaxis={"title": {"text": "number of masks k"}, "type": "log"},
        yaxis={"title": {"text": "mean of the layer's output"}},
    ))


def mode_spread(spreads: dict[str, np.ndarray], point_labels: list[str], *, height: int = 340) -> go.Figure:
    """P(blue) for each fixed input over many passes, one box per mode and input."""
    traces = []
    for mode, values in spreads.items():  # values: [passes, points]
        passes = values.shape[0]
        traces.append({
            "type": "box", "name": MODE_LABELS[mode], "x": np.repeat(point_labels, passes),
            "y": values.T.reshape(-1), "boxpoints": "all", "jitter": 0.4, "pointpos": 0,
            "marker": {"size": 3, "color": MODE_COLORS[mode]}, "line": {"color": MODE_COLORS[mode]},
        })
    return figure(traces, base_layout(
        "The same five inputs, many forward passes", height, "modes", boxmode="group",
        yaxis={"title": {"text": "P(blue)"}, "range": [-0.02, 1.02]},
    ))


def _fade(hex_color: str, alpha: float = 0.18) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


ENSEMBLE_COLORS = {"arithmetic": RUN_COLORS[0], "geometric": "#2f9e44"}
ENSEMBLE_LABELS = {"arithmetic": "arithmetic mean of K thinned nets", "geometric": "normalized geometric mean"}


def ensemble_view(result: Any, *, height: int = 340) -> go.Figure:
    """K thinned networks combined (``core.labs.mechanism.ensemble.EnsembleResult``), against K on a log
    axis: left, the mean |P - P_full| to the full network; right, the validation log loss. The full
    (weight-scaled) network is the dashed line in each panel."""
    ks = list(result.ks)
    traces: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    for n, (metric, full) in enumerate((("gap", 0.0), ("log_loss", result.full.log_loss))):
        axis = "" if n == 0 else "2"
        for kind in ("arithmetic", "geometric"):
            traces.append({
                "type": "scatter", "x": ks, "y": result.series(kind, metric), "mode": "lines+markers",
                "xaxis": f"x{axis}", "yaxis": f"y{axis}", "name": ENSEMBLE_LABELS[kind], "legendgroup": kind,
                "showlegend": n == 0, "line": {"color": ENSEMBLE_COLORS[kind]},
                "hovertemplate": f"K = %{{x}}: %{{y:.4f}}<extra>{ENSEMBLE_LABELS[kind]}</extra>",
            })
        shapes.append({"type": "line", "xref": f"x{axis} domain", "x0": 0, "x1": 1, "yref": f"y{axis}",
                       "y0": float(full), "y1": float(full), "line": {"color": "#333333", "dash": "dash"}})
    traces.append({"type": "scatter", "x": [None], "y": [None], "mode": "lines", "hoverinfo": "skip",
                   "name": "full network (weight scaling)", "line": {"color": "#333333", "dash": "dash"}})
    k_axis = {"type": "log", "title": {"text": "K (thinned networks averaged)", "standoff": 2}, "fixedrange": True,
              "tickvals": ks, "ticktext": [str(k) for k in ks]}
    return figure(traces, base_layout(
        f"K of the 2^{result.n_units} thinned networks, combined, against the full network", height, "ensemble",
        shapes=shapes,
        xaxis={**k_axis, "domain": [0, 0.45]},
        yaxis={"title": {"text": "mean |P − P_full| (validation)"}, "rangemode": "tozero", "fixedrange": True},
        xaxis2={**k_axis, "domain": [0.55, 1], "anchor": "y2"},
        yaxis2={"anchor": "x2", "title": {"text": "validation log loss (nats)"}, "fixedrange": True},
    ))
