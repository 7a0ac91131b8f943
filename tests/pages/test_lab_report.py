"""The "Lab report (HTML)" download under a live lab: the button is there, and the file it gives, made when it is
clicked and outside the script run (as Streamlit makes it), is the report of the current run."""
import pytest
from streamlit.runtime.media_file_manager import MediaFileManager

from core.live.export import run_records
from core.ui.labs.playground import RUNNER
from tests.core.test_report import Page
from tests.pages.conftest import PLAYGROUND

REPORT = "dropout-lab-playground-report.html"


@pytest.fixture
def deferred(monkeypatch):
    """Each download button's on-click data, by file name: what Streamlit calls when the button is clicked."""
    made: dict[str, tuple] = {}
    register = MediaFileManager.add_deferred

    def recorded(self, data_callable, mimetype, coordinates, file_name=None, **kw):
        made[file_name] = (data_callable, mimetype)
        return register(self, data_callable, mimetype, coordinates, file_name=file_name, **kw)

    monkeypatch.setattr(MediaFileManager, "add_deferred", recorded)
    return made


def test_the_playground_offers_its_lab_report_and_it_is_the_current_run(open_page, deferred):
    at = open_page(PLAYGROUND, preset="tiny")
    runner = at.session_state[RUNNER]
    runner.wait_for(lambda s: s["state"] == "finished", timeout=20)
    at.run()
    assert not at.exception
    button = next(b for b in at.get("download_button") if b.proto.label == "⬇ Lab report (HTML)")
    assert "settings" in button.proto.help and "offline" in button.proto.help
    make, mime = deferred[REPORT]
    assert mime == "text/html"
    snapshot = runner.snapshot()
    page = Page(make())  # called here, in a thread with no script context, as on a click
    assert page.h1 == "Lab report: 2. Playground"
    records = run_records(snapshot)
    finals = page.table(1)
    assert finals[""] == ["Run A", "Run B"]
    assert float(finals["epoch"][0]) == snapshot["runs"][0]["epoch"] == 20
    assert [float(c) for c in finals["val_loss"]] == [pytest.approx(r["final"]["val_loss"], rel=1e-5)
                                                      for r in records]
    assert page.table(0)["model.p_hidden"] == ["0.5", "0.0"]
    assert len(page.figures) == 4  # loss, accuracy and the two decision maps
    assert [s["src"] for s in page.scripts if s["src"]] == []
