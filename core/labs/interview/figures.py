"""Plotly figures for the interview page, from plain data: an experiment's measured bars, a score's
misconception breakdown, and the learner's layer trained next to ours. No Streamlit, no torch."""
from __future__ import annotations

from typing import Any, Mapping

import plotly.graph_objects as go

import core.viz as viz

OURS, YOURS = viz.RUN_COLORS


def experiment_bars(bars: Mapping[str, float], unit: str, title: str) -> go.Figure:
    """What a predict-then-observe experiment measured: one bar per number."""
    labels = list(bars)
    trace = {"type": "bar", "x": labels, "y": [bars[k] for k in labels], "marker": {"color": OURS},
             "text": [f"{bars[k]:.3g}" for k in labels], "textposition": "outside", "hovertemplate": "%{x}: %{y:.4g}<extra></extra>"}
    layout = viz.base_layout(title, 300, "experiment", yaxis={"title": {"text": unit}, "rangemode": "tozero"},
                             showlegend=False)
    return viz.figure([trace], layout)


def misconception_bars(counts: Mapping[str, int], sentences: Mapping[str, str], title: str) -> go.Figure:
    """How often each misconception showed in the misses, the most frequent on top; hover gives its sentence."""
    keys = list(counts)[::-1]
    trace = {"type": "bar", "orientation": "h", "y": keys, "x": [counts[k] for k in keys],
             "marker": {"color": YOURS}, "customdata": [sentences.get(k, "") for k in keys],
             "hovertemplate": "%{y}: %{x} miss(es)<br>%{customdata}<extra></extra>"}
    layout = viz.base_layout(title, 80 + 28 * max(1, len(keys)), "misconceptions",
                             xaxis={"title": {"text": "misses"}, "dtick": 1, "rangemode": "tozero"}, showlegend=False)
    return viz.figure([trace], layout)


def network_curves(curves: Mapping[str, Any], metric: str, title: str) -> go.Figure:
    """Our Dropout and the learner's in the same network from the same seed: ``metric`` against the step."""
    steps = list(curves.get("step", []))
    traces = []
    for name, color, dash in (("ours", OURS, "solid"), ("yours", YOURS, "dash")):
        values = list(curves.get(name, {}).get(metric, []))
        traces.append({"type": "scatter", "mode": "lines", "x": steps[:len(values)], "y": values,
                       "name": "our Dropout" if name == "ours" else "your Dropout",
                       "line": {"color": color, "dash": dash, "width": 2}})
    axis = {"val_acc": "validation accuracy", "val_loss": "validation loss", "train_loss": "training loss"}
    layout = viz.base_layout(title, 300, "network-" + metric, xaxis={"title": {"text": "step"}},
                             yaxis={"title": {"text": axis.get(metric, metric)}})
    return viz.figure(traces, layout)
