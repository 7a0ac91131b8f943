"""Plotly figures built from the live runner's plain-data snapshots. No Streamlit, no torch."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import plotly.graph_objects as go

CLASS_COLORS = ("#f59322", "#0877bd")  # class 0 orange, class 1 blue
RUN_COLORS = ("#0877bd", "#e8590c")  # run A, run B
MAP_SCALE = [[0.0, "#f59322"], [0.5, "#f5f5f5"], [1.0, "#0877bd"]]
DROPPED_COLOR = "#c8c8c8"
MAX_POINTS = 400


def decimate(xs: Sequence[float], *series: Sequence[float], max_points: int = MAX_POINTS):
    """Keep at most ``max_points`` evenly spaced points (always the last one) of aligned series."""
    n = len(xs)
    if n <= max_points:
        return (list(xs), *(list(s) for s in series))
    idx = np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
    return ([xs[i] for i in idx], *([s[i] for i in idx] for s in series))


# A small template of our own: plotly's stock templates cost 5-18 ms per figure to apply,
# and the live view builds six figures several times a second.
TEMPLATE = go.layout.Template(
    layout={
        "font": {"family": "sans-serif", "size": 12, "color": "#333"},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "xaxis": {"gridcolor": "#ebebeb", "zerolinecolor": "#d0d0d0", "linecolor": "#d0d0d0"},
        "yaxis": {"gridcolor": "#ebebeb", "zerolinecolor": "#d0d0d0", "linecolor": "#d0d0d0"},
        "hoverlabel": {"font": {"size": 12}},
    }
)


def figure(traces: list[dict[str, Any]], layout: dict[str, Any]) -> go.Figure:
    """A figure from plain trace and layout dicts, not checked by plotly's validators: checking took
    ~20 ms of the ~30 ms a live view spends on its six figures, holding the GIL, at every refresh.
    The tests check every figure the app draws instead (tests/conftest.py, figures_are_validated)."""
    return go.Figure(data=traces, layout=layout, _validate=False)


def base_layout(title: str, height: int, revision: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title, "x": 0.01, "font": {"size": 14}},
        "height": height,
        "margin": {"l": 10, "r": 10, "t": 36, "b": 10},
        "uirevision": revision,
        "template": TEMPLATE,
        "legend": {"orientation": "h", "y": -0.22, "x": 0, "font": {"size": 11}},
        **extra,
    }


def decision_map(
    grid: np.ndarray | None, axis: np.ndarray, data: dict[str, np.ndarray], title: str, *, height: int = 360
) -> go.Figure:
    """P(class 1) as a heatmap, training points (circles) and validation points (small crosses)."""
    traces: list[dict[str, Any]] = []
    if grid is not None:
        traces.append({
            "type": "heatmap", "x": axis, "y": axis, "z": grid, "zmin": 0, "zmax": 1,
            "colorscale": MAP_SCALE, "opacity": 0.75,
            "colorbar": {"title": {"text": "P(blue)", "side": "right"}, "thickness": 10},
            "hovertemplate": "x=%{x:.2f}, y=%{y:.2f}<br>P(blue)=%{z:.2f}<extra></extra>",
        })
    for split, symbol, size in (("val", "x-thin", 5), ("train", "circle", 8)):
        X, y = data[f"X_{split}"], data[f"y_{split}"]
        for cls in (0, 1):
            pts = X[y == cls]
            edge = "white" if split == "train" else CLASS_COLORS[cls]
            traces.append({
                "type": "scatter", "x": pts[:, 0], "y": pts[:, 1], "mode": "markers",
                "name": f"{split} class {cls}", "showlegend": False, "hoverinfo": "skip",
                "marker": {"symbol": symbol, "size": size, "color": CLASS_COLORS[cls],
                           "line": {"width": 1.2, "color": edge}},
            })
    lim = [float(axis[0]), float(axis[-1])]
    axis_style = {"range": lim, "showgrid": False, "zeroline": False, "constrain": "domain"}
    return figure(traces, base_layout(
        title, height, "map", xaxis=axis_style, yaxis={**axis_style, "scaleanchor": "x", "scaleratio": 1},
    ))


METRICS = {
    "loss": (("train_loss", "val_loss"), "cross-entropy loss"),
    "acc": (("train_acc", "val_acc"), "accuracy"),
}


def best_epoch_marker(history: dict[str, Any], val_key: str, color: str, label: str) -> dict[str, Any] | None:
    """A star on a run's validation curve where its validation loss was lowest: where early stopping
    would have kept the weights (the first lowest, as ``core.analysis.early_stopping`` picks it). None
    before the first finite loss."""
    loss = np.asarray(history.get("val_loss", ()), dtype=float)
    if not np.isfinite(loss).any() or len(history.get(val_key, ())) < len(loss):
        return None
    i = int(np.argmin(np.where(np.isfinite(loss), loss, np.inf)))
    return {"type": "scatter", "mode": "markers", "x": [history["epoch"][i]], "y": [history[val_key][i]],
            "name": f"{label} best epoch", "legendgroup": f"{label} best",
            "marker": {"symbol": "star", "size": 13, "color": color, "line": {"color": "#ffffff", "width": 1}},
            "hovertemplate": f"{label}: lowest validation loss at epoch %{{x:.1f}} (early stopping would keep "
                             f"these weights)<br>{val_key.replace('_', ' ')} %{{y:.3f}}<extra></extra>"}


def curves(runs: Sequence[dict[str, Any]], labels: Sequence[str], metric: str, *, height: int = 300) -> go.Figure:
    """Train (solid) and validation (dashed) curves per run; dotted lines where p, lr or weight decay changed;
    a star at each run's best epoch (lowest validation loss)."""
    keys, axis_title = METRICS[metric]
    traces: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for i, (run, label) in enumerate(zip(runs, labels)):
        h = run["history"]
        xs, train, val = decimate(h["epoch"], h[keys[0]], h[keys[1]])
        color = RUN_COLORS[i % len(RUN_COLORS)]
        traces.append({"type": "scatter", "x": xs, "y": train, "name": f"{label} train",
                       "line": {"color": color, "width": 2}})
        traces.append({"type": "scatter", "x": xs, "y": val, "name": f"{label} val",
                       "line": {"color": color, "width": 2, "dash": "dash"}})
        star = best_epoch_marker(h, keys[1], color, label)
        if star is not None:
            traces.append(star)
        for event in run["events"]:
            shapes.append({"type": "line", "x0": event["epoch"], "x1": event["epoch"], "y0": 0, "y1": 1,
                           "xref": "x", "yref": "paper", "line": {"color": color, "dash": "dot", "width": 1}})
            notes.append({"x": event["epoch"], "y": 1, "xref": "x", "yref": "paper", "showarrow": False,
                          "text": event["text"], "textangle": -90, "xanchor": "right",
                          "hovertext": f"{label}: {event['text']} (epoch {event['epoch']:.1f})",
                          "yanchor": "top", "font": {"size": 10, "color": color}})
    hidden = max((run.get("events_hidden", 0) for run in runs), default=0)
    title = axis_title.capitalize()
    if hidden:
        title += f" (the latest {max(len(run['events']) for run in runs)} changes marked; {hidden} earlier ones not)"
    return figure(traces, base_layout(
        title, height, f"curves-{metric}", shapes=shapes, annotations=notes,
        xaxis={"title": {"text": "epoch", "standoff": 2}},
        yaxis={"title": {"text": axis_title}, "rangemode": "tozero"},
    ))


def network_diagram(run: dict[str, Any], title: str, *, height: int = 300) -> go.Figure:
    """Units as circles (grey with a cross when dropped at the last step), edges coloured by weight sign."""
    sizes: list[int] = run["layer_sizes"]
    weights = run["weights"]  # [out, in], already cut to the units drawn
    shown = [weights[0].shape[1]] + [w.shape[0] for w in weights]
    masks: list[list[bool]] = run["masks"]  # input layer, then hidden layers
    n_layers = len(sizes)
    pos = [[(float(li), _unit_y(j, shown[li])) for j in range(shown[li])] for li in range(n_layers)]

    traces = edge_traces(weights, pos)
    for kept in (True, False):
        xs, ys, texts = [], [], []
        for li in range(n_layers):
            mask = masks[li] if li < len(masks) else []
            for j in range(shown[li]):
                if (mask[j] if j < len(mask) else True) == kept:
                    xs.append(pos[li][j][0])
                    ys.append(pos[li][j][1])
                    texts.append(f"{_layer_name(li, n_layers)}, unit {j + 1}: {'kept' if kept else 'dropped'}")
        traces.append({
            "type": "scatter", "x": xs, "y": ys, "mode": "markers", "text": texts, "hoverinfo": "text",
            "name": "kept" if kept else "dropped this step",
            "marker": {"size": 13, "color": "#333" if kept else DROPPED_COLOR,
                       "symbol": "circle" if kept else "circle-x", "line": {"width": 1, "color": "white"}},
        })
    notes = [
        {"x": li, "y": -0.08, "showarrow": False, "font": {"size": 10}, "yanchor": "top",
         "text": _layer_name(li, n_layers) + (f"<br>({size - shown[li]} more)" if size > shown[li] else "")}
        for li, size in enumerate(sizes)
    ]
    return figure(traces, base_layout(
        title, height, "net", annotations=notes,
        xaxis={"visible": False, "range": [-0.4, n_layers - 0.6]},
        yaxis={"visible": False, "range": [-0.3, 1.05]},
    ))


def edge_traces(weights: Sequence[np.ndarray], pos: list[list[tuple[float, float]]], *, opacity: float = 0.35,
                skip: Callable[[int, int, int], bool] | None = None) -> list[dict[str, Any]]:
    """One line trace for the positive weights (blue) and one for the negative (orange).

    ``weights[li]`` is [out, in] from layer li to li + 1; ``pos[li][j]`` is unit j's place;
    ``skip(li, j, k)`` leaves out the edge from unit k of layer li to unit j of layer li + 1."""
    traces = []
    for positive, color in ((True, CLASS_COLORS[1]), (False, CLASS_COLORS[0])):
        xs: list[float | None] = []
        ys: list[float | None] = []
        for li, weight in enumerate(weights):
            for j, k in zip(*np.nonzero((weight >= 0) == positive)):
                if skip is not None and skip(li, j, k):
                    continue
                xs += [pos[li][k][0], pos[li + 1][j][0], None]
                ys += [pos[li][k][1], pos[li + 1][j][1], None]
        traces.append({"type": "scatter", "x": xs, "y": ys, "mode": "lines", "opacity": opacity,
                       "line": {"color": color, "width": 0.6}, "hoverinfo": "skip", "showlegend": False})
    return traces


def _unit_y(j: int, n: int) -> float:
    return 0.5 if n == 1 else 1.0 - j / (n - 1)


def _layer_name(li: int, n_layers: int) -> str:
    if li == 0:
        return "input"
    if li == n_layers - 1:
        return "output"
    return f"hidden {li}"
