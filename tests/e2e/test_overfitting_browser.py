"""Lesson 3 in a real browser: a link runs to a verdict; progress and cancel; tab close; two sessions share a run."""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import click_until, trainer_threads

pytestmark = pytest.mark.e2e

FIRST_LOAD_TIMEOUT_MS = 90_000  # a fresh server imports torch first


def test_a_link_runs_an_experiment_to_its_verdict(app_server, page: Page, artifacts):
    page.goto(app_server.base_url + "/overfitting?experiment=hinton&seeds=3&length=40&width=32&layers=1")
    run = page.get_by_role("button", name=re.compile(r"Run: 6 networks"))
    expect(run).to_be_visible(timeout=FIRST_LOAD_TIMEOUT_MS)
    run.click()
    expect(page.get_by_text(re.compile(r"Verdict: (the claim|unclear)"))).to_be_visible(timeout=60_000)
    expect(page.get_by_text(re.compile(r"over 3 seeds")).first).to_be_visible()
    # The chart really holds the training curves: 2 runs x 2 losses, each with its band, and a star at
    # each run's best epoch (early stopping, the rival).
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')].some(p => (p.data || []).length === 10 && "
        "(p.data || []).filter(t => t.mode === 'markers' && / best epoch$/.test(t.name)).length === 2)",
        timeout=20_000,
    )
    expect(page.get_by_text(re.compile(r"Early stopping, the rival\. Each run without dropout")).first).to_be_visible()
    expect(page.get_by_role("button", name="Download the data (JSON)")).to_be_visible()
    page.screenshot(path=str(artifacts / "overfitting-verdict.png"), full_page=True)


def test_a_long_run_shows_progress_and_can_be_cancelled(app_server, page: Page, artifacts):
    page.goto(app_server.base_url + "/overfitting?experiment=fig9a&seeds=10&length=5000&width=128&layers=2")
    page.get_by_role("button", name=re.compile(r"Run: \d+ networks")).click(timeout=FIRST_LOAD_TIMEOUT_MS)
    expect(page.get_by_text(re.compile(r"networks as one batched model: \d+ %, about \d+ s left"))).to_be_visible(
        timeout=30_000)
    page.screenshot(path=str(artifacts / "overfitting-progress.png"))
    click_until(page.get_by_role("button", name="Cancel"), page.get_by_text("Cancelled. Nothing was kept from that run."))
    expect(page.get_by_role("button", name=re.compile(r"Run: \d+ networks"))).to_be_visible()


def test_closing_the_tab_stops_a_running_experiment(own_app_server, browser):
    """The sweep thread is held by the session's lease, like the Playground's trainer."""
    pid = own_app_server.pid
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(own_app_server.base_url + "/overfitting?experiment=fig9a&seeds=10&length=5000")
        page.get_by_role("button", name=re.compile(r"Run: \d+ networks")).click(timeout=FIRST_LOAD_TIMEOUT_MS)
        expect(page.get_by_role("button", name="Cancel")).to_be_visible(timeout=30_000)
        # The run trains in the job worker, a process the first job starts (it imports torch first).
        deadline = time.monotonic() + 60
        while not trainer_threads(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert trainer_threads(pid) >= 1  # torch may start a helper thread that inherits the name
    finally:
        context.close()
    deadline = time.monotonic() + 20
    while trainer_threads(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert trainer_threads(pid) == 0, "the experiment kept training 20 s after its tab closed"


def test_two_students_pressing_run_on_the_same_settings_share_one_run(app_server, browser):
    url = app_server.base_url + "/overfitting?experiment=fig9a&seeds=4&length=3000&width=64&layers=1"
    contexts = [browser.new_context(), browser.new_context()]  # two sessions, as two students
    try:
        pages = [c.new_page() for c in contexts]
        for page in pages:
            page.goto(url)
            page.get_by_role("button", name=re.compile(r"Run: \d+ networks")).click(timeout=FIRST_LOAD_TIMEOUT_MS)
        expect(pages[0].get_by_text(re.compile(r"shared with 1 other session"))).to_be_visible(timeout=15_000)
        click_until(pages[0].get_by_role("button", name="Cancel"),
                    pages[0].get_by_text("Cancelled. Nothing was kept from that run."))
        # The other student's run goes on: its progress keeps climbing.
        progress = pages[1].get_by_text(re.compile(r"networks as one batched model: \d+ %"))
        percent = lambda: int(re.search(r"model: (\d+) %", progress.inner_text()).group(1))  # noqa: E731
        before = percent()
        deadline = time.monotonic() + 20
        while percent() <= before and time.monotonic() < deadline:
            time.sleep(0.25)
        assert percent() > before, "the run stopped when the other student cancelled"
        click_until(pages[1].get_by_role("button", name="Cancel"),
                    pages[1].get_by_text("Cancelled. Nothing was kept from that run."))
    finally:
        for c in contexts:
            c.close()


def test_the_regime_map_runs_from_a_link_to_two_marked_heatmaps(app_server, page: Page, artifacts):
    page.goto(app_server.base_url + "/overfitting?experiment=regime&dataset=moons&nuisance=5&seeds=2&steps=100")
    run = page.get_by_role("button", name=re.compile(r"Run: 30 cells, 120 networks"))
    expect(run).to_be_visible(timeout=FIRST_LOAD_TIMEOUT_MS)
    run.click()
    expect(page.get_by_text(re.compile(r"\d+ of 30 cells hold"))).to_be_visible(timeout=120_000)
    # Two heatmaps, every cell carrying its verdict's mark.
    page.wait_for_function(
        "() => { const maps = [...document.querySelectorAll('.js-plotly-plot')].filter("
        "p => (p.data || [])[0] && p.data[0].type === 'heatmap');"
        " return maps.length === 2 && maps.every(p => p.data[0].text.flat().every(t => /[✓✗·]$/.test(t))); }",
        timeout=20_000,
    )
    expect(page.get_by_role("button", name="Download the data (JSON)")).to_be_visible()
    page.screenshot(path=str(artifacts / "overfitting-regime.png"), full_page=True)
