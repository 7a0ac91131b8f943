"""Lesson 1 in a real browser: reached from the home page, one question answered and checked."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

FIRST_LOAD_TIMEOUT_MS = 90_000  # a fresh server imports torch and trains the lesson's small networks


def test_open_the_lesson_from_home_and_answer_a_question(app_server, page: Page, artifacts):
    page.goto(app_server.base_url + "/")
    page.get_by_role("link", name=re.compile("The mechanism")).first.click()
    expect(page).to_have_url(re.compile(r"/mechanism$"), timeout=FIRST_LOAD_TIMEOUT_MS)
    expect(page.get_by_role("heading", name="Check yourself")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT_MS)

    # the innermost block holding the question (its ancestors hold the text too and come first)
    question = page.get_by_test_id("stVerticalBlock").filter(has_text="a unit whose input is 5.0").last
    answer = question.get_by_placeholder("type a number")
    answer.fill("6.25")
    answer.press("Enter")
    question.get_by_role("button", name="Check").click()
    expect(question).to_contain_text("Right.", timeout=20_000)
    expect(question).to_contain_text("x / (1 - p) = 6.25")
    expect(page.get_by_text("Score: 1 of 5 right in this session.")).to_be_visible()
    page.screenshot(path=str(artifacts / "mechanism.png"), full_page=True)
