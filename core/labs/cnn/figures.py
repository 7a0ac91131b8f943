"""Plotly figures for lesson 6, from the ``cnn`` runner's plain-data snapshots. No Streamlit, no torch.

The feature-map grid puts the runs one above the other (A, B, C: one dropout kind each) and a
layer's maps side by side, with what one stochastic pass drops hatched in grey: scattered pixels for
element dropout, whole maps (also crossed out) for channel dropout, square holes for DropBlock.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go

import core.viz as viz  # viz.figure, looked up at each call (the tests validate every figure through it)

RUN_COLORS = ("#0877bd", "#e8590c", "#2b8a3e")  # runs A, B, C
MAP_SCALE = [[0.0, "#ffffff"], [1.0, "#1c3d6e"]]  # activation 0 (white) to the layer's largest (dark blue)
HATCH_SCALE = [[0.0, "#c8c8c8"], [1.0, "#8f8f8f"]]  # dropped pixels: a light/dark grey checkerboard
CROSS_COLOR = "#c92a2a"  # a whole map dropped
GAP = 1  # blank pixels between two tiles


def run_label(run: dict[str, Any]) -> str:
    """``A · element p=0.3`` (the kind and p of the first conv layer; every layer when they differ)."""
    model = run["config"].model
    kinds, ps = model.kinds, model.p_hidden
    if len(set(zip(kinds, ps))) == 1:
        kind, p = kinds[0], ps[0]
        return f"{run['name']} · no dropout" if kind == "none" else f"{run['name']} · {kind} p={p:g}"
    parts = ["none" if k == "none" else f"{k} {p:g}" for k, p in zip(kinds, ps)]
    return f"{run['name']} · " + " / ".join(parts)


def _tiles(arrays: Sequence[np.ndarray], side: int, fill: float = np.nan) -> np.ndarray:
    """Rows of ``[C, S, S]`` arrays as one image, ``GAP`` blank pixels (NaN: not drawn) between tiles."""
    rows, cols = len(arrays), max(a.shape[0] for a in arrays)
    step = side + GAP
    out = np.full((rows * step - GAP, cols * step - GAP), fill, dtype=np.float32)
    for r, a in enumerate(arrays):
        for c in range(a.shape[0]):
            out[r * step: r * step + side, c * step: c * step + side] = a[c]
    return out


def feature_maps(runs: Sequence[dict[str, Any]], layer: int, *, title: str | None = None,
                 height: int | None = None) -> go.Figure:
    """Conv layer ``layer``'s maps of each run for one digit (one row per run, one tile per map),
    each run's maps scaled by their largest activation; dropped pixels hatched grey, dropped maps
    crossed out."""
    shown = [run for run in runs if len(run["layers"]) > layer]
    title = title or f"Feature maps of conv layer {layer + 1}, and what one pass drops"
    if not shown:
        return viz.figure([], viz.base_layout(title, height or 200, f"cnn-maps-{layer}"))
    views = [run["layers"][layer] for run in shown]
    side = views[0]["maps"].shape[-1]
    scaled = [v["maps"] / max(float(v["maps"].max()), 1e-6) for v in views]
    z = _tiles(scaled, side)
    checker = ((np.add.outer(np.arange(side), np.arange(side)) % 2).astype(np.float32))
    hatch = []
    for v in views:
        mask = v["mask"] if v["mask"] is not None else np.ones_like(v["maps"], dtype=bool)
        hatch.append(np.where(mask, np.nan, checker[None]))
    h = _tiles(hatch, side)
    step = side + GAP
    n_maps = max(v["maps"].shape[0] for v in views)
    traces: list[dict[str, Any]] = [
        {"type": "heatmap", "z": z, "zmin": 0, "zmax": 1, "colorscale": MAP_SCALE, "showscale": False,
         "hoverongaps": False, "hovertemplate": "activation %{z:.2f} of the run's largest<extra></extra>"},
    ]
    if not np.isnan(h).all():
        traces.append({"type": "heatmap", "z": h, "zmin": 0, "zmax": 1, "colorscale": HATCH_SCALE, "showscale": False,
                       "hoverongaps": False, "hovertemplate": "dropped in this pass<extra></extra>"})
    shapes = []
    for r, v in enumerate(views):
        if v["mask"] is None:
            continue
        for c in range(v["mask"].shape[0]):
            if not v["mask"][c].any():  # the whole map dropped: cross it out
                x0, y0 = c * step - 0.5, r * step - 0.5
                x1, y1 = x0 + side, y0 + side
                for ya, yb in ((y0, y1), (y1, y0)):
                    shapes.append({"type": "line", "x0": x0, "x1": x1, "y0": ya, "y1": yb, "xref": "x", "yref": "y",
                                   "line": {"color": CROSS_COLOR, "width": 2}})
    rows = len(views)
    dropped = [f"{run_label(run)}: {v['dropped']:.0%} dropped" if v["mask"] is not None else
               f"{run_label(run)}: nothing dropped" for run, v in zip(shown, views)]
    return viz.figure(traces, viz.base_layout(
        title, height or 70 + rows * max(70, min(140, 9 * side)), f"cnn-maps-{layer}", shapes=shapes,
        margin={"l": 10, "r": 10, "t": 36, "b": 24},
        xaxis={"tickvals": [c * step + (side - 1) / 2 for c in range(n_maps)],
               "ticktext": [f"map {c + 1}" for c in range(n_maps)], "showgrid": False, "zeroline": False,
               "constrain": "domain"},
        yaxis={"tickvals": [r * step + (side - 1) / 2 for r in range(rows)], "ticktext": dropped,
               "autorange": "reversed", "showgrid": False, "zeroline": False, "scaleanchor": "x",
               "scaleratio": 1, "constrain": "domain", "automargin": True},
    ))


def digit(image: np.ndarray, label: int, title: str, *, height: int = 220) -> go.Figure:
    """The validation digit as the network reads it (dark = ink)."""
    trace = {"type": "heatmap", "z": image, "colorscale": [[0.0, "#ffffff"], [1.0, "#111111"]], "showscale": False,
             "hovertemplate": "pixel %{z:.2f}<extra></extra>"}
    axis = {"visible": False, "constrain": "domain"}
    return viz.figure([trace], viz.base_layout(
        title, height, "cnn-digit", xaxis=axis, yaxis={**axis, "autorange": "reversed", "scaleanchor": "x"}))


METRICS = {
    "loss": (("train_loss", "val_loss"), "Loss (cross-entropy)", "loss"),
    "acc": (("train_acc", "val_acc"), "Accuracy", "accuracy"),
}


def curves(runs: Sequence[dict[str, Any]], metric: str, *, height: int = 300) -> go.Figure:
    """Train (solid) and validation (dashed) curves of every run; dotted lines where p or lr changed."""
    keys, title, axis_title = METRICS[metric]
    traces: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = []
    for i, run in enumerate(runs):
        h, color, label = run["history"], RUN_COLORS[i % len(RUN_COLORS)], run_label(run)
        xs, train, val = viz.decimate(h["epoch"], h[keys[0]], h[keys[1]])
        traces.append({"type": "scatter", "x": xs, "y": train, "name": f"{label} train",
                       "line": {"color": color, "width": 2}})
        traces.append({"type": "scatter", "x": xs, "y": val, "name": f"{label} val",
                       "line": {"color": color, "width": 2, "dash": "dash"}})
        star = viz.best_epoch_marker(h, keys[1], color, label)
        if star is not None:
            traces.append(star)
        shapes += _event_lines(run, color)
    return viz.figure(traces, viz.base_layout(
        title, height, f"cnn-curves-{metric}", shapes=shapes,
        xaxis={"title": {"text": "epoch", "standoff": 2}},
        yaxis={"title": {"text": axis_title}, "rangemode": "tozero"},
    ))


def gap(runs: Sequence[dict[str, Any]], *, height: int = 300) -> go.Figure:
    """The generalization gap, validation loss minus training loss, of every run over the epochs."""
    traces: list[dict[str, Any]] = []
    shapes: list[dict[str, Any]] = [{"type": "line", "x0": 0, "x1": 1, "y0": 0, "y1": 0, "xref": "paper", "yref": "y",
                                     "line": {"color": "#999", "width": 1}}]
    for i, run in enumerate(runs):
        h, color = run["history"], RUN_COLORS[i % len(RUN_COLORS)]
        xs, train, val = viz.decimate(h["epoch"], h["train_loss"], h["val_loss"])
        traces.append({"type": "scatter", "x": xs, "y": [v - t for v, t in zip(val, train)], "name": run_label(run),
                       "line": {"color": color, "width": 2}})
        shapes += _event_lines(run, color)
    return viz.figure(traces, viz.base_layout(
        "Generalization gap: validation loss minus training loss", height, "cnn-gap", shapes=shapes,
        xaxis={"title": {"text": "epoch", "standoff": 2}},
        yaxis={"title": {"text": "gap (nats)"}},
    ))


def _event_lines(run: dict[str, Any], color: str) -> list[dict[str, Any]]:
    return [{"type": "line", "x0": e["epoch"], "x1": e["epoch"], "y0": 0, "y1": 1, "xref": "x", "yref": "paper",
             "line": {"color": color, "dash": "dot", "width": 1}} for e in run["events"]]


# -- the background runs' results ------------------------------------------------------------------
SIZE_COLORS = ("#868e96", "#1c3d6e")  # 8x8, upsampled


def _number(value: Any) -> float | None:
    value = None if value is None else float(value)
    return value if value is not None and np.isfinite(value) else None


def rebuild_bars(result: Any, *, height: int = 320) -> go.Figure:
    """Per layer (the pixels, then each conv layer), the held-out R^2 of an activation predicted from its
    neighbours, at 8x8 and upsampled (a ``core.labs.cnn.rebuild.RebuildResult``)."""
    traces = []
    for i, size in enumerate(result.sizes):
        names = [name for name, _ in size.layers]
        r2 = [_number(r.r2) for _, r in size.layers]
        traces.append({"type": "bar", "x": names, "y": r2, "name": f"{size.image_size}x{size.image_size} images",
                       "marker": {"color": SIZE_COLORS[i % len(SIZE_COLORS)]},
                       "text": ["–" if v is None else f"{v:.2f}" for v in r2], "textposition": "outside",
                       "hovertemplate": "%{x}: R² %{y:.3f}<extra>%{fullData.name}</extra>"})
    return viz.figure(traces, viz.base_layout(
        "How much of an activation its neighbours predict (held-out R²)", height, "cnn-rebuild",
        barmode="group", yaxis={"title": {"text": "R² from the neighbours"}, "range": [0, 1.08]},
    ))


KIND_COLORS = {"none": "#868e96", "element": RUN_COLORS[0], "channel": RUN_COLORS[1], "block": RUN_COLORS[2]}


def spatial_bars(rows: Sequence[dict[str, Any]], metric: str = "val_loss", *, height: int = 320) -> go.Figure:
    """Each dropout kind's mean final ``metric`` over the seeds, with one standard error either side."""
    kinds = [row["label"] for row in rows]
    means = [_number(row[metric]) for row in rows]
    errors = [_number(row[metric + "_se"]) or 0.0 for row in rows]
    trace = {"type": "bar", "x": kinds, "y": means, "marker": {"color": [KIND_COLORS.get(k, "#333") for k in kinds]},
             "error_y": {"type": "data", "array": errors, "visible": True},
             "text": ["–" if v is None else f"{v:.3f}" for v in means], "textposition": "outside",
             "hovertemplate": "%{x}: %{y:.4f}<extra></extra>", "showlegend": False}
    title = {"val_loss": "Final validation loss", "val_err": "Final validation error"}.get(metric, metric)
    return viz.figure([trace], viz.base_layout(
        f"{title} by dropout kind (mean ± 1 se over seeds)", height, f"cnn-spatial-{metric}",
        yaxis={"title": {"text": metric.replace("_", " ")}, "rangemode": "tozero"},
    ))
