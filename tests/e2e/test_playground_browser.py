"""The real app in a real browser: the home page, live training in the Playground, and cleanup.

The Playground keeps redrawing (a fragment with ``run_every``), so nothing here waits for
network idle or sleeps: every wait is ``page.wait_for_function`` over the Plotly figure that
the page actually shows. Streamlit renders each ``st.plotly_chart`` inside ``.stPlotlyChart``;
the graph div (``.js-plotly-plot``) holds the figure in its ``.data`` / ``.layout`` properties.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import click_until, trainer_threads

pytestmark = pytest.mark.e2e

FIRST_CHART_TIMEOUT_MS = 60_000  # the first page of a fresh server imports torch
CHANGE_TIMEOUT_MS = 20_000
LOSS_TITLE = "Cross-entropy loss"
P_SLIDER = "Dropout p, hidden layer 1"

# `findCharts(title)`: the visible Plotly graph divs whose title is `title`. Streamlit wraps
# titles in <b>...</b> (sometimes twice), so tags are stripped; while a fragment reruns it
# keeps a hidden stale copy of each chart next to the new one, so hidden copies are skipped.
FIND_CHARTS_JS = """
const findCharts = (title) => {
  const strip = (t) => String((t && typeof t === 'object') ? t.text : t || '').replace(/<[^>]*>/g, '').trim();
  return [...document.querySelectorAll('.stPlotlyChart .js-plotly-plot')].filter(
    (gd) => gd.layout && strip(gd.layout.title) === title && gd.getClientRects().length > 0);
};
const nPoints = (xs) => xs == null ? 0 : (xs.length ?? (xs._inputArray ? xs._inputArray.length : 0));
"""


def wait_for_chart(page: Page, title: str, condition: str, arg=None, timeout: float = CHANGE_TIMEOUT_MS) -> None:
    """Wait until some visible chart titled ``title`` satisfies ``condition``.

    ``condition`` is a JS expression over ``gd`` (the graph div, with ``gd.data`` and
    ``gd.layout``), ``arg`` and the helper ``nPoints(array)``.
    """
    script = f"({{title, arg}}) => {{ {FIND_CHARTS_JS} return findCharts(title).some((gd) => {condition}); }}"
    page.wait_for_function(script, arg={"title": title, "arg": arg}, timeout=timeout, polling=100)


def chart_summary(page: Page, title: str) -> list[dict]:
    """What the charts titled ``title`` show right now (for failure messages)."""
    script = f"""(title) => {{ {FIND_CHARTS_JS}
      return findCharts(title).map((gd) => ({{
        traces: gd.data.map((t) => `${{t.name}} (${{nPoints(t.x)}} points)`),
        annotations: (gd.layout.annotations || []).map((a) => a.text),
      }})); }}"""
    return page.evaluate(script, title)


def wait_for_training(page: Page, min_points: int = 5) -> None:
    """Wait until the loss chart shows a training curve with at least ``min_points`` points."""
    wait_for_chart(
        page, LOSS_TITLE,
        "gd.data.some((t) => / train$/.test(t.name || '') && nPoints(t.x) >= arg)",
        arg=min_points, timeout=FIRST_CHART_TIMEOUT_MS,
    )


def full_screenshot(page: Page, path: Path) -> None:
    """Streamlit scrolls inside its main section, so grow the viewport to fit it first."""
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll('[data-testid=stMain], [data-testid=stSidebarContent]')]"
        ".map((e) => e.scrollHeight), window.innerHeight)"
    )
    page.set_viewport_size({"width": page.viewport_size["width"], "height": min(int(height) + 50, 6000)})
    page.screenshot(path=str(path), full_page=True)


def test_home_links_to_playground(app_server, page: Page):
    page.goto(app_server.base_url + "/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Dropout Lab", timeout=FIRST_CHART_TIMEOUT_MS)

    page.get_by_test_id("stMain").get_by_role("link", name="Playground").click()

    expect(page).to_have_url(re.compile(r"/playground$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Playground", timeout=FIRST_CHART_TIMEOUT_MS)


def test_playground_trains_and_follows_the_p_slider(app_server, page: Page, artifacts: Path):
    page.goto(app_server.base_url + "/playground")
    wait_for_training(page)  # the first visit starts training at once

    # The default run lasts 10 s, much of which a slow machine spends on the first render. So that
    # p surely changes mid-run, slow down to 10 epochs/s and restart from epoch 0 (Reset, then Play).
    speed = page.get_by_role("slider", name="Speed (epochs per second)")
    speed.focus()
    speed.press("ArrowLeft")  # 30 -> 10
    expect(speed).to_have_attribute("aria-valuetext", "10")
    click_until(page.get_by_role("button", name="↺ Reset", exact=True),
                page.get_by_role("button", name="▶ Play", exact=True))
    wait_for_chart(page, LOSS_TITLE, "gd.data.every((t) => nPoints(t.x) === 0)")
    click_until(page.get_by_role("button", name="▶ Play", exact=True),
                page.get_by_role("button", name="⏸ Pause", exact=True))
    wait_for_training(page)

    slider = page.get_by_role("slider", name=P_SLIDER)
    expect(slider).to_have_attribute("aria-valuetext", "0.50")
    slider.focus()
    for value in ("0.45", "0.40", "0.35", "0.30"):  # one step at a time: a key pressed while the
        slider.press("ArrowLeft")                  # page reruns under load could otherwise be lost
        expect(slider).to_have_attribute("aria-valuetext", value)

    # A's curves are relabelled with the new p, and a marker line notes the change.
    try:
        wait_for_chart(
            page, LOSS_TITLE,
            "gd.data.some((t) => (t.name || '').includes(arg.label))"
            " && (gd.layout.annotations || []).some((a) => (a.text || '').includes(arg.change))"
            " && (gd.layout.shapes || []).length > 0",
            arg={"label": "A: p=0.3/0.5", "change": "→ 0.3/0.5"},
        )
    except Exception as exc:
        raise AssertionError(f"the loss chart did not follow the slider: {chart_summary(page, LOSS_TITLE)}") from exc
    expect(page.get_by_role("button", name="⏸ Pause", exact=True)).to_be_visible()  # still training: the change was live
    full_screenshot(page, artifacts / "playground.png")


def test_closing_the_tab_stops_training(own_app_server, browser):
    """A fresh server of its own, so no other test's session can hold a trainer thread."""
    pid = own_app_server.pid
    assert trainer_threads(pid) == 0

    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(own_app_server.base_url + "/playground")
        wait_for_training(page)
        running = trainer_threads(pid)
        assert running >= 1, "no 'dropout-trainer' thread while the Playground trains"
    finally:
        context.close()  # closes the tab: its Streamlit session disconnects
    deadline = time.monotonic() + 10
    while trainer_threads(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = trainer_threads(pid)
    assert left == 0, f"{left} of {running} trainer thread(s) still running 10 s after the tab closed"


def test_deep_link_to_a_fresh_server_goes_through_the_router(own_app_server, page: Page):
    """A link handed out before anyone opened the app (?preset=...) still gets the app's frame."""
    page.goto(own_app_server.base_url + "/playground?preset=spirals")
    nav_links = page.get_by_test_id("stSidebarNav").get_by_role("link")
    expect(nav_links.first).to_be_visible(timeout=FIRST_CHART_TIMEOUT_MS)
    # app.py's st.navigation labels the page "2. Playground"; the pages/ fallback calls it "playground".
    expect(page.get_by_test_id("stSidebarNav")).to_contain_text("2. Playground", timeout=5_000)
    # the spirals preset (200 training points, 3 hidden layers) reached the controls
    sidebar = page.get_by_test_id("stSidebarUserContent")
    expect(sidebar).to_contain_text("Training points200", timeout=FIRST_CHART_TIMEOUT_MS)
    expect(sidebar).to_contain_text("Dropout p, hidden layer 3")
