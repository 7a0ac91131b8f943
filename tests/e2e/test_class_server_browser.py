"""The app as a class's server: trainers in worker processes, a killed worker, a full class, a clean stop.

Each test starts a server of its own (as a new user gets it: trainers in worker processes),
so the processes it counts are its own.
"""
from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import click_until, process_tree, streamlit_server, trainer_threads
from tests.e2e.test_playground_browser import FIRST_CHART_TIMEOUT_MS, wait_for_training

pytestmark = pytest.mark.e2e


def workers(server_pid: int) -> list[int]:
    """The server's worker processes (``python -m core.worker ...``)."""
    found = []
    for pid in process_tree(server_pid)[1:]:
        try:
            if b"core.worker" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
        except OSError:
            continue
    return found


def epoch(page: Page) -> float:
    text = page.get_by_test_id("stProgress").first.inner_text()
    return float(text.split("Epoch ", 1)[1].split(" ", 1)[0])


def wait_for_epoch_past(page: Page, start: float, timeout_ms: float) -> None:
    """Waits until a progress bar shows an epoch past ``start`` (the run trains), however slow the machine."""
    page.wait_for_function(
        "(start) => [...document.querySelectorAll('[data-testid=stProgress]')].some("
        "(bar) => parseFloat((bar.innerText.split('Epoch ')[1] || '').split(' ')[0]) > start)",
        arg=start, timeout=timeout_ms, polling=200)


def test_training_runs_in_worker_processes_and_a_killed_one_is_reported(own_app_server, page: Page):
    pid = own_app_server.pid
    page.goto(own_app_server.base_url + "/playground")
    wait_for_training(page)
    assert trainer_threads(pid) >= 1
    assert not any(t for t in Path(f"/proc/{pid}/task").glob("*/comm") if t.read_text().strip() == "dropout-trainer"), \
        "a live trainer ran inside the app's own process"
    before = workers(pid)
    assert len(before) == os.cpu_count()
    for worker in before:
        os.kill(worker, signal.SIGKILL)
    message = page.get_by_text("the process that ran it ended unexpectedly (killed by SIGKILL)")
    expect(message.first).to_be_visible(timeout=20_000)
    expect(page.get_by_text("This is a new one.").first).to_be_visible(timeout=FIRST_CHART_TIMEOUT_MS)
    assert sorted(workers(pid)) != sorted(before) and len(workers(pid)) == len(before)  # replaced
    click_until(page.get_by_role("button", name="▶ Play", exact=True),
                page.get_by_role("button", name="⏸ Pause", exact=True))
    wait_for_epoch_past(page, epoch(page), FIRST_CHART_TIMEOUT_MS)  # the new run trains after Play


def test_a_full_class_queues_a_run_until_a_place_frees(browser):
    with streamlit_server("streamlit-e2e-full", env={"DROPOUT_LAB_MAX_TRAINERS": "1"}) as server:
        first, second = browser.new_context(), browser.new_context()
        try:
            one, two = first.new_page(), second.new_page()
            one.goto(server.base_url + "/playground")
            wait_for_training(one)
            # The default run ends after 300 epochs (10 s at 30 epochs/s); on a slow machine the second
            # page can take longer than that to load, find the place free and never queue. So the first
            # run is made long (a live change: it trains on) and is seen still training before the second
            # student arrives.
            max_epochs = one.get_by_role("spinbutton", name="Max epochs")
            max_epochs.fill("100000")
            max_epochs.press("Enter")
            expect(one.get_by_text(re.compile(r"of 100000 · Training"))).to_be_visible(timeout=30_000)
            two.goto(server.base_url + "/playground")
            expect(two.get_by_text("The class is full").first).to_be_visible(timeout=FIRST_CHART_TIMEOUT_MS)
            expect(two.get_by_text("Queued").first).to_be_visible()
            pause = one.get_by_role("button", name="⏸ Pause", exact=True)
            expect(pause).to_be_enabled(timeout=30_000)
            click_until(pause, one.get_by_role("button", name="▶ Play", exact=True))  # a place frees up
            # The queued run trains once the place frees. Its epoch moving on is the sign: on a busy
            # machine its 300 epochs (10 s) can be over before a slow redraw ever shows "Training…".
            wait_for_epoch_past(two, 0.0, FIRST_CHART_TIMEOUT_MS)
            expect(two.get_by_text("The class is full")).to_have_count(0, timeout=30_000)
        finally:
            first.close()
            second.close()


def test_one_browser_s_tabs_share_its_cap_on_runs_and_another_browser_still_starts(browser):
    with streamlit_server("streamlit-e2e-tabs", env={"DROPOUT_LAB_MAX_RUNS_PER_BROWSER": "1"}) as server:
        greedy, classmate = browser.new_context(), browser.new_context()
        try:
            tab_1 = greedy.new_page()
            tab_1.goto(server.base_url + "/playground")
            wait_for_training(tab_1)
            tab_2 = greedy.new_page()  # the same browser: its cookie names it
            tab_2.goto(server.base_url + "/coadaptation")
            expect(tab_2.get_by_text("this browser already holds 1 run").first).to_be_visible(
                timeout=FIRST_CHART_TIMEOUT_MS)
            other = classmate.new_page()
            other.goto(server.base_url + "/coadaptation")
            expect(other.get_by_text(re.compile(r"Epoch [0-9.]+ of")).first).to_be_visible(
                timeout=FIRST_CHART_TIMEOUT_MS)
            expect(other.get_by_text("already holds")).to_have_count(0)
        finally:
            greedy.close()
            classmate.close()


def test_stopping_the_app_leaves_no_process_behind(browser):
    with streamlit_server("streamlit-e2e-stop") as server:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(server.base_url + "/playground")
            wait_for_training(page)
            children = process_tree(server.pid)[1:]
            assert workers(server.pid), "no worker process while the Playground trains"
            os.kill(server.pid, signal.SIGTERM)  # the app alone, as Ctrl-C or a service manager stops it
            deadline = time.monotonic() + 15
            while any(_alive(c) for c in children) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not [c for c in children if _alive(c)], "a process outlived the app"
        finally:
            context.close()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (OSError, IndexError):
        return False
    return state != "Z"
