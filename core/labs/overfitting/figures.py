"""Figures for the paper experiments, from an ``ExperimentResult``'s plain data. No Streamlit."""
from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from core.analysis.early_stopping import stopped
from core.labs.overfitting.experiments import ExperimentResult
from core.labs.overfitting.verdicts import REGULARIZERS, gains, mean_se
from core.viz import RUN_COLORS, base_layout

PAPER_COLORS = {"dropout": RUN_COLORS[0], "no dropout": RUN_COLORS[1], "fixed n": RUN_COLORS[1],
                "fixed (1−p)·n": RUN_COLORS[0], "": RUN_COLORS[0]}
HEIGHT = 380


def _pct(values: list[float]) -> list[float | None]:
    return [None if not np.isfinite(v) else 100 * v for v in values]


def _series(rows: list[dict[str, Any]], x: str, metric: str, name: str, color: str, *, dash: str = "solid",
            scale: float = 100.0) -> dict[str, Any]:
    xs = [r[x] for r in rows]
    ys = [r[metric] * scale for r in rows]
    se = [0.0 if not np.isfinite(r[metric + "_se"]) else r[metric + "_se"] * scale for r in rows]
    return {
        "type": "scatter", "mode": "lines+markers", "name": name, "x": xs, "y": ys,
        "error_y": {"type": "data", "array": se, "visible": True, "thickness": 1.2, "width": 4},
        "line": {"color": color, "dash": dash, "width": 2}, "marker": {"size": 7},
        "hovertemplate": f"{name}<br>{x} %{{x}}<br>%{{y:.1f}} ± %{{error_y.array:.1f}}<extra></extra>",
    }


def rate_figure(result: ExperimentResult) -> go.Figure:
    """Fig. 9a: validation and training error vs p, mean ± standard error over seeds."""
    rows = sorted(result.rows, key=lambda r: r["p"])
    traces = [
        _series(rows, "p", "val_err", "validation error", RUN_COLORS[0]),
        _series(rows, "p", "train_err", "training error", RUN_COLORS[1], dash="dot"),
    ]
    layout = base_layout(f"Error vs p ({rows[0]['seeds']} seeds, mean ± 1 se)", HEIGHT, "fig9a",
                         xaxis={"title": {"text": "p, the drop probability (the paper's axis is keep = 1 − p)"}},
                         yaxis={"title": {"text": "error (%)"}, "rangemode": "tozero"})
    return go.Figure({"data": traces, "layout": layout})


def fixed_pn_figure(result: ExperimentResult) -> go.Figure:
    """Fig. 9b: both series, fixed n and fixed (1−p)·n."""
    traces = []
    for label in ("fixed n", "fixed (1−p)·n"):
        rows = sorted((r for r in result.rows if r["label"] == label), key=lambda r: r["p"])
        color = PAPER_COLORS[label]
        traces.append(_series(rows, "p", "val_err", f"{label}: validation", color))
        traces.append(_series(rows, "p", "train_err", f"{label}: training", color, dash="dot"))
    layout = base_layout("Error vs p: fixed width n, or width n/(1 − p)", HEIGHT, "fig9b",
                         xaxis={"title": {"text": "p, the drop probability"}},
                         yaxis={"title": {"text": "error (%)"}, "rangemode": "tozero"})
    return go.Figure({"data": traces, "layout": layout})


def size_figures(result: ExperimentResult) -> list[go.Figure]:
    """Fig. 10: validation error vs training-set size with and without dropout, and the gain."""
    traces = []
    for label in ("no dropout", "dropout"):
        rows = sorted((r for r in result.rows if r["label"] == label), key=lambda r: r["n_train"])
        traces.append(_series(rows, "n_train", "val_err", label, PAPER_COLORS[label]))
    errors = go.Figure({"data": traces, "layout": base_layout(
        "Validation error vs training-set size", HEIGHT, "fig10",
        xaxis={"title": {"text": "training points (log scale)"}, "type": "log"},
        yaxis={"title": {"text": "validation error (%)"}, "rangemode": "tozero"})})
    g = gains(result.sweep.members)
    sizes = sorted(g)
    stats = [mean_se(g[n].values()) for n in sizes]
    bars = {
        "type": "bar", "x": [str(n) for n in sizes], "y": _pct([m for m, _ in stats]),
        "error_y": {"type": "data", "array": [0 if not np.isfinite(s) else 100 * s for _, s in stats], "visible": True},
        "marker": {"color": RUN_COLORS[0]}, "name": "gain",
        "hovertemplate": "n = %{x}<br>gain %{y:.1f} points<extra></extra>",
    }
    gain = go.Figure({"data": [bars], "layout": base_layout(
        "Gain from dropout: error without − error with (points)", HEIGHT, "fig10-gain",
        xaxis={"title": {"text": "training points"}, "type": "category"},
        yaxis={"title": {"text": "gain (percentage points)"}}, showlegend=False)})
    return [errors, gain]


def curves_figure(result: ExperimentResult) -> go.Figure:
    """Hinton et al. 2012: mean training and validation loss over seeds, with and without dropout."""
    traces = []
    for label in ("no dropout", "dropout"):
        runs = [m["curves"] for m in result.sweep.members if m["label"] == label]
        epochs = runs[0]["epoch"]
        for metric, dash in (("train_loss", "dot"), ("val_loss", "solid")):
            values = np.array([r[metric] for r in runs], dtype=float)
            finite = np.isfinite(values).sum(axis=0)  # a diverged run counts for nothing
            mean = np.nanmean(values, axis=0)
            se = (np.nanstd(values, axis=0, ddof=1) / np.sqrt(finite)) if len(runs) > 1 else np.zeros_like(mean)
            name = f"{label}: {'training' if metric == 'train_loss' else 'validation'} loss"
            color = PAPER_COLORS[label]
            traces.append({"type": "scatter", "mode": "lines", "x": list(epochs) + list(epochs)[::-1],
                           "y": list(mean + se) + list(mean - se)[::-1], "fill": "toself", "line": {"width": 0},
                           "fillcolor": color, "opacity": 0.15, "hoverinfo": "skip", "showlegend": False})
            traces.append({"type": "scatter", "mode": "lines", "name": name, "x": epochs, "y": mean.tolist(),
                           "line": {"color": color, "dash": dash, "width": 2}})
            if metric == "val_loss" and np.isfinite(mean).any():  # where early stopping would stop, on average
                best = int(np.nanargmin(mean))
                stops = [stopped(m)["stopped_epoch"] for m in result.sweep.members if m["label"] == label]
                stops = [e for e in stops if e is not None]
                traces.append({"type": "scatter", "mode": "markers", "x": [epochs[best]], "y": [float(mean[best])],
                               "name": f"{label}: best epoch", "marker": {"symbol": "star", "size": 14, "color": color,
                                                                          "line": {"color": "#ffffff", "width": 1}},
                               "hovertemplate": f"{label}: the mean validation loss is lowest at epoch %{{x:.0f}}"
                                                f"<br>each seed's own best epoch: {min(stops):.0f} to {max(stops):.0f}"
                                                "<extra></extra>" if stops else None})
    layout = base_layout(f"Loss during training (mean of {len(runs)} seeds, band ± 1 se)", HEIGHT, "hinton",
                         xaxis={"title": {"text": "epoch"}}, yaxis={"title": {"text": "cross-entropy loss"},
                                                                      "rangemode": "tozero"})
    return go.Figure({"data": traces, "layout": layout})


def regularizer_figure(result: ExperimentResult) -> go.Figure:
    """Table 9: validation error per regularizer, lowest at the top."""
    rows = sorted((r for r in result.rows if r["label"] in REGULARIZERS), key=lambda r: -r["val_err"])
    colors = [RUN_COLORS[0] if r["label"].startswith("dropout") else RUN_COLORS[1] for r in rows]
    bars = {
        "type": "bar", "orientation": "h", "y": [r["label"] for r in rows], "x": [100 * r["val_err"] for r in rows],
        "error_x": {"type": "data", "array": [0 if not np.isfinite(r["val_err_se"]) else 100 * r["val_err_se"]
                                              for r in rows], "visible": True},
        "marker": {"color": colors}, "hovertemplate": "%{y}: %{x:.1f} %<extra></extra>",
        "text": [f"{100 * r['val_err']:.1f} %" for r in rows], "textposition": "inside", "insidetextanchor": "start",
    }
    layout = base_layout("Validation error by regularizer (mean ± 1 se; blue = with dropout)", HEIGHT, "table9",
                         xaxis={"title": {"text": "validation error (%)"}, "rangemode": "tozero"}, showlegend=False)
    layout["margin"] = {**layout["margin"], "l": 140}
    return go.Figure({"data": [bars], "layout": layout})


def figures(result: ExperimentResult) -> list[go.Figure]:
    key = result.experiment
    if key == "fig9a":
        return [rate_figure(result)]
    if key == "fig9b":
        return [fixed_pn_figure(result)]
    if key == "fig10":
        return size_figures(result)
    if key == "hinton":
        return [curves_figure(result)]
    if key == "table9":
        return [regularizer_figure(result)]
    raise ValueError(f"no figure for experiment {key!r}")
