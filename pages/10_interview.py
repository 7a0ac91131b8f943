"""Interview prep: the question bank by topic and difficulty, follow-up chains, mock interviews, the judge
for "implement dropout", and progress with spaced review."""
import streamlit as st

from core.ui.frame import ensure_routed
from core.ui.labs import interview
from core.ui.links import copy_link
from core.ui.lesson import lesson_header, show_sections

ensure_routed()

lesson = lesson_header("10_interview")

drill, mock, implement, progress = st.tabs(["Drill", "Mock interview", "Implement it", "Progress"])
with drill:
    interview.drill()
with mock:
    interview.mock()
with implement:
    interview.code_drill()
with progress:
    interview.progress_panel()
    show_sections(lesson, ["Code exercises on a shared server"])

show_sections(lesson, ["What to try", "What to notice", "Exercises"])
copy_link()  # last: the link then holds every control of this run
