"""Lesson 1, the mechanism: one mask, why scale, keep vs drop, train/eval/MC, the ensemble view, the two bugs, a quiz."""
import streamlit as st

from core.ui.frame import ensure_routed
from core.ui.labs import mechanism
from core.ui.links import copy_link
from core.ui.lesson import lesson_header, show_sections

ensure_routed()

lesson = lesson_header("01_mechanism", intuition_folded=False)
demos = mechanism.warm_up()  # the small trained networks' answers, from a worker

mechanism.section(lesson, "One mask")
h, p, seed = mechanism.one_mask(demos)
mechanism.section(lesson, "Why scale")
mechanism.why_scale(h, p, seed)
mechanism.section(lesson, "Keep or drop")
mechanism.keep_or_drop()
mechanism.section(lesson, "Train, eval and MC")
mechanism.modes(demos)
mechanism.section(lesson, "The ensemble view")
mechanism.ensemble()
mechanism.section(lesson, "The two classic bugs")
mechanism.bugs(demos)

show_sections(lesson, ["What to try", "What to notice", "Exercises"])
st.header("Check yourself")
mechanism.quiz(lesson.id)
copy_link()  # last: the link then holds every control's value of this run
