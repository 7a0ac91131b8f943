"""The interview page in a real browser: answer a question, then have the judge accept a correct Dropout and
reject a wrong one with the failure named."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from core.analysis.answers import ANSWERS
from core.drills import load_bank

pytestmark = pytest.mark.e2e

FIRST_LOAD_TIMEOUT_MS = 90_000  # a fresh server imports torch first
JUDGE_TIMEOUT_MS = 90_000  # the sandbox imports torch in a new process for every submission


def _set_code(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Your code")
    box.fill(text)
    box.press("Control+Enter")  # Streamlit applies a text area's value on Ctrl+Enter (or when it loses focus)


def test_answer_a_question_then_submit_a_correct_and_a_wrong_layer(app_server, page: Page, artifacts):
    bank = load_bank(ANSWERS)
    page.goto(app_server.base_url + "/interview")
    expect(page.get_by_role("tab", name="Drill")).to_be_visible(timeout=FIRST_LOAD_TIMEOUT_MS)

    # Drill: keep the multiple-choice questions of one topic and answer the first one right
    topic = bank.topics["keep-vs-drop"]
    first = next(bank.question(q) for q in topic.questions if bank.question(q).type == "choice")
    page.get_by_role("combobox", name="Topic").click()
    page.get_by_role("option", name=topic.title).click()
    for name in ("numeric", "spot the bug", "predict, then observe", "explain in words", "code"):
        page.get_by_role("button", name=re.compile(f"Remove {re.escape(name)}")).click()
    expect(page.get_by_text(first.prompt[:40])).to_be_visible(timeout=20_000)
    card = page.get_by_test_id("stVerticalBlock").filter(has_text=first.prompt[:40]).last
    card.get_by_role("radio").nth(first.answer).check(force=True)
    card.get_by_role("button", name="Check").click()
    expect(card).to_contain_text("Right.", timeout=20_000)

    # Implement it: the reference is accepted, and the same layer without its scaling is rejected by name
    solution = bank.question("scratch-implement-dropout").answer
    page.get_by_role("tab", name="Implement it").click()
    _set_code(page, solution)
    page.get_by_role("button", name="Submit to the judge").click()
    expect(page.get_by_text(re.compile("^Accepted"))).to_be_visible(timeout=JUDGE_TIMEOUT_MS)
    page.get_by_role("button", name="Train both networks").click()
    expect(page.get_by_text(re.compile("Ours trained again with other masks"))).to_be_visible(timeout=JUDGE_TIMEOUT_MS)
    expect(page.get_by_text("Validation accuracy", exact=True).first).to_be_attached()
    page.screenshot(path=str(artifacts / "interview-accepted.png"), full_page=True)

    unscaled = solution.replace("x * mask / keep", "x * mask")
    assert unscaled != solution
    _set_code(page, unscaled)
    page.get_by_role("button", name="Submit to the judge").click()
    expect(page.get_by_text(re.compile("^Rejected"))).to_be_visible(timeout=JUDGE_TIMEOUT_MS)
    expect(page.get_by_text(re.compile("inverted dropout divides the survivors", re.I)).first).to_be_visible()
    page.screenshot(path=str(artifacts / "interview-rejected.png"), full_page=True)
