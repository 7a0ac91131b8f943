"""Lesson 3, overfitting and the rate: the dropout papers' figures, reproduced live with verdicts."""
import streamlit as st

from core.lessons import load_lesson
from core.ui import overfitting
from core.ui.lesson import show_sections
from core.ui.router import ensure_routed

ensure_routed()

lesson = load_lesson("03_overfitting")
st.title(f"{lesson.icon} {lesson.title}")
st.caption(lesson.summary)
with st.expander("Intuition", expanded=False):
    show_sections(lesson, ["Intuition"], headers=False)

key = overfitting.pick_experiment()
settings = overfitting.settings_form(key)
overfitting.run_panel(key, settings)

show_sections(lesson, [overfitting.EXPERIMENTS[key].source])
show_sections(lesson, ["What to try", "What to notice", "Exercises"])
