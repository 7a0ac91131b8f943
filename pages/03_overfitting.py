"""Lesson 3, overfitting and the rate: the dropout papers' figures, reproduced live with verdicts."""
import streamlit as st

from core.ui import drills
from core.ui.frame import ensure_routed
from core.ui.labs import overfitting
from core.ui.links import copy_link
from core.ui.lesson import lesson_header, show_sections

ensure_routed()

lesson = lesson_header("03_overfitting")

key = overfitting.pick_experiment()
if key == overfitting.REGIME:
    overfitting.regime_run_panel(overfitting.regime_settings_form())
    show_sections(lesson, [overfitting.REGIME_SECTION])
else:
    overfitting.run_panel(key, overfitting.settings_form(key))
    show_sections(lesson, [overfitting.EXPERIMENTS[key].source])
show_sections(lesson, ["What to try", "What to notice"])
st.subheader("Check yourself")
drills.check_yourself(overfitting.NS, lesson.id)
show_sections(lesson, ["Exercises"])
copy_link()  # last: the link then holds every control of this run
