"""A live lab's runs as data to take away: each run's settings, curves and final numbers, from any runner
kind's snapshot (``core.live.snapshots``), as CSV (one row per recorded point) and as JSON.

``run_records(snapshot)`` reads the three shapes there are: a list of runs with a ``history`` (the pair and
the CNN kinds), a list of runs with ``curves`` (lesson 9's serving runs) and one run with a ``history`` at
the top (the regression kind). Numbers that are not finite are written empty (CSV) or null (JSON).
"""
from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

from core.engine.config import RunConfig

RUN_NAMES = "ABCDEFGH"


def run_records(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """``[{"name", "settings", "series", "final"}]``: one per run, in the snapshot's order."""
    if "runs" in snapshot:
        records = []
        for i, run in enumerate(snapshot["runs"]):
            series = run.get("history", run.get("curves", {}))
            settings = _settings(run["config"]) if "config" in run else {
                **snapshot.get("spec", {}), **{k: run[k] for k in ("p", "mode") if k in run}}
            records.append(_record(run.get("name", RUN_NAMES[i]), settings, series))
        return records
    if "history" in snapshot:
        return [_record("A", _settings(snapshot.get("config", {})), snapshot["history"])]
    return []


def _settings(config: Any) -> dict[str, Any]:
    if isinstance(config, RunConfig):
        return config.to_flat()
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dict(config).items()}


def _record(name: str, settings: dict[str, Any], series: dict[str, list[float]]) -> dict[str, Any]:
    series = {k: [_number(v) for v in values] for k, values in series.items()}
    return {"name": name, "settings": settings, "series": series,
            "final": {k: values[-1] for k, values in series.items() if values}}


def _number(v: Any) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def records_json(records: list[dict[str, Any]], *, lab: str) -> str:
    return json.dumps({"lab": lab, "runs": records}, indent=1, allow_nan=False)


def records_csv(records: list[dict[str, Any]]) -> str:
    """Long form: ``run``, then every series any run has (an empty cell where a run lacks it)."""
    columns: list[str] = []
    for record in records:
        columns += [k for k in record["series"] if k not in columns]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["run", *columns])
    for record in records:
        series = record["series"]
        length = max((len(v) for v in series.values()), default=0)
        for i in range(length):
            row = [series[k][i] if k in series and i < len(series[k]) else None for k in columns]
            writer.writerow([record["name"], *("" if v is None else f"{v:.9g}" for v in row)])
    return out.getvalue()
