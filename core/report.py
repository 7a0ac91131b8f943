"""A lab report: one self-contained HTML page a student can hand in, built from a live lab's snapshot.

It holds the title and the date, each run's settings (a table, the rows where the runs differ marked), the
changes made while it trained, its final numbers (a table) and the figures, interactive: every curve the
runs recorded (``core.live.export.run_records``) and, where the snapshot has them, the decision maps. The
plotly.js library is written into the page once, so the file opens offline. No Streamlit: the download
button (``core.ui.export``) calls ``snapshot_report`` when it is clicked.

It lives here, beside ``core.viz``, and not in ``core.live``: the live machinery draws no figures
(tests/test_architecture.py, R3).
"""
from __future__ import annotations

import datetime as dt
import html
from typing import Any, Sequence

from core import viz
from core.live.export import run_records

X_KEYS = ("epoch", "step")
"""The series a curve is drawn against, the first one a run has."""
MEASURES = {"loss": "Loss", "acc": "Accuracy", "mse": "Mean squared error"}
"""A series whose name ends in one of these is drawn with the others of that measure (train_loss, val_loss)."""
RUN_COLORS = (*viz.RUN_COLORS, "#2b8a3e", "#862e9c", "#c92a2a", "#495057", "#e67700", "#1864ab")
DASHES = {"train": "solid", "val": "dash", "test": "dash"}
OTHER_DASHES = ("dot", "dashdot", "longdash", "longdashdot")
CURVE_HEIGHT = 320
MARGIN = {"l": 60, "r": 20, "t": 40, "b": 40}
"""Room for the tick labels and axis titles (the app's figures are drawn tighter, in their own frames)."""
STYLE = """
body {font-family: system-ui, sans-serif; color: #222; max-width: 1100px; margin: 2em auto; padding: 0 1em;}
h1 {font-size: 1.6em; margin-bottom: 0.2em;} h2 {font-size: 1.2em; margin-top: 1.6em;}
.meta {color: #666;} table {border-collapse: collapse; margin: 0.6em 0; font-size: 0.92em;}
th, td {border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left;} th {background: #f4f4f4;}
td.num {text-align: right; font-variant-numeric: tabular-nums;} tr.differs td {background: #fff4e6;}
.figures {display: grid; grid-template-columns: repeat(auto-fill, minmax(500px, 1fr)); gap: 1em;}
.figures > div {min-width: 0;}
footer {color: #888; font-size: 0.85em; margin-top: 2em;}
"""


def snapshot_report(snapshot: dict[str, Any], *, title: str, lab: str, when: dt.datetime | None = None) -> str:
    """The report of ``snapshot`` as it is now: its records, its figures, its changes, on one page."""
    records = run_records(snapshot)
    return lab_report(title, records, report_figures(snapshot, records), lab=lab, state=_state(snapshot, records),
                      changes=run_changes(snapshot), when=when)


def lab_report(title: str, records: Sequence[dict[str, Any]], figures: Sequence[Any], *, lab: str = "",
               state: str = "", changes: Sequence[Sequence[str]] = (), when: dt.datetime | None = None) -> str:
    """The HTML page: ``records`` as ``run_records`` makes them, ``figures`` plotly figures (each embedded
    interactively, plotly.js inline with the first), ``changes`` a list of texts per record."""
    when = when or dt.datetime.now().astimezone()
    meta = " · ".join(p for p in ("Dropout Lab", lab, when.strftime("%Y-%m-%d %H:%M %Z").strip(), state) if p)
    body = [f"<h1>{_e(title)}</h1>", f'<p class="meta">{_e(meta)}</p>']
    if not records:
        body.append("<p>No run has recorded anything yet.</p>")
    else:
        body += ["<h2>Settings</h2>", settings_table(records)]
        body += _changes_list(records, changes)
        body += ["<h2>Final numbers</h2>", finals_table(records)]
    if figures:
        body += ["<h2>Figures</h2>", "<p>Interactive: hover for values, drag to zoom, double-click to zoom out, "
                 "click a legend entry to hide its curve.</p>"]
        body += ['<div class="figures">', *(_figure_html(fig, first=i == 0) for i, fig in enumerate(figures)), "</div>"]
    body.append("<footer>Made with Dropout Lab. The numbers are the ones the runs had when this report was "
                "downloaded.</footer>")
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{_e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n" + "\n".join(body)
            + "\n</body>\n</html>\n")


# -- tables ------------------------------------------------------------------------------------------
def settings_table(records: Sequence[dict[str, Any]]) -> str:
    """One row per setting any run has, one column per run; a row where the runs differ is marked."""
    keys: list[str] = []
    for record in records:
        keys += [k for k in record["settings"] if k not in keys]
    rows = []
    for key in keys:
        values = [_text(r["settings"].get(key, "")) for r in records]
        differs = len(records) > 1 and len(set(values)) > 1
        rows.append(("<tr class=\"differs\">" if differs else "<tr>") + f"<th>{_e(key)}</th>"
                    + "".join(f"<td>{_e(v)}</td>" for v in values) + "</tr>")
    note = "<p>Rows where the runs differ are shaded.</p>" if len(records) > 1 else ""
    return note + _table(records, rows)


def finals_table(records: Sequence[dict[str, Any]]) -> str:
    """Each run's last recorded value of every series (– where it has none, or it is not a number)."""
    keys: list[str] = []
    for record in records:
        keys += [k for k in record["final"] if k not in keys]
    rows = [f"<tr><th>{_e(key)}</th>" + "".join(
        f'<td class="num">{_e(_number(r["final"].get(key)))}</td>' for r in records) + "</tr>" for key in keys]
    return _table(records, rows)


def _table(records: Sequence[dict[str, Any]], rows: list[str]) -> str:
    head = "<tr><th></th>" + "".join(f"<th>Run {_e(str(r['name']))}</th>" for r in records) + "</tr>"
    return f"<table>\n<thead>{head}</thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>"


def _changes_list(records: Sequence[dict[str, Any]], changes: Sequence[Sequence[str]]) -> list[str]:
    items = [f"<li>Run {_e(str(r['name']))}: " + "; ".join(_e(c) for c in said) + "</li>"
             for r, said in zip(records, changes) if said]
    if not items:
        return []
    return ["<h2>Changed while training</h2>", "<p>The settings above are the ones at the end; these changed "
            "while the runs trained (the dotted lines on the curves in the app).</p>", "<ul>", *items, "</ul>"]


def run_changes(snapshot: dict[str, Any]) -> list[list[str]]:
    """Each run's live changes, as texts ("epoch 12.0: p 0.5 → 0.2"), in the records' order."""
    runs = snapshot["runs"] if "runs" in snapshot else [snapshot] if "history" in snapshot else []
    said = []
    for run in runs:
        texts = [f"{_where(e)}{e.get('text', '')}" for e in run.get("events", ())]
        if run.get("events_hidden"):
            texts.insert(0, f"{run['events_hidden']} earlier change(s) not kept")
        said.append(texts)
    return said


def _where(event: dict[str, Any]) -> str:
    if "epoch" in event:
        return f"epoch {float(event['epoch']):.1f}: "
    return f"step {event['step']}: " if "step" in event else ""


def _state(snapshot: dict[str, Any], records: Sequence[dict[str, Any]]) -> str:
    lead = records[0]["final"] if records else {}
    where = next((f"{k} {lead[k]:g}" for k in X_KEYS if lead.get(k) is not None), "")
    state = str(snapshot.get("state", ""))
    return f"{state} at {where}" if state and where else state or where


# -- figures -----------------------------------------------------------------------------------------
def report_figures(snapshot: dict[str, Any], records: Sequence[dict[str, Any]]) -> list[Any]:
    """The curves of every measure the runs recorded, then the decision maps if the snapshot has them."""
    return [*curve_figures(records), *decision_maps(snapshot, [str(r["name"]) for r in records])]


def measure_of(key: str) -> str:
    """The figure a series goes on: train_loss and val_loss on "loss", reliance_legit on "reliance"."""
    return next((m for m in MEASURES if key == m or key.endswith("_" + m)), key.split("_")[0])


def curve_figures(records: Sequence[dict[str, Any]]) -> list[Any]:
    """One figure per measure: every run's series of it against epoch (or step); train solid, val dashed."""
    groups: dict[str, list[tuple[int, dict[str, Any], str]]] = {}
    for i, record in enumerate(records):
        for key in record["series"]:
            if key not in X_KEYS:
                groups.setdefault(measure_of(key), []).append((i, record, key))
    figures = []
    for measure, members in groups.items():
        traces, x_name, others = [], "", {}
        for i, record, key in members:
            series = record["series"]
            x_name = next((k for k in X_KEYS if k in series), "point")
            xs = series.get(x_name, list(range(len(series[key]))))
            xs, ys = viz.decimate(xs[: len(series[key])], series[key], max_points=2000)
            dash = DASHES.get(key.split("_")[0])
            if dash is None:  # a third, fourth ... series of this run on this figure
                others[i] = others.get(i, -1) + 1
                dash = OTHER_DASHES[others[i] % len(OTHER_DASHES)]
            traces.append({"type": "scatter", "mode": "lines", "x": xs, "y": ys, "name": f"{record['name']} {key}",
                           "line": {"color": RUN_COLORS[i % len(RUN_COLORS)], "width": 2, "dash": dash}})
        title = MEASURES.get(measure, measure.replace("_", " ").capitalize())
        figures.append(viz.figure(traces, viz.base_layout(
            title, CURVE_HEIGHT, f"report-{measure}", margin={**MARGIN, "b": 70}, xaxis={"title": {"text": x_name}},
            legend={"orientation": "h", "y": -0.3, "x": 0, "font": {"size": 11}},
            yaxis={"title": {"text": title.lower()}})))
    return figures


def decision_maps(snapshot: dict[str, Any], names: Sequence[str]) -> list[Any]:
    """Each run's decision map, where the snapshot has the plane, its points and the runs' grids."""
    if not {"grid_axis", "data"} <= snapshot.keys() or "X_train" not in snapshot.get("data", {}):
        return []
    maps = [viz.decision_map(run.get("grid"), snapshot["grid_axis"], snapshot["data"], f"Decision map, run {name}")
            for run, name in zip(snapshot.get("runs", ()), names) if "grid" in run]
    return [fig.update_layout(margin=MARGIN) for fig in maps]


def _figure_html(fig: Any, *, first: bool) -> str:
    """A figure as a div and its script; the first one carries plotly.js itself, inline (no CDN)."""
    height = fig.layout.height
    return fig.to_html(full_html=False, include_plotlyjs=first, config={"displaylogo": False, "responsive": True},
                       default_width="100%", default_height=f"{height}px" if height else "100%")


# -- text ------------------------------------------------------------------------------------------
def _e(text: str) -> str:
    return html.escape(str(text), quote=True)


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    return str(value)


def _number(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:.6g}" if isinstance(value, float) else str(value)
