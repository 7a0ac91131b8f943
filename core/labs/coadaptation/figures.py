"""Plotly figures for the co-adaptation lesson, from the live runner's plain-data snapshots.

No Streamlit, no torch. A run's ``coadaptation`` entry (see ``core.live.pair``) holds the
per-unit knock-out damage, the ordered correlation matrix, the activation histogram and
the lead numbers over time; these functions only draw them.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import plotly.graph_objects as go

from core.analysis.coadaptation import MEAN_BINS
from core.viz import RUN_COLORS, _layer_name, _unit_y, base_layout, decimate, edge_traces, figure

KNOCKED_COLOR = "#d6336c"
SIGNED_SCALE = [[0.0, "#b2182b"], [0.5, "#f7f7f7"], [1.0, "#2166ac"]]
"""Negative red, positive blue, for correlations and weights alike (the diagrams' edges are blue
for a positive weight too)."""


def clickable_units(selection_points: Sequence[dict[str, Any]]) -> list[int]:
    """The hidden units picked in a chart drawn by ``network`` or ``damage_ranked``.

    Their clickable points carry the unit's index as ``customdata``; everything else
    (other layers, lines) carries none and is ignored.
    """
    units = []
    for point in selection_points:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)):
            data = data[0] if data else None
        if isinstance(data, (int, float)) and not isinstance(data, bool) and data >= 0:
            units.append(int(data))
    return units


DOT_LEVELS = 5  # a unit's dot takes one of DOT_LEVELS + 1 sizes


def network(run: dict[str, Any], layer: int, knocked: Sequence[int], title: str, *, damage_scale: float | None = None,
            show_damage: bool = True, height: int = 340) -> go.Figure:
    """The network with hidden layer ``layer`` clickable: each of its units is a dot whose size
    grows in steps with its knock-out damage (the loss it costs when switched off alone), a dot of the
    largest size costing ``damage_scale`` nats (default: this run's worst unit; pass the worst
    of both runs to compare two diagrams); knocked-out units are crossed out. Edges are
    coloured by the sign of their weight, as in the Playground. ``show_damage=False`` draws every
    unit the same size and keeps the costs out of the hover text (before a learner predicts)."""
    sizes: list[int] = run["layer_sizes"]
    weights = run["weights"]  # [out, in] per Linear, cut to the units the snapshot carries
    shown = [weights[0].shape[1]] + [w.shape[0] for w in weights]
    n_layers = len(sizes)
    target = layer + 1  # index among all layers: 0 is the input
    pos = [[(float(li), _unit_y(j, shown[li])) for j in range(shown[li])] for li in range(n_layers)]
    stats = run.get("coadaptation")
    damage = np.asarray(stats["loss_increase"]) if stats and show_damage else None
    off = set(knocked)

    # A knocked-out unit sends and receives nothing.
    traces = edge_traces(weights, pos, opacity=0.3,
                         skip=lambda li, j, k: li + 1 == target and j in off or li == target and k in off)
    other = [(pos[li][j], f"{_layer_name(li, n_layers)}, unit {j + 1}")
             for li in range(n_layers) if li != target for j in range(shown[li])]
    traces.append({
        "type": "scatter", "x": [p[0] for p, _ in other], "y": [p[1] for p, _ in other], "mode": "markers",
        "text": [t for _, t in other], "hoverinfo": "text", "showlegend": False,
        "marker": {"size": 9, "color": "#adb5bd", "line": {"width": 1, "color": "white"}},
    })
    units = range(shown[target])
    top = damage_scale if damage_scale is not None else float(damage.max()) if damage is not None and damage.size else 0.0
    top = top if top > 0 else 1.0
    # A few sizes, not a continuum: while the runs train, the figure (and so the click target) is
    # rebuilt only when some dot visibly changes size (core.ui.clicks.Clicks.chart).
    size = [8 + 18 * round(DOT_LEVELS * min(1.0, max(0.0, float(damage[u])) / top)) / DOT_LEVELS
            if damage is not None else 13 for u in units]
    texts = []
    for u in units:
        cost = f"<br>switching it off costs {damage[u]:+.3f} nats" if damage is not None else ""
        state = "OFF (click to switch it back on)" if u in off else "click to switch it off"
        texts.append(f"{_layer_name(target, n_layers)}, unit {u + 1}{cost}<br>{state}")
    traces.append({
        "type": "scatter", "x": [pos[target][u][0] for u in units], "y": [pos[target][u][1] for u in units],
        "mode": "markers", "customdata": list(units), "text": texts, "hoverinfo": "text",
        "name": "units you can switch off", "showlegend": False,
        "marker": {"size": size, "color": [KNOCKED_COLOR if u in off else "#212529" for u in units],
                   "symbol": ["x" if u in off else "circle" for u in units], "line": {"width": 1, "color": "white"}},
    })
    notes = [
        {"x": li, "y": -0.08, "showarrow": False, "font": {"size": 10}, "yanchor": "top",
         "text": _layer_name(li, n_layers) + (f"<br>({size_ - shown[li]} more)" if size_ > shown[li] else "")}
        for li, size_ in enumerate(sizes)
    ]
    return figure(traces, base_layout(
        title, height, "net", annotations=notes, clickmode="event+select", hovermode="closest",
        xaxis={"visible": False, "range": [-0.4, n_layers - 0.6]},
        yaxis={"visible": False, "range": [-0.3, 1.05]},
    ))


def damage_ranked(runs: Sequence[dict[str, Any]], labels: Sequence[str], knocked: Sequence[int],
                  *, height: int = 300) -> go.Figure:
    """Each run's units sorted by knock-out damage, worst first: a steep start means a few units
    carry the network. Points are clickable (their unit is switched off in both runs)."""
    traces: list[dict[str, Any]] = []
    off = set(knocked)
    for i, (run, label) in enumerate(zip(runs, labels)):
        stats = run.get("coadaptation")
        if not stats:
            continue
        loss, acc = np.asarray(stats["loss_increase"]), np.asarray(stats["acc_drop"])
        order = np.argsort(-loss, kind="stable")
        color = RUN_COLORS[i % len(RUN_COLORS)]
        traces.append({
            "type": "scatter", "x": list(range(1, len(order) + 1)), "y": loss[order].tolist(),
            "mode": "lines+markers", "name": label, "customdata": order.tolist(),
            "text": [f"{label}<br>unit {u + 1}: loss +{loss[u]:.3f} nats, accuracy −{100 * acc[u]:.1f} points"
                     + (" (switched off now)" if u in off else "") for u in order],
            "hoverinfo": "text",
            "line": {"color": color, "width": 2},
            "marker": {"size": [11 if u in off else 7 for u in order],
                       "color": [KNOCKED_COLOR if u in off else color for u in order],
                       "symbol": ["x" if u in off else "circle" for u in order]},
        })
    return figure(traces, base_layout(
        "Knock-out damage of every unit, worst first", height, "damage", clickmode="event+select",
        hovermode="closest", dragmode=False,
        xaxis={"title": {"text": "units, from the one the network misses most", "standoff": 2}, "fixedrange": True},
        yaxis={"title": {"text": "validation loss increase (nats)"}, "zeroline": True, "fixedrange": True},
    ))


SERIES = (
    ("ko_max", "Worst unit's damage (nats)"),
    ("ko_mean", "Mean damage per unit (nats)"),
    ("corr_mean_abs", "Mean |correlation| between units"),
    ("zero_fraction", "Share of activations at zero"),
)


def lead_series(runs: Sequence[dict[str, Any]], labels: Sequence[str], keys: Sequence[str] | None = None, *,
                height: int = 260) -> go.Figure:
    """Lead numbers over training (``keys`` of ``SERIES``, default all), one small panel each, side
    by side, both runs in each panel."""
    chosen = [(key, title) for key, title in SERIES if keys is None or key in keys]
    traces: list[dict[str, Any]] = []
    layout: dict[str, Any] = {}
    annotations = []
    width = 1.0 / len(chosen)
    for n, (key, title) in enumerate(chosen):
        axis = "" if n == 0 else str(n + 1)
        x0, x1 = n * width + (0.05 if n else 0.0), (n + 1) * width - (0.05 if n + 1 < len(chosen) else 0.0)
        y0, y1 = 0.0, 0.9
        layout[f"xaxis{axis}"] = {"domain": [x0, x1], "anchor": f"y{axis}", "fixedrange": True,
                                  "title": {"text": "epoch", "standoff": 0}}
        layout[f"yaxis{axis}"] = {"domain": [y0, y1], "anchor": f"x{axis}", "fixedrange": True,
                                  "rangemode": "tozero" if key != "ko_mean" else "normal"}
        annotations.append({"text": title, "x": (x0 + x1) / 2, "y": y1 + 0.01, "xref": "paper", "yref": "paper",
                            "showarrow": False, "xanchor": "center", "yanchor": "bottom", "font": {"size": 12}})
        for i, (run, label) in enumerate(zip(runs, labels)):
            stats = run.get("coadaptation")
            if not stats or key not in stats["series"]:
                continue
            xs, ys = decimate(stats["series"]["epoch"], stats["series"][key])
            mode = "lines" if len(xs) > 1 else "markers"  # a fresh series (another layer) has one point
            traces.append({"type": "scatter", "x": xs, "y": ys, "mode": mode, "name": label,
                           "legendgroup": label, "showlegend": n == 0, "xaxis": f"x{axis}", "yaxis": f"y{axis}",
                           "line": {"color": RUN_COLORS[i % len(RUN_COLORS)], "width": 2}})
    return figure(traces, base_layout(
        "Over training", height, "series-" + "-".join(key for key, _ in chosen), annotations=annotations, **layout,
        legend={"orientation": "h", "y": -0.3, "x": 0, "font": {"size": 11}},
    ))


def correlation_heatmap(stats: dict[str, Any] | None, title: str, *, height: int = 320) -> go.Figure:
    """The ordered correlation matrix (correlated units next to each other; dead units last)."""
    traces = []
    if stats:
        matrix = np.asarray(stats["correlation"])
        order = [int(u) + 1 for u in stats["order"]]
        names = [f"u{u}" for u in order]
        traces.append({
            "type": "heatmap", "z": matrix, "x": names, "y": names, "zmin": -1, "zmax": 1,
            "colorscale": SIGNED_SCALE, "colorbar": {"thickness": 10, "title": {"text": "r", "side": "right"}},
            "hovertemplate": "%{y} and %{x}: r = %{z:.2f}<extra></extra>",
        })
    return figure(traces, base_layout(
        title, height, "corr",
        xaxis={"showticklabels": False, "showgrid": False, "constrain": "domain", "fixedrange": True},
        yaxis={"showticklabels": False, "showgrid": False, "autorange": "reversed", "scaleanchor": "x",
               "fixedrange": True},
    ))


def sparsity_histograms(runs: Sequence[dict[str, Any]], labels: Sequence[str], *, height: int = 320) -> go.Figure:
    """Srivastava et al. (2014) Fig. 8, both runs overlaid: the share of activations in each bin
    (log scale: the zeros dwarf the rest) and the histogram of the units' mean activations."""
    traces: list[dict[str, Any]] = []
    for i, (run, label) in enumerate(zip(runs, labels)):
        stats = run.get("coadaptation")
        if not stats:
            continue
        color = RUN_COLORS[i % len(RUN_COLORS)]
        counts = np.asarray(stats["activation_counts"], dtype=np.float64)
        edges = np.asarray(stats["activation_edges"])
        share = counts / max(counts.sum(), 1.0)
        centres = (edges[:-1] + edges[1:]) / 2
        keep = share > 0
        zeros = stats["lead"]["zero_fraction"]
        traces.append({"type": "bar", "x": centres[keep], "y": share[keep], "name": f"{label} ({zeros:.0%} zeros)",
                       "marker": {"color": color}, "opacity": 0.6, "width": float(edges[1] - edges[0]),
                       "legendgroup": label, "hovertemplate": "activation ≈ %{x:.2f}: %{y:.1%}<extra></extra>"})
        means = np.clip(np.asarray(stats["unit_mean"]), MEAN_BINS[0], MEAN_BINS[-1])
        mean_counts = np.histogram(means, bins=MEAN_BINS)[0]
        mean_centres = (MEAN_BINS[:-1] + MEAN_BINS[1:]) / 2
        traces.append({"type": "bar", "x": mean_centres, "y": mean_counts, "name": label, "showlegend": False,
                       "legendgroup": label, "marker": {"color": color}, "opacity": 0.6,
                       "width": float(MEAN_BINS[1] - MEAN_BINS[0]), "xaxis": "x2", "yaxis": "y2",
                       "hovertemplate": "mean ≈ %{x:.2f}: %{y} units<extra></extra>"})
    return figure(traces, base_layout(
        "Activations on the validation set", height, "sparsity", barmode="overlay",
        xaxis={"domain": [0, 0.46], "title": {"text": "activation", "standoff": 2}, "fixedrange": True},
        yaxis={"type": "log", "dtick": 1, "tickformat": ".1~%", "title": {"text": "share of all activations"},
               "fixedrange": True},
        xaxis2={"domain": [0.56, 1], "anchor": "y2", "title": {"text": "a unit's mean activation", "standoff": 2},
                "fixedrange": True},
        yaxis2={"anchor": "x2", "title": {"text": "units"}, "fixedrange": True},
    ))


MAX_TILES = 64


def feature_tiles(tiles: np.ndarray, title: str, *, columns: int = 8, height: int | None = None,
                  max_tiles: int = MAX_TILES) -> go.Figure:
    """First-layer weights as a grid of 8x8 images (Srivastava et al. 2014 Fig. 7).

    Each tile is scaled by its own largest |weight|, so every unit's pattern uses the whole
    colour range: blue for positive weights (pixels that switch the unit on), red for negative.
    """
    tiles = np.asarray(tiles, dtype=np.float64)[:max_tiles]
    n, h, w = tiles.shape
    rows = -(-n // columns)
    gap = 1
    canvas = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap), np.nan)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        scale = np.abs(tile).max()
        canvas[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = tile / scale if scale else 0.0
    trace = {"type": "heatmap", "z": canvas, "zmin": -1, "zmax": 1, "colorscale": SIGNED_SCALE, "hoverinfo": "skip",
             "colorbar": {"thickness": 10, "tickvals": [-1, 0, 1], "ticktext": ["−max", "0", "+max"],
                          "title": {"text": "weight", "side": "right"}}}
    return figure([trace], base_layout(
        title, height or 60 + 46 * rows, "tiles",
        xaxis={"visible": False, "constrain": "domain", "fixedrange": True},
        yaxis={"visible": False, "autorange": "reversed", "scaleanchor": "x", "fixedrange": True},
    ))
