"""A live lab's runs as CSV and JSON, from each runner kind's real snapshot: the numbers written are the ones
the snapshot holds, the CSV has one row per recorded point, and nothing non-finite reaches the JSON."""
import csv
import io
import json
from dataclasses import replace

import pytest

from core.engine.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.labs.production.runner import LiveLeak
from core.labs.production.task import RunSpec
from core.labs.uncertainty.regression import RegressionConfig
from core.labs.uncertainty.regression_runner import LiveRegression
from core.live.export import records_csv, records_json, run_records
from core.live.pair import LiveRunner

CFG = RunConfig(DataConfig(n_train=40, n_val=40), ModelConfig(num_hiddens=(8,), p_hidden=(0.5,)),
                TrainConfig(max_epochs=6, device="cpu"))


def _finished(runner, timeout=120):
    try:
        runner.send("play")
        return runner.wait_for(lambda s: s["state"] in ("finished", "diverged", "error"), timeout)
    finally:
        runner.close()


def _rows(text):
    return list(csv.DictReader(io.StringIO(text)))


def test_a_pair_is_written_with_its_settings_curves_and_final_numbers():
    b = replace(CFG, model=CFG.model.with_p(p_hidden=(0.0,)))
    snap = _finished(LiveRunner(CFG, b, epochs_per_second=None))
    assert snap["state"] == "finished"
    records = run_records(snap)
    assert [r["name"] for r in records] == ["A", "B"]
    assert records[0]["settings"]["model.p_hidden"] == "0.5" and records[1]["settings"]["model.p_hidden"] == "0.0"
    for record, run in zip(records, snap["runs"]):
        assert record["final"]["val_loss"] == run["history"]["val_loss"][-1]
        assert record["series"]["epoch"] == run["history"]["epoch"]
    rows = _rows(records_csv(records))
    assert len(rows) == sum(len(r["history"]["epoch"]) for r in snap["runs"]) == 12
    last_a = [row for row in rows if row["run"] == "A"][-1]
    assert float(last_a["val_acc"]) == pytest.approx(snap["runs"][0]["history"]["val_acc"][-1], rel=1e-8)
    data = json.loads(records_json(records, lab="playground"))
    assert data["lab"] == "playground" and data["runs"][1]["final"]["epoch"] == 6


def test_a_diverged_run_writes_empty_cells_and_nulls_not_nan():
    from core.labs.playground.presets import preset
    cfg = preset("diverging")
    cfg = replace(cfg, data=replace(cfg.data, n_val=40), train=replace(cfg.train, max_epochs=20, device="cpu"))
    snap = _finished(LiveRunner(cfg, epochs_per_second=None))
    assert snap["state"] == "diverged"
    snap["runs"][0]["history"]["val_loss"][-1:] = [float("nan")]  # as a run that diverged at an evaluation has
    records = run_records(snap)
    text = records_json(records, lab="playground")  # allow_nan=False: it would raise on a NaN
    assert json.loads(text)["runs"][0]["final"]["val_loss"] is None
    rows = _rows(records_csv(records))
    assert len(rows) == len(snap["runs"][0]["history"]["epoch"]) and rows[-1]["val_loss"] == ""


def test_the_regression_kind_and_lesson_9s_runs_are_read_too():
    snap = _finished(LiveRegression(RegressionConfig(max_epochs=3), epochs_per_second=None))
    records = run_records(snap)
    assert len(records) == 1 and records[0]["series"]["train_mse"] == snap["history"]["train_mse"]
    assert records[0]["settings"]["max_epochs"] == 3
    spec = RunSpec(steps=40, n_train=200, n_test=200)
    snap = _finished(LiveLeak([spec.but(p=0.5), spec.but(p=0.0)], measure_every=10))
    records = run_records(snap)
    assert [r["settings"]["p"] for r in records] == [0.5, 0.0]
    assert records[1]["final"] == snap["runs"][1]["last"]
    rows = _rows(records_csv(records))
    assert {row["run"] for row in rows} == {"A", "B"} and len(rows) == 2 * len(snap["runs"][0]["curves"]["step"])
