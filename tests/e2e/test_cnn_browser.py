"""Lesson 6 in a real browser: opened from the home page, three CNNs train at once, the feature maps
and their masks change while they train, and a move of the p slider reaches the running runs.

Every wait is on what the page shows (the Plotly figures' data), never a sleep: the live view
redraws several times a second."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

FIRST_LOAD_TIMEOUT_MS = 90_000  # a fresh server imports torch first
CHANGE_TIMEOUT_MS = 30_000
MAPS_TITLE = "Feature maps of conv layer 1"

FIND_MAPS_JS = """
const strip = (t) => String((t && typeof t === 'object') ? t.text : t || '').replace(/<[^>]*>/g, '').trim();
const maps = [...document.querySelectorAll('.stPlotlyChart .js-plotly-plot')].filter(
  (gd) => gd.layout && strip(gd.layout.title).startsWith(arg.title) && gd.getClientRects().length > 0);
"""

# The hatching (what one pass dropped; nested lists, or a typed array's base64) as text: new masks differ.
MASKS_CHANGE = FIND_MAPS_JS + """
const seen = maps.filter((gd) => gd.data.length === 2).map((gd) => JSON.stringify(gd.data[1].z));
if (!seen.length) return false;
if (window.__firstMasks === undefined) { window.__firstMasks = seen[0]; return false; }
return seen.some((s) => s !== window.__firstMasks);
"""

ROWS_SAY = FIND_MAPS_JS + """
return maps.some((gd) => (gd.layout.yaxis.ticktext || []).filter((t) => t.includes(arg.text)).length === arg.count);
"""


def wait_for_maps(page: Page, script: str, timeout: float = CHANGE_TIMEOUT_MS, **arg) -> None:
    page.wait_for_function(f"(arg) => {{ {script} }}", arg={"title": MAPS_TITLE, **arg}, timeout=timeout,
                           polling=100)


def test_the_lesson_trains_three_cnns_whose_masks_change_and_follow_p(app_server, page: Page, artifacts):
    page.goto(app_server.base_url + "/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Dropout Lab", timeout=FIRST_LOAD_TIMEOUT_MS)
    page.get_by_test_id("stMain").get_by_role("link", name="CNNs and spatial dropout").click()
    expect(page).to_have_url(re.compile(r"/cnn(\?.*)?$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("CNNs and spatial dropout",
                                                                 timeout=FIRST_LOAD_TIMEOUT_MS)
    expect(page.get_by_text(re.compile(r"Epoch [1-9]\d*\.\d of 200 · Training"))).to_be_visible(
        timeout=FIRST_LOAD_TIMEOUT_MS)
    # Three rows (element, channel, none), then new masks as the runs train.
    wait_for_maps(page, ROWS_SAY, text="p=0.3", count=2, timeout=FIRST_LOAD_TIMEOUT_MS)
    wait_for_maps(page, MASKS_CHANGE)
    page.screenshot(path=str(artifacts / "cnn-feature-maps.png"), full_page=True)

    slider = page.get_by_role("slider", name="Dropout p")
    expect(slider).to_have_attribute("aria-valuetext", "0.30")
    slider.focus()
    for value in ("0.35", "0.40"):  # one step at a time: a key pressed while the page reruns could be lost
        slider.press("ArrowRight")
        expect(slider).to_have_attribute("aria-valuetext", value)
    wait_for_maps(page, ROWS_SAY, text="p=0.4", count=2)  # runs A and B hold it; C has no dropout
    expect(page.get_by_text(re.compile(r"Epoch \d+\.\d of 200 · Training"))).to_be_visible()  # no new run
    expect(page.get_by_text("New run:")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)
