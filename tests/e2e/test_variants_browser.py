"""Lesson 7 in a real browser: opened from the home page, run A (Gaussian dropout, then DropConnect) trains
next to run B (standard dropout); A's DropConnect weight mask changes while it trains; switching that layer's
variant mid-training starts both runs again and the mask view changes from a weight matrix to a unit strip.

Every wait is on what the page shows (the Plotly figures' titles and data), never a sleep."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

FIRST_LOAD_TIMEOUT_MS = 90_000  # a fresh server imports torch first
CHANGE_TIMEOUT_MS = 60_000  # generous: a busy 2-core machine draws a live page seconds behind the server
WEIGHTS = "A, hidden layer 2: weight mask"
UNITS = "A, hidden layer 2: units kept"

FIND_JS = """
const strip = (t) => String((t && typeof t === 'object') ? t.text : t || '').replace(/<[^>]*>/g, '').trim();
const figs = [...document.querySelectorAll('.stPlotlyChart .js-plotly-plot')].filter(
  (gd) => gd.layout && strip(gd.layout.title).startsWith(arg.title) && gd.getClientRects().length > 0);
"""

# The mask (nested lists, or a typed array's base64) as text: a new step's mask differs.
MASK_CHANGES = FIND_JS + """
const seen = figs.map((gd) => JSON.stringify(gd.data[0].z));
if (!seen.length) return false;
if (window.__firstMask === undefined) { window.__firstMask = seen[0]; return false; }
return seen.some((s) => s !== window.__firstMask);
"""

SHOWN = FIND_JS + "return figs.length === arg.count;"


def wait_for(page: Page, script: str, title: str, timeout: float = CHANGE_TIMEOUT_MS, **arg) -> None:
    page.wait_for_function(f"(arg) => {{ {script} }}", arg={"title": title, **arg}, timeout=timeout, polling=100)


def test_a_variant_switched_mid_training_changes_the_mask_view(app_server, page: Page, artifacts):
    page.goto(app_server.base_url + "/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Dropout Lab", timeout=FIRST_LOAD_TIMEOUT_MS)
    page.get_by_test_id("stMain").get_by_role("link", name="Dropout's relatives").click()
    expect(page).to_have_url(re.compile(r"/variants(\?.*)?$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Dropout's relatives", timeout=FIRST_LOAD_TIMEOUT_MS)
    expect(page.get_by_text(re.compile(r"Epoch [1-9]\d*\.\d of 300 · Training"))).to_be_visible(
        timeout=FIRST_LOAD_TIMEOUT_MS)
    wait_for(page, SHOWN, WEIGHTS, count=1, timeout=FIRST_LOAD_TIMEOUT_MS)
    wait_for(page, MASK_CHANGES, WEIGHTS)  # a fresh weight mask at every step shown
    page.screenshot(path=str(artifacts / "variants-dropconnect.png"), full_page=True)

    page.get_by_role("combobox", name="A: hidden layer 2").click()
    page.get_by_role("option", name=re.compile(r"^standard: ")).click()
    expect(page.get_by_text("New run: dropout variant")).to_be_visible(timeout=CHANGE_TIMEOUT_MS)
    wait_for(page, SHOWN, UNITS, count=1)
    wait_for(page, SHOWN, WEIGHTS, count=0)
    expect(page.get_by_text(re.compile(r"Epoch \d+\.\d of 300 · Training"))).to_be_visible(
        timeout=CHANGE_TIMEOUT_MS)  # it went on playing
    page.screenshot(path=str(artifacts / "variants-standard.png"), full_page=True)
    expect(page.get_by_test_id("stException")).to_have_count(0)
