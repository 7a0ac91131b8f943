"""A hostile walk in a real browser: junk in every page's link, and a worker stopped while it trains.

Each page is opened with values no control could send (Markdown links, images, HTML, numbers out
of range) in the link parameters it reads, and in some it does not. The page must load, say in a
sentence what it refused, render no link or image to another site and show no traceback. Then the
trainer workers are stopped with SIGSTOP while the Playground trains: the watchdog must say so in
a sentence, and a new run must train.
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import click_until, process_tree, streamlit_server
from tests.e2e.test_class_server_browser import epoch, wait_for_epoch_past
from tests.e2e.test_playground_browser import FIRST_CHART_TIMEOUT_MS, wait_for_training

pytestmark = pytest.mark.e2e

HOSTILE = ("[Session expired: sign in](https://evil.example/login) ![x](https://evil.example/x.png) "
           "<a href='https://evil.example/a'>x</a> **bold** :red[red]")
REFUSED = re.compile(r"cannot be used|which does not exist")
WATCHDOG_SENTENCE_TIMEOUT_MS = 30_000  # the bound; the watchdog itself finds it within 8 s


def _query(names: list[str]) -> str:
    from urllib.parse import urlencode
    values = dict(name.split("=", 1) if "=" in name else (name, HOSTILE) for name in names)
    return urlencode({"width": "-1e308", "p": "nan"} | values)


def _nothing_foreign(page: Page) -> None:
    expect(page.locator("a[href*='evil']")).to_have_count(0)
    expect(page.locator("img[src*='evil']")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_text("Traceback")).to_have_count(0)


@pytest.mark.parametrize("path, names, refuses", [
    ("/playground", ["preset", "rates"], True),
    ("/overfitting", ["experiment"], True),
    ("/overfitting", ["experiment=fig10", "sizes"], True),
    ("/overfitting", ["experiment=fig9a", "rates", "dataset", "seeds", "length"], True),
    ("/coadaptation", ["dataset", "activation", "speed", "seed", "layer"], True),
    ("/mechanism", ["preset", "passes", "p"], False),
    ("/uncertainty", ["digit", "T", "p"], False),
    ("/", ["page", "lesson"], False),
])
def test_junk_in_a_page_s_link_is_refused_in_a_sentence_with_no_foreign_link(app_server, page: Page,
                                                                             path, names, refuses):
    page.goto(f"{app_server.base_url}{path}?{_query(names)}")
    expect(page.locator("h1").first).to_be_visible(timeout=FIRST_CHART_TIMEOUT_MS)
    if refuses:
        said = page.get_by_test_id("stAlertContentWarning").filter(has_text=REFUSED)
        expect(said.first).to_be_visible(timeout=FIRST_CHART_TIMEOUT_MS)
        # the value is shown as it is, as code, not rendered
        expect(said.locator("code").filter(has_text="[Session expired: sign in](https://evil.").first).to_be_visible()
    _nothing_foreign(page)


def _trainer_workers(server_pid: int) -> list[int]:
    """The server's trainer worker processes (``python -m core.worker FD CAP NICE``), not its job worker."""
    from core.live.process import WORKER_NICE
    found = []
    for pid in process_tree(server_pid)[1:]:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"core.worker" in argv and argv[-2:] == [str(WORKER_NICE).encode(), b""]:
            found.append(pid)
    return found


def test_a_stopped_worker_is_said_in_a_sentence_and_a_new_run_trains(page: Page):
    with streamlit_server("streamlit-e2e-sigstop") as server:
        stopped: list[int] = []
        try:
            page.goto(server.base_url + "/playground")
            wait_for_training(page)
            stopped = _trainer_workers(server.pid)
            assert stopped, "no trainer worker process while the Playground trains"
            for pid in stopped:
                os.kill(pid, signal.SIGSTOP)
            expect(page.get_by_text("it stopped answering for").first).to_be_visible(
                timeout=WATCHDOG_SENTENCE_TIMEOUT_MS)
            expect(page.get_by_text("This is a new one.").first).to_be_visible(timeout=FIRST_CHART_TIMEOUT_MS)
            _nothing_foreign(page)
            replaced = _trainer_workers(server.pid)
            assert replaced and not set(replaced) & set(stopped), "the stopped workers were not replaced"
            click_until(page.get_by_role("button", name="▶ Play", exact=True),
                        page.get_by_role("button", name="⏸ Pause", exact=True))
            wait_for_epoch_past(page, epoch(page), FIRST_CHART_TIMEOUT_MS)  # the new run trains
        finally:
            for pid in stopped:  # a worker the watchdog missed must not stay stopped forever
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
