import json
import time

import pytest
from streamlit.testing.v1 import AppTest

from core.ui.labs import batchnorm, cnn, coadaptation, overfitting, production, uncertainty, variants
from core.ui.labs.overfitting import JOB
from core.ui.labs.playground import NS, RUNNER

HELD = (RUNNER, JOB, coadaptation.RUNNER, coadaptation.FEATURES_JOB, uncertainty.REG_RUNNER, uncertainty.CLS_RUNNER,
        uncertainty.DIGIT_JOB, cnn.RUNNER, cnn.REBUILD_JOB, cnn.SPATIAL_JOB, variants.RUNNER, variants.JOB, *batchnorm.JOBS,
        production.RUNNER, *production.JOBS)
"""Session-state keys of the things a page starts: closed after each test."""

APP = "../../app.py"
PLAYGROUND = "pages/02_playground.py"


@pytest.fixture(autouse=True)
def fresh_result_caches():
    """Finished results are shared by the whole process (as on a server); each test starts without them."""
    panels = (overfitting.JOBS, coadaptation.FEATURES, uncertainty.DIGITS, cnn.REBUILD, cnn.SPATIAL, variants.PANEL, *batchnorm.PANELS.values(),
              *production.PANELS.values())
    for panel in panels:
        panel.clear()
    yield
    for panel in panels:
        panel.clear()


@pytest.fixture
def open_page():
    """Open the app (optionally on a page, with a preset); stop every runner it started afterwards."""
    apps: list[AppTest] = []

    def _open(page: str | None = None, preset: str | None = None, query: dict | None = None,
              raw_state: dict | None = None, **state) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params.update(query or {})
        if preset:
            at.session_state[NS + "preset"] = preset
        for key, value in state.items():
            at.session_state[NS + key] = value
        for key, value in (raw_state or {}).items():
            at.session_state[key] = value
        at.run()
        if page:
            at.switch_page(page).run()
        apps.append(at)
        return at

    yield _open
    for at in apps:
        for key in HELD:
            held = at.session_state[key] if key in at.session_state else None
            if held is not None:
                held.close()


def charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def chart_titled(at: AppTest, title: str) -> dict:
    return next(c for c in charts(at) if c["layout"].get("title", {}).get("text", "").startswith(title))


def wait_until_done(job, timeout: float = 120, why: str = "the background run did not finish") -> None:
    """Waits for a background run (or its session handle) to end, however busy the machine; fails if it did not."""
    deadline = time.monotonic() + timeout
    while job.alive and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not job.alive, f"{why} within {timeout:.0f} s"
