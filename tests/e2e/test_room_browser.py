"""A teacher's room in real browsers: a teacher and two students, the class on two app processes that
share the room through one SQLite file (as the nginx recipe spreads a class over processes)."""
from __future__ import annotations

import contextlib
import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import click_until, streamlit_server
from tests.e2e.test_playground_browser import FIRST_CHART_TIMEOUT_MS

pytestmark = pytest.mark.e2e
SEEN_MS = 30_000  # a change in the room reaches a student's page within WATCH_SECONDS; this allows a busy machine


@pytest.fixture
def two_servers(tmp_path):
    env = {"DROPOUT_LAB_ROOMS": str(tmp_path / "rooms.db"), "DROPOUT_LAB_WORKERS": "1"}
    with streamlit_server("streamlit-room-1", env) as one, streamlit_server("streamlit-room-2", env) as two:
        yield one, two


def _pick(page: Page, label: str, option: str) -> None:
    """Choose ``option`` in the sidebar's select or multiselect called ``label``."""
    box = page.get_by_test_id("stSidebar").get_by_role("combobox", name=label)
    box.click()
    box.fill(option)
    page.get_by_role("option", name=option, exact=True).first.click()
    page.keyboard.press("Escape")


def test_a_teacher_and_two_students_on_two_processes(two_servers, browser):
    one, two = two_servers
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(3)]
    try:
        teacher, first, second = (ctx.new_page() for ctx in contexts)
        for p in (teacher, first, second):
            p.set_default_timeout(30_000)
        teacher.goto(one.base_url + "/playground?preset=tiny")
        sidebar = teacher.get_by_test_id("stSidebar")
        sidebar.get_by_text("🏫 Class room").click()
        click_until(sidebar.get_by_role("button", name="Open a room (teacher)"),
                    sidebar.get_by_text(re.compile(r"Your room: [A-Z0-9]{5}")))
        teacher.wait_for_url(re.compile(r"room=[A-Z0-9]{5}&teacher="), timeout=SEEN_MS)
        code = re.search(r"room=([A-Z0-9]{5})", teacher.url).group(1)
        _pick(teacher, "Lock for students", "Data")
        expect(sidebar.get_by_title("Data", exact=True)).to_be_visible()  # the chosen group, as a tag
        _pick(teacher, "Preset to push", "spirals")
        sidebar.get_by_role("button", name="Push", exact=True).click()
        teacher.get_by_role("button", name="Ask the class").click()
        expect(teacher.get_by_text("(0 answers)")).to_be_visible(timeout=SEEN_MS)

        for student, server, answer in ((first, two, "A"), (second, one, "B")):
            student.goto(f"{server.base_url}/playground?room={code}")
            expect(student.get_by_text(f"In room {code}")).to_be_visible(timeout=FIRST_CHART_TIMEOUT_MS)
            expect(student.get_by_text("Data (set by your teacher)")).to_be_visible(timeout=SEEN_MS)
            assert "teacher=" not in student.url
            expect(student.get_by_text("Your teacher asks:")).to_be_visible(timeout=SEEN_MS)
            student.get_by_text(answer, exact=True).last.click()
            click_until(student.get_by_role("button", name="Send my answer"),
                        student.get_by_text(f"You answered {answer}"))
            assert not student.get_by_label("Lock for students").count()  # no teacher's controls
        # the answer given on the other process is counted on the teacher's
        expect(teacher.get_by_text("(2 answers)")).to_be_visible(timeout=SEEN_MS)

        try:
            click_until(teacher.get_by_role("button", name="Reveal the result"), teacher.get_by_text("Revealed:"))
        except AssertionError:
            alerts = teacher.get_by_test_id("stAlert").all_inner_texts()
            raise AssertionError(f"not revealed; the teacher's page says {alerts}") from None
        for student in (first, second):
            expect(student.get_by_text("Your teacher's run showed")).to_be_visible(timeout=SEEN_MS)
        result = re.search(r"Revealed: (A|B|About the same)\.", teacher.get_by_text("Revealed:").inner_text())
        assert result, teacher.get_by_text("Revealed:").inner_text()
        right = {"A": first, "B": second}.get(result.group(1))
        if right is not None:
            expect(right.get_by_text("You predicted it.")).to_be_visible()
        for student in (first, second):
            assert not student.get_by_test_id("stException").count()
        assert not teacher.get_by_test_id("stException").count()
    finally:
        for ctx in contexts:
            with contextlib.suppress(Exception):
                ctx.close()
