"""Lesson 5 in a real browser: move the T slider and the regression band is redrawn from that many
passes; pause, and a click on the plot adds a training point there."""
from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Page, expect

from tests.e2e.conftest import click_until

pytestmark = pytest.mark.e2e

FIRST_LOAD_TIMEOUT_MS = 90_000

PASS_LINES = """(n) => {
    const plot = [...document.querySelectorAll('.js-plotly-plot')]
        .find(p => (p.layout?.title?.text || '').includes('the plot'));
    const lines = plot && plot._fullData?.find(t => (t.name || '').endsWith(' passes'));
    if (!lines) return false;
    // One gap (NaN: the figure sends float32 arrays) after each pass.
    const gaps = Array.from(lines.x._inputArray ?? lines.x).filter(v => v === null || Number.isNaN(v)).length;
    return lines.name === `${n} passes` && gaps === n;
}"""


class PlotClick:
    """A click at a fraction of a plot's size, for ``click_until``, as a person clicks: the plot is
    measured just before, and the click is made only if that point is on the plot then (a redraw in
    between can move it and put a button there). Clicked again only while the plot still asks for a
    click (the run is still paused), so a slow answer never adds a second point."""

    def __init__(self, page: Page, plot, fx: float, fy: float):
        self.page, self.plot, self.fx, self.fy = page, plot, fx, fy

    def click(self) -> None:
        try:
            self.plot.scroll_into_view_if_needed(timeout=5_000)
            box = self.plot.bounding_box(timeout=5_000)
        except PlaywrightError:  # replaced by a redraw meanwhile: click_until looks again
            return
        if box is None:
            return
        x, y = box["x"] + box["width"] * self.fx, box["y"] + box["height"] * self.fy
        if self.page.evaluate("([x, y]) => !!document.elementFromPoint(x, y)?.closest('.js-plotly-plot')", [x, y]):
            self.page.mouse.click(x, y)

    def is_visible(self) -> bool:
        return self.plot.is_visible()


def test_moving_t_redraws_the_band_from_that_many_passes(app_server, page: Page, artifacts):
    page.goto(app_server.base_url + "/uncertainty")
    expect(page.get_by_text("Band (std) inside the data")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT_MS)
    page.wait_for_function(PASS_LINES, arg=50, timeout=60_000)
    slider = page.get_by_role("slider", name="T, passes").first
    expect(slider).to_have_attribute("aria-valuetext", "50")
    shown = page.get_by_text(re.compile(r"T = 55 passes"))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # one step at a time, as a person would
        value = int(slider.get_attribute("aria-valuetext"))
        if value == 55:
            try:  # the run says so; a rerun still in flight may yet put the slider back a step
                expect(shown).to_be_visible(timeout=5_000)
                break
            except AssertionError:
                continue
        slider.focus()
        slider.press("ArrowRight" if value < 55 else "ArrowLeft")
        try:
            expect(slider).not_to_have_attribute("aria-valuetext", str(value), timeout=3_000)
        except AssertionError:
            pass  # a key pressed during a rerun can be lost: press again
    expect(slider).to_have_attribute("aria-valuetext", "55")
    expect(shown).to_be_visible(timeout=30_000)
    page.wait_for_function(PASS_LINES, arg=55, timeout=30_000)  # 55 thin lines on the plot
    page.screenshot(path=str(artifacts / "uncertainty-t55.png"))

    # Ten steps, not Pause: on a slow machine the run may already have reached its 3000 epochs, and
    # then the Play/Pause toggle is a Play, while ten steps end paused whatever the state.
    click_until(page.get_by_role("button", name="⏭ 10 steps").first,
                page.get_by_text("Click anywhere on the plot to add a training point"))
    plot = page.locator(".js-plotly-plot").filter(has_text="Click anywhere on the plot")
    click_until(PlotClick(page, plot, 0.15, 0.45), page.get_by_text(re.compile(r"41 training points")))
