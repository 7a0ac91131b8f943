"""Take a live lab away: its runs' curves and final numbers (CSV, JSON), a lab report (one HTML page with the
settings, the numbers and the figures: ``core.report``) and each run as a standalone PyTorch script.
Everything is made when the button is clicked, from the runner's latest snapshot, so a download is the run
as it is then, not as it was when the page was drawn."""
from __future__ import annotations

from typing import Any

import streamlit as st

from core.engine.config import RunConfig
from core.engine.script import exportable, pytorch_script
from core.lessons import all_lessons
from core.live.export import RUN_NAMES, records_csv, records_json, run_records
from core.live.pool import Runner
from core.report import snapshot_report
from core.ui.frame import current_page


def downloads(runner: Runner, snapshot: dict[str, Any], *, name: str) -> None:
    """One row of download buttons under a live view; ``name`` names the files (``dropout-lab-NAME.csv``)."""
    latest = lambda: run_records(runner.snapshot())  # noqa: E731 (called on click, in Streamlit's thread)
    stem = f"dropout-lab-{name}"
    configs = [(run.get("name", RUN_NAMES[i]), run["config"], bool(run.get("events")))
               for i, run in enumerate(snapshot.get("runs", ())) if isinstance(run.get("config"), RunConfig)]
    scripts = [(run, changed) for run, cfg, changed in configs if exportable(cfg) is None]
    cols = st.columns(3 + max(len(scripts), 1))
    cols[0].download_button(
        "⬇ Curves (CSV)", data=lambda: records_csv(latest()), file_name=f"{stem}.csv", mime="text/csv",
        on_click="ignore", key=f"{name}.csv.download", use_container_width=True,
        help="Every run's recorded curves, one row per point, as they are when you click.")
    cols[1].download_button(
        "⬇ Runs (JSON)", data=lambda: records_json(latest(), lab=name), file_name=f"{stem}.json",
        mime="application/json", on_click="ignore", key=f"{name}.json.download", use_container_width=True,
        help="Every run's settings, curves and final numbers.")
    title = f"Lab report: {_page_title(name)}"
    cols[2].download_button(
        "⬇ Lab report (HTML)", data=lambda: snapshot_report(runner.snapshot(), title=title, lab=name),
        file_name=f"{stem}-report.html", mime="text/html", on_click="ignore", key=f"{name}.report.download",
        use_container_width=True,
        help="One page to hand in: the date, every run's settings, its final numbers and the figures (the curves, "
             "and the decision maps where the lab draws them), interactive, as they are when you click. It opens "
             "in any browser, offline.")
    for col, (run, changed) in zip(cols[3:], scripts):
        caveat = (" This run's settings were changed while it trained; the script trains with the settings as they "
                  "are now from the first step, so its numbers will differ from this run's." if changed else "")
        col.download_button(
            f"⬇ Run {run} as PyTorch", data=_script(runner, run, name), file_name=f"{stem}-{run}.py",
            mime="text/x-python", on_click="ignore", key=f"{name}.script{run}.download", use_container_width=True,
            help=f"A standalone .py (torch and numpy only) that rebuilds run {run} from its seed: the same data, "
                 "initial weights, masks and batches. `python run.py` trains it to its last epoch and prints the "
                 "final numbers, which match this run's on the same device." + caveat)
    if configs and not scripts:
        cols[3].caption(exportable(configs[0][1]) + " Its curves and numbers download all the same.")


def _page_title(name: str) -> str:
    """The page's title as the menu shows it ("2. The Playground"), with ``name`` if it names one of
    several live views there; ``name`` alone outside the router."""
    slug = current_page()
    lesson = next((lesson for lesson in all_lessons() if lesson.id.split("_", 1)[1] == slug), None)
    if lesson is None:
        return name
    return f"{lesson.order}. {lesson.title}" + ("" if name == slug else f" ({name})")


def _script(runner: Runner, run: str, lab: str):
    def make() -> str:
        snapshot = runner.snapshot()
        names = [r.get("name", RUN_NAMES[i]) for i, r in enumerate(snapshot.get("runs", ()))]
        cfg = snapshot["runs"][names.index(run)]["config"]  # its live changes included
        return pytorch_script(cfg, title=f"Run {run} of the Dropout Lab {lab}")
    return make
