"""The lab report (``core.report``) read back as a browser would parse it: its tables hold the records' settings
and final numbers, plotly.js is inline once and nothing is loaded from the network, there is one figure per
figure built, and no text from a run reaches the page unescaped."""
import datetime as dt
from dataclasses import replace
from html.parser import HTMLParser

import pytest

from core import report
from core.engine.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.labs.uncertainty.regression import RegressionConfig
from core.labs.uncertainty.regression_runner import LiveRegression
from core.live.export import run_records
from core.live.pair import LiveRunner

CFG = RunConfig(DataConfig(n_train=40, n_val=40), ModelConfig(num_hiddens=(8,), p_hidden=(0.5,)),
                TrainConfig(max_epochs=6, device="cpu"))
WHEN = dt.datetime(2025, 3, 4, 10, 30, tzinfo=dt.timezone.utc)
HOSTILE = "<script>alert(1)</script>"


class Page(HTMLParser):
    """What a browser would build from the page: its heading, tables, scripts, figure divs, list items."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.h1, self.tables, self.scripts, self.figures, self.items, self.links = "", [], [], [], [], []
        self._in: list[str] = []
        self._row: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._in.append(tag)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._row.append("")
        elif tag == "script":
            self.scripts.append({"src": attrs.get("src"), "text": ""})
        elif tag == "div" and "plotly-graph-div" in (attrs.get("class") or "").split():
            self.figures.append(attrs["id"])
        elif tag == "li":
            self.items.append("")
        elif tag == "link":
            self.links.append(attrs)

    def handle_endtag(self, tag):
        if self._in and self._in[-1] == tag:
            self._in.pop()
        if tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data):
        where = self._in[-1] if self._in else ""
        if where == "h1":
            self.h1 += data
        elif where in ("td", "th") and self._row is not None:
            self._row[-1] += data
        elif where == "script":
            self.scripts[-1]["text"] += data
        elif where == "li":
            self.items[-1] += data

    def table(self, i: int) -> dict[str, list[str]]:
        """Table ``i`` as {row heading: cells}, the header row under ""."""
        return {row[0]: row[1:] for row in self.tables[i]}


@pytest.fixture(scope="module")
def pair():
    """A real finished A/B snapshot of the pair kind (the Playground's), 6 epochs."""
    b = replace(CFG, model=CFG.model.with_p(p_hidden=(0.0,)))
    runner = LiveRunner(CFG, b, epochs_per_second=None)
    try:
        runner.send("play")
        snap = runner.wait_for(lambda s: s["state"] in ("finished", "diverged", "error"), 120)
    finally:
        runner.close()
    assert snap["state"] == "finished"
    return snap


def test_the_tables_hold_every_runs_settings_and_final_numbers(pair):
    records = run_records(pair)
    page = Page(report.snapshot_report(pair, title="Lab report: 2. Playground", lab="playground", when=WHEN))
    assert page.h1 == "Lab report: 2. Playground"
    settings, finals = page.table(0), page.table(1)
    assert settings[""] == finals[""] == ["Run A", "Run B"]
    assert set(settings) - {""} == set(records[0]["settings"])
    assert settings["model.p_hidden"] == ["0.5", "0.0"] and settings["train.lr"] == ["0.003", "0.003"]
    assert settings["data.dataset"] == [CFG.data.dataset] * 2
    assert set(finals) - {""} == set(records[0]["final"])
    for key, cells in finals.items():
        if key:
            assert [float(c) for c in cells] == [pytest.approx(r["final"][key], rel=1e-5) for r in records], key
    assert finals["val_acc"] and float(finals["epoch"][0]) == 6


def test_plotly_js_is_inline_once_and_nothing_comes_from_the_network(pair):
    text = report.snapshot_report(pair, title="t", lab="playground", when=WHEN)
    page = Page(text)
    assert [s["src"] for s in page.scripts if s["src"]] == [] and page.links == []
    library = [s for s in page.scripts if "plotly.js v" in s["text"][:200]]
    assert len(library) == 1 and len(library[0]["text"]) > 1_000_000
    assert text.count("plotly.js v") == 1  # its banner: the library is in the page once, not once per figure


def test_each_figure_is_one_interactive_div_the_curves_first_then_the_maps(pair):
    records = run_records(pair)
    figures = report.report_figures(pair, records)
    titles = [f.layout.title.text for f in figures]
    assert titles == ["Loss", "Accuracy", "Decision map, run A", "Decision map, run B"]
    loss = {t.name: t for t in figures[0].data}
    assert list(loss["A train_loss"].y) == records[0]["series"]["train_loss"]
    assert list(loss["B val_loss"].x) == records[1]["series"]["epoch"]
    assert loss["A val_loss"].line.dash == "dash" and loss["A train_loss"].line.dash == "solid"
    page = Page(report.lab_report("t", records, figures, when=WHEN))
    assert len(page.figures) == len(figures) == 4 and len(set(page.figures)) == 4
    drawn = " ".join(s["text"] for s in page.scripts)
    assert all(f'Plotly.newPlot(                        "{div}"' in drawn for div in page.figures)


def test_text_from_a_run_is_escaped_everywhere(pair):
    records = run_records(pair)
    records[0] = {**records[0], "name": HOSTILE, "settings": {**records[0]["settings"], "data.dataset": HOSTILE}}
    text = report.lab_report(f"Report {HOSTILE}", records, report.curve_figures(records), lab=HOSTILE,
                             changes=[[HOSTILE], []], when=WHEN)
    page = Page(text)
    assert page.h1 == f"Report {HOSTILE}"  # shown as text ...
    assert page.table(0)[""] == [f"Run {HOSTILE}", "Run B"] and page.table(0)["data.dataset"][0] == HOSTILE
    assert page.items == [f"Run {HOSTILE}: {HOSTILE}"]
    # ... never run: in the figures' data it is JSON with < and > written as \u003c, \u003e
    assert all("alert(1)" not in s["text"] or "\\u003cscript\\u003e" in s["text"] for s in page.scripts)
    assert text.count("<script>alert") == 0 and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_the_date_the_state_and_the_live_changes_are_written(pair):
    snap = {**pair, "runs": [{**pair["runs"][0], "events": [{"epoch": 3.0, "step": 9, "kind": "p",
                                                               "text": "p 0.5 → 0.2"}], "events_hidden": 2},
                             pair["runs"][1]]}
    text = report.snapshot_report(snap, title="t", lab="playground", when=WHEN)
    assert "Dropout Lab · playground · 2025-03-04 10:30 UTC · finished at epoch 6" in text
    assert Page(text).items == ["Run A: 2 earlier change(s) not kept; epoch 3.0: p 0.5 → 0.2"]


def test_a_one_run_kind_without_a_plane_gets_its_curves_and_no_maps():
    runner = LiveRegression(RegressionConfig(max_epochs=3), epochs_per_second=None)
    try:
        runner.send("play")
        snap = runner.wait_for(lambda s: s["state"] in ("finished", "diverged", "error"), 120)
    finally:
        runner.close()
    records = run_records(snap)
    figures = report.report_figures(snap, records)
    assert [f.layout.title.text for f in figures] == ["Loss", "Mean squared error"]
    page = Page(report.snapshot_report(snap, title="t", lab="regression", when=WHEN))
    assert page.table(0)[""] == ["Run A"] and page.table(0)["max_epochs"] == ["3"]
    assert len(page.figures) == 2


def test_series_are_grouped_by_what_they_measure():
    assert [report.measure_of(k) for k in ("train_loss", "val_loss", "batch_loss", "train_mse", "serving_acc",
                                           "legit_only_acc", "reliance_legit", "reliance_context")] == [
        "loss", "loss", "loss", "mse", "acc", "acc", "reliance", "reliance"]


def test_a_report_with_no_runs_yet_says_so_and_carries_no_library():
    page = Page(report.lab_report("Empty", [], [], when=WHEN))
    assert page.tables == [] and page.scripts == [] and page.figures == []
