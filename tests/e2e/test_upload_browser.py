"""'Your own data' in a real browser: a CSV dropped on the Playground's uploader trains, and a bad one after
it is refused with one sentence while the file in use, its run and the controls stay."""
from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from core.engine.upload import example_csv
from tests.e2e.test_playground_browser import full_screenshot, wait_for_chart, wait_for_training

pytestmark = pytest.mark.e2e

BAD_SAYS = "Row 3: 'abc' in column y is not a number."


def test_an_uploaded_file_trains_and_a_bad_one_changes_nothing(app_server, page: Page, artifacts: Path, tmp_path):
    good, bad = tmp_path / "ring.csv", tmp_path / "bad.csv"
    good.write_text(example_csv())
    bad.write_text("x,y,label\n1,2,a\n3,abc,b\n" + "1,2,a\n" * 60)
    page.goto(app_server.base_url + "/playground")
    sidebar = page.get_by_test_id("stSidebar")
    wait_for_training(page)  # the built-in moons first
    expect(sidebar.locator("input[type=file]")).to_have_count(1)

    sidebar.locator("input[type=file]").set_input_files(str(good))
    expect(sidebar.get_by_text("In use: ring.csv")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("uploaded file added")).to_be_visible(timeout=30_000)
    # the map draws the file's 90 training points (and 30 validation points) in the scaled square
    wait_for_chart(page, "Decision map, A: p=0.5",
                   "gd.data.filter((t) => t.type === 'scatter').reduce((n, t) => n + nPoints(t.x), 0) === 120")
    expect(sidebar.get_by_role("combobox", name="Dataset")).to_be_disabled()
    full_screenshot(page, artifacts / "upload-good.png")

    sidebar.locator("input[type=file]").set_input_files(str(bad))
    expect(sidebar.get_by_text(BAD_SAYS)).to_be_visible(timeout=30_000)
    expect(sidebar.get_by_text("In use: ring.csv")).to_be_visible()  # the good file is still the data
    expect(sidebar.get_by_role("slider", name="Nuisance inputs")).to_be_visible()
    full_screenshot(page, artifacts / "upload-bad.png")

    sidebar.get_by_role("button", name="Built-in sets").click()
    expect(page.get_by_text("uploaded file removed")).to_be_visible(timeout=30_000)
    expect(sidebar.get_by_text("In use:")).to_have_count(0)
