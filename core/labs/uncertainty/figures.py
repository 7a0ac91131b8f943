"""Plotly figures for lesson 5 (MC dropout and uncertainty), from plain data. No Streamlit, no torch.

``regression`` draws a ``core.labs.uncertainty.regression_runner`` snapshot; the classification figures draw
``core.analysis.mc`` results; ``path`` draws a digit leaving the data (``core.labs.uncertainty.shift``).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go

from core.viz import CLASS_COLORS, MAP_SCALE, RUN_COLORS, base_layout, figure

MEAN_COLOR = "#0b7285"
PASS_COLOR = "rgba(11, 114, 133, 0.18)"
BAND_COLORS = ("rgba(11, 114, 133, 0.14)", "rgba(11, 114, 133, 0.24)")  # +-2 std, +-1 std
ADDED_COLOR = "#e8590c"
UNCERTAINTY_SCALE = "Viridis"
CLICK_ROWS = 41
"""Rows of the invisible click layer of the regression plot: a click adds a point at the nearest of them."""
MAX_LINES = 200
LINE_POINTS = 120


def _lines(x: np.ndarray, passes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All passes as one line trace, separated by gaps (one trace draws far faster than 200).

    Float32 arrays with NaN at the gaps: Plotly sends numpy arrays as base64, about a sixth of the JSON
    of full-precision numbers (the lines were 344 kB of a 434 kB figure, at every redraw). A grid finer
    than LINE_POINTS is thinned to every other point for them: a 1-px line does not show the difference,
    and a slow browser draws them again at every redraw."""
    rows = np.asarray(passes, dtype=np.float32)[:MAX_LINES]
    if len(x) > LINE_POINTS:
        x, rows = x[::2], rows[:, ::2]
    n = len(rows)
    xs = np.full((n, len(x) + 1), np.nan, dtype=np.float32)
    ys = xs.copy()
    xs[:, :-1] = np.asarray(x, dtype=np.float32)
    ys[:, :-1] = rows
    return xs.ravel(), ys.ravel()


def click_layer(x_range: tuple[float, float], y_range: tuple[float, float], columns: int = 81) -> dict[str, Any]:
    """Invisible markers over the whole plot: clicking anywhere picks the nearest (x, y)."""
    gx, gy = np.meshgrid(np.linspace(*x_range, columns), np.linspace(*y_range, CLICK_ROWS))
    return {"type": "scatter", "x": gx.ravel().astype(np.float32), "y": gy.ravel().astype(np.float32),
            "mode": "markers", "marker": {"size": 14, "opacity": 0},
            "hovertemplate": "click to add a point at x=%{x:.2f}, "
            "y=%{y:.2f}<extra></extra>", "showlegend": False, "name": "click"}


def regression(snapshot: dict[str, Any], *, noise: bool, y_range: tuple[float, float] = (-8.0, 8.0),
               height: int = 460, title: str = "") -> go.Figure:
    """T passes as thin lines, the predictive mean, +-1 and +-2 std bands (with tau^-1 added to the
    variance when ``noise``), the true function (dashed) and the training points."""
    x = np.asarray(snapshot["grid"], dtype=np.float64)
    bands = snapshot["bands"]
    mean = np.asarray(bands["mean"], dtype=np.float64)
    var = np.asarray(bands["std"], dtype=np.float64) ** 2
    if noise:
        var = var + float(snapshot["tau"]["tau_inv"])
    std = np.sqrt(var)
    traces: list[dict[str, Any]] = [click_layer((float(x[0]), float(x[-1])), y_range)]
    for k, color in zip((2, 1), BAND_COLORS):
        traces.append({"type": "scatter", "x": np.concatenate([x, x[::-1]]),
                       "y": np.concatenate([mean + k * std, (mean - k * std)[::-1]]), "fill": "toself",
                       "fillcolor": color, "line": {"width": 0}, "hoverinfo": "skip", "name": f"±{k} std"})
    xs, ys = _lines(x, np.asarray(bands["passes"], dtype=np.float64))
    traces.append({"type": "scatter", "x": xs, "y": ys, "mode": "lines", "hoverinfo": "skip",
                   "line": {"color": PASS_COLOR, "width": 1}, "name": f"{len(bands['passes'])} passes"})
    traces.append({"type": "scatter", "x": x, "y": np.asarray(snapshot["truth"]), "mode": "lines",
                   "line": {"color": "#495057", "dash": "dash", "width": 1.5}, "name": "true function",
                   "hoverinfo": "skip"})
    traces.append({"type": "scatter", "x": x, "y": mean, "mode": "lines", "line": {"color": MEAN_COLOR, "width": 2.5},
                   "name": "predictive mean", "customdata": std,
                   "hovertemplate": "x=%{x:.2f}: mean %{y:.2f}, std %{customdata:.2f}<extra></extra>"})
    data = snapshot["data"]
    n_added = int(data["added"])
    dx, dy = np.asarray(data["x"]), np.asarray(data["y"])
    original = len(dx) - n_added
    traces.append({"type": "scatter", "x": dx[:original], "y": dy[:original], "mode": "markers",
                   "marker": {"color": "#212529", "size": 6}, "name": "training points", "hoverinfo": "skip"})
    if n_added:
        traces.append({"type": "scatter", "x": dx[original:], "y": dy[original:], "mode": "markers",
                       "marker": {"color": ADDED_COLOR, "size": 9, "symbol": "diamond"}, "name": "points you added",
                       "hoverinfo": "skip"})
    return figure(traces, base_layout(
        title, height, "regression", clickmode="event+select", hovermode="closest", dragmode=False,
        xaxis={"range": [float(x[0]), float(x[-1])], "title": {"text": "x", "standoff": 2}, "fixedrange": True},
        yaxis={"range": list(y_range), "title": {"text": "y"}, "fixedrange": True},
        legend={"orientation": "h", "y": -0.18, "x": 0, "font": {"size": 11}},
    ))


def _map(z: np.ndarray, axis: np.ndarray, title: str, scale: Any, zmax: float, colorbar: str) -> dict[str, Any]:
    return {"type": "heatmap", "x": axis, "y": axis, "z": z, "zmin": 0, "zmax": zmax, "colorscale": scale,
            "colorbar": {"thickness": 10, "title": {"text": colorbar, "side": "right"}},
            "hovertemplate": "x=%{x:.2f}, y=%{y:.2f}<br>" + title + "=%{z:.3f}<extra></extra>"}


MAPS = {
    "mean": ("Mean P(blue) over the passes", MAP_SCALE, 1.0, "P(blue)"),
    "entropy": ("Predictive entropy (total)", UNCERTAINTY_SCALE, float(np.log(2)), "nats"),
    "mutual_info": ("Mutual information (epistemic)", UNCERTAINTY_SCALE, float(np.log(2)), "nats"),
}


OUTLINE_COLOR = "white"


def outline(mask: np.ndarray, axis: np.ndarray, name: str) -> dict[str, Any]:
    """A dotted line around the cells where ``mask`` [len(axis)^2, row-major] is True."""
    n = len(axis)
    return {"type": "contour", "x": axis, "y": axis, "z": np.asarray(mask, dtype=np.uint8).reshape(n, n),
            "contours": {"start": 0.5, "end": 0.5, "size": 1, "coloring": "none"}, "showscale": False,
            "line": {"color": OUTLINE_COLOR, "width": 1.5, "dash": "dot"}, "hoverinfo": "skip", "name": name,
            "showlegend": False}


def uncertainty_map(kind: str, values: np.ndarray, axis: np.ndarray, data: dict[str, np.ndarray],
                    probe: Sequence[float] | None = None, *, confident_far: np.ndarray | None = None,
                    height: int = 340) -> go.Figure:
    """One of ``MAPS`` on the grid, the training points on top, and the probe's position.
    ``confident_far`` (a mask over the cells, ``core.labs.uncertainty.far``): outlined, dotted."""
    title, scale, zmax, colorbar = MAPS[kind]
    n = len(axis)
    z = np.asarray(values, dtype=np.float32).reshape(n, n)
    traces = [_map(z, axis, title.split(" (")[0], scale, zmax, colorbar)]
    if confident_far is not None and np.any(confident_far):
        traces.append(outline(confident_far, axis, "confident, far from the data"))
    X, y = data["X_train"], data["y_train"]
    for cls in (0, 1):
        pts = X[y == cls]
        traces.append({"type": "scatter", "x": pts[:, 0], "y": pts[:, 1], "mode": "markers", "hoverinfo": "skip",
                       "showlegend": False, "marker": {"size": 6, "color": CLASS_COLORS[cls],
                                                       "line": {"width": 1, "color": "white"}}})
    if probe is not None:
        traces.append({"type": "scatter", "x": [probe[0]], "y": [probe[1]], "mode": "markers", "showlegend": False,
                       "hoverinfo": "skip", "marker": {"symbol": "x", "size": 13, "color": "#e03131",
                                                       "line": {"width": 2, "color": "white"}}})
    lim = [float(axis[0]), float(axis[-1])]
    style = {"range": lim, "showgrid": False, "zeroline": False, "constrain": "domain", "fixedrange": True}
    return figure(traces, base_layout(
        title, height, f"map-{kind}", xaxis=style, yaxis={**style, "scaleanchor": "x", "scaleratio": 1}))


def probe_histogram(probs_class1: np.ndarray, deterministic: float, *, height: int = 280) -> go.Figure:
    """The T passes' P(blue) at the probe, with the single deterministic (weight-scaling) value."""
    return go.Figure(data=[
        {"type": "histogram", "x": np.asarray(probs_class1), "xbins": {"start": 0, "end": 1.0001, "size": 0.05},
         "marker": {"color": MEAN_COLOR}, "name": "one pass each",
         "hovertemplate": "P(blue) %{x}: %{y} passes<extra></extra>"},
    ], layout=base_layout(
        f"The {len(probs_class1)} passes' P(blue) at the probe", height, "probe",
        shapes=[{"type": "line", "x0": deterministic, "x1": deterministic, "y0": 0, "y1": 1, "yref": "paper",
                 "line": {"color": "#e03131", "width": 2, "dash": "dash"}}],
        annotations=[{"x": deterministic, "y": 1, "yref": "paper", "text": "dropout off", "showarrow": False,
                      "font": {"color": "#e03131", "size": 11}, "yanchor": "bottom"}],
        xaxis={"range": [0, 1], "title": {"text": "P(blue)", "standoff": 2}, "fixedrange": True},
        yaxis={"title": {"text": "passes"}, "fixedrange": True}, bargap=0.05))


def mc_vs_weight_scaling(avg: Any, *, height: int = 320) -> go.Figure:
    """Srivastava et al. 2014 Fig. 11: MC-averaged accuracy and log-loss against T, mean +- 1 se over
    repeated draws, with the weight-scaling (dropout off) value as a dashed line."""
    Ts = [int(t) for t in avg.T]
    traces, shapes = [], []
    for n, (mean, se, ws, name) in enumerate((
            (avg.acc_mean, avg.acc_se, avg.ws_acc, "accuracy"), (avg.loss_mean, avg.loss_se, avg.ws_loss, "log-loss"))):
        axis = "" if n == 0 else "2"
        traces.append({"type": "scatter", "x": Ts, "y": np.asarray(mean), "mode": "lines+markers",
                       "error_y": {"type": "data", "array": np.asarray(se), "visible": True},
                       "xaxis": f"x{axis}", "yaxis": f"y{axis}", "name": f"MC average, {name}",
                       "line": {"color": RUN_COLORS[0]}, "showlegend": n == 0, "legendgroup": "mc"})
        shapes.append({"type": "line", "xref": f"x{axis} domain", "x0": 0, "x1": 1, "yref": f"y{axis}",
                       "y0": float(ws), "y1": float(ws), "line": {"color": RUN_COLORS[1], "dash": "dash"}})
    traces.append({"type": "scatter", "x": [None], "y": [None], "mode": "lines", "name": "weight scaling (dropout off)",
                   "line": {"color": RUN_COLORS[1], "dash": "dash"}})
    return figure(traces, base_layout(
        "MC averaging against weight scaling, as T grows", height, "fig11", shapes=shapes,
        xaxis={"type": "log", "domain": [0, 0.45], "title": {"text": "T (passes)", "standoff": 2}, "fixedrange": True},
        yaxis={"title": {"text": "validation accuracy"}, "fixedrange": True},
        xaxis2={"type": "log", "domain": [0.55, 1], "anchor": "y2", "title": {"text": "T (passes)", "standoff": 2},
                "fixedrange": True},
        yaxis2={"anchor": "x2", "title": {"text": "validation log-loss (nats)"}, "fixedrange": True},
    ))


def reliability_diagram(curves: Sequence[tuple[str, Any]], *, height: int = 340) -> go.Figure:
    """Accuracy against confidence per bin for each (label, core.analysis.calibration.Reliability); the diagonal is
    perfect calibration. Marker area follows the bin's count."""
    traces: list[dict[str, Any]] = [{"type": "scatter", "x": [0, 1], "y": [0, 1], "mode": "lines",
                                     "line": {"color": "#adb5bd", "dash": "dot"}, "name": "perfectly calibrated",
                                     "hoverinfo": "skip"}]
    for i, (label, rel) in enumerate(curves):
        counts = np.asarray(rel.count, dtype=np.float64)
        keep = counts > 0
        size = 6 + 14 * np.sqrt(counts[keep] / max(counts.max(), 1))
        traces.append({"type": "scatter", "x": np.asarray(rel.confidence)[keep], "y": np.asarray(rel.accuracy)[keep],
                       "mode": "lines+markers", "name": f"{label}: ECE {rel.ece:.3f}", "customdata": counts[keep],
                       "marker": {"size": size, "color": RUN_COLORS[i % len(RUN_COLORS)]},
                       "line": {"color": RUN_COLORS[i % len(RUN_COLORS)]},
                       "hovertemplate": "confidence %{x:.2f}: accuracy %{y:.2f} (%{customdata} points)<extra></extra>"})
    return figure(traces, base_layout(
        "Reliability diagram (validation set)", height, "reliability",
        xaxis={"range": [0.45, 1.0], "title": {"text": "confidence (largest probability)", "standoff": 2},
               "fixedrange": True},
        yaxis={"range": [0, 1.02], "title": {"text": "accuracy"}, "fixedrange": True},
    ))


def path_uncertainty(steps: Sequence[float], entropy: np.ndarray, mutual_info: np.ndarray, confidence: np.ndarray,
                     step_label: str, *, height: int = 320) -> go.Figure:
    """A digit leaving the data: MC entropy and mutual information (left axis) and the single
    deterministic pass's confidence (right axis) at each step."""
    steps = list(steps)
    traces = [
        {"type": "scatter", "x": steps, "y": np.asarray(entropy), "mode": "lines+markers", "name": "MC entropy",
         "line": {"color": RUN_COLORS[0]}},
        {"type": "scatter", "x": steps, "y": np.asarray(mutual_info), "mode": "lines+markers",
         "name": "MC mutual information", "line": {"color": MEAN_COLOR, "dash": "dash"}},
        {"type": "scatter", "x": steps, "y": np.asarray(confidence), "mode": "lines+markers", "yaxis": "y2",
         "name": "confidence with dropout off", "line": {"color": RUN_COLORS[1]}},
    ]
    return figure(traces, base_layout(
        "Uncertainty as the digit leaves the data", height, "path",
        xaxis={"title": {"text": step_label, "standoff": 2}, "fixedrange": True, "tickvals": steps},
        yaxis={"title": {"text": "nats"}, "rangemode": "tozero", "fixedrange": True},
        yaxis2={"overlaying": "y", "side": "right", "range": [0, 1.02], "title": {"text": "confidence"},
                "fixedrange": True, "showgrid": False, "tickmode": "array", "tickvals": [0, 0.25, 0.5, 0.75, 1]},
    ))


def digit_strip(images: np.ndarray, labels: Sequence[str], *, height: int = 170) -> go.Figure:
    """The path's images side by side (dark = ink), each with its caption under it."""
    images = np.asarray(images, dtype=np.float64)
    n, h, w = images.shape
    canvas = np.full((h, n * (w + 1) - 1), np.nan)
    for k, image in enumerate(images):
        canvas[:, k * (w + 1): k * (w + 1) + w] = image
    notes = [{"x": k * (w + 1) + (w - 1) / 2, "y": h + 0.5, "text": text, "showarrow": False, "yanchor": "top",
              "font": {"size": 10}} for k, text in enumerate(labels)]
    return go.Figure(data=[{"type": "heatmap", "z": canvas, "colorscale": "Greys", "showscale": False,
                            "hoverinfo": "skip"}], layout=base_layout(
        "", height, "strip", annotations=notes, margin={"l": 10, "r": 10, "t": 10, "b": 46},
        xaxis={"visible": False, "constrain": "domain", "fixedrange": True},
        yaxis={"visible": False, "autorange": "reversed", "scaleanchor": "x", "fixedrange": True}))
