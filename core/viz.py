"""Plotly figures built from the live runner's plain-data snapshots. No Streamlit, no torch."""
from __future__ import annotations

from typing import Any, Sequence

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


def _base_layout(fig: go.Figure, title: str, height: int, revision: str) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "font": {"size": 14}},
        height=height,
        margin={"l": 10, "r": 10, "t": 36, "b": 10},
        uirevision=revision,
        template="plotly_white",
        legend={"orientation": "h", "y": -0.15},
    )
    return fig


def decision_map(
    grid: np.ndarray | None, axis: np.ndarray, data: dict[str, np.ndarray], title: str, *, height: int = 360
) -> go.Figure:
    """P(class 1) as a heatmap, training points (circles) and validation points (small crosses)."""
    fig = go.Figure()
    if grid is not None:
        fig.add_trace(
            go.Heatmap(
                x=axis, y=axis, z=grid, zmin=0, zmax=1, colorscale=MAP_SCALE, opacity=0.75,
                colorbar={"title": {"text": "P(blue)", "side": "right"}, "thickness": 10},
                hovertemplate="x=%{x:.2f}, y=%{y:.2f}<br>P(blue)=%{z:.2f}<extra></extra>",
            )
        )
    for split, symbol, size, line in (("val", "x-thin", 5, 1.2), ("train", "circle", 8, 1.0)):
        X, y = data[f"X_{split}"], data[f"y_{split}"]
        for cls in (0, 1):
            pts = X[y == cls]
            fig.add_trace(
                go.Scatter(
                    x=pts[:, 0], y=pts[:, 1], mode="markers", name=f"{split} class {cls}",
                    marker={"symbol": symbol, "size": size, "color": CLASS_COLORS[cls],
                            "line": {"width": line, "color": "white" if split == "train" else CLASS_COLORS[cls]}},
                    showlegend=False, hoverinfo="skip",
                )
            )
    lim = [float(axis[0]), float(axis[-1])]
    fig.update_xaxes(range=lim, showgrid=False, zeroline=False, constrain="domain")
    fig.update_yaxes(range=lim, showgrid=False, zeroline=False, scaleanchor="x", scaleratio=1)
    return _base_layout(fig, title, height, "map")


METRICS = {
    "loss": (("train_loss", "val_loss"), "cross-entropy loss"),
    "acc": (("train_acc", "val_acc"), "accuracy"),
}


def curves(runs: Sequence[dict[str, Any]], labels: Sequence[str], metric: str, *, height: int = 300) -> go.Figure:
    """Train (solid) and validation (dashed) curves per run; dotted lines where p, lr or weight decay changed."""
    keys, axis_title = METRICS[metric]
    fig = go.Figure()
    for i, (run, label) in enumerate(zip(runs, labels)):
        h = run["history"]
        xs, train, val = decimate(h["epoch"], h[keys[0]], h[keys[1]])
        color = RUN_COLORS[i % len(RUN_COLORS)]
        fig.add_trace(go.Scatter(x=xs, y=train, name=f"{label} train", line={"color": color, "width": 2}))
        fig.add_trace(go.Scatter(x=xs, y=val, name=f"{label} val", line={"color": color, "width": 2, "dash": "dash"}))
        for event in run["events"]:
            fig.add_vline(
                x=event["epoch"], line={"color": color, "dash": "dot", "width": 1},
                annotation={"text": f"{label}: {event['text']}", "font": {"size": 10, "color": color},
                            "textangle": -90, "yanchor": "top"},
            )
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(title=axis_title, rangemode="tozero")
    return _base_layout(fig, axis_title.capitalize(), height, f"curves-{metric}")


def network_diagram(run: dict[str, Any], title: str, *, height: int = 300) -> go.Figure:
    """Units as circles (grey with a cross when dropped at the last step), edges coloured by weight sign."""
    sizes: list[int] = run["layer_sizes"]
    weights = run["weights"]  # [out, in], already cut to the units drawn
    shown = [weights[0].shape[1]] + [w.shape[0] for w in weights]
    masks: list[list[bool]] = run["masks"]  # input layer, then hidden layers
    n_layers = len(sizes)
    pos = [[(float(li), _unit_y(j, shown[li])) for j in range(shown[li])] for li in range(n_layers)]

    fig = go.Figure()
    for sign, color in ((1, "#0877bd"), (-1, "#f59322")):
        xs: list[float | None] = []
        ys: list[float | None] = []
        for li, weight in enumerate(weights):
            for j in range(shown[li + 1]):
                for k in range(shown[li]):
                    if (weight[j, k] >= 0) == (sign > 0):
                        xs += [pos[li][k][0], pos[li + 1][j][0], None]
                        ys += [pos[li][k][1], pos[li + 1][j][1], None]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": color, "width": 0.6},
                                 opacity=0.35, hoverinfo="skip", showlegend=False))
    for kept in (True, False):
        xs, ys, texts = [], [], []
        for li in range(n_layers):
            mask = masks[li] if li < len(masks) else []
            for j in range(shown[li]):
                is_kept = mask[j] if j < len(mask) else True
                if is_kept == kept:
                    xs.append(pos[li][j][0])
                    ys.append(pos[li][j][1])
                    texts.append(f"{_layer_name(li, n_layers)}, unit {j + 1}: {'kept' if kept else 'dropped'}")
        fig.add_trace(go.Scatter(
            x=xs, y=ys, mode="markers", text=texts, hoverinfo="text",
            name="kept" if kept else "dropped this step",
            marker={"size": 13, "color": "#333" if kept else DROPPED_COLOR,
                    "symbol": "circle" if kept else "circle-x", "line": {"width": 1, "color": "white"}},
        ))
    for li, size in enumerate(sizes):
        label = _layer_name(li, n_layers) + (f"<br>({size - shown[li]} more)" if size > shown[li] else "")
        fig.add_annotation(x=li, y=-0.08, text=label, showarrow=False, font={"size": 10}, yanchor="top")
    fig.update_xaxes(visible=False, range=[-0.4, n_layers - 0.6])
    fig.update_yaxes(visible=False, range=[-0.3, 1.05])
    return _base_layout(fig, title, height, "net")


def _unit_y(j: int, n: int) -> float:
    return 0.5 if n == 1 else 1.0 - j / (n - 1)


def _layer_name(li: int, n_layers: int) -> str:
    if li == 0:
        return "input"
    if li == n_layers - 1:
        return "output"
    return f"hidden {li}"
