"""Lesson 9, dropout in production: high dropout on a label-leaking context feature (live, then over seeds),
the exported model checked in eval mode, and what Monte-Carlo uncertainty costs per request."""
import streamlit as st

from core.ui import drills
from core.ui.frame import ensure_routed
from core.ui.labs import production
from core.ui.links import copy_link
from core.ui.lesson import lesson_header, show_sections

ensure_routed()

lesson = lesson_header("09_production")

st.subheader("1. A context feature that leaks the label, live")
production.live_section()
show_sections(lesson, ["What to try"], headers=False)

st.subheader("2. Serving accuracy against the context layer's p, over seeds")
production.leak_section()

st.subheader("3. Serving: eval mode, checked")
show_sections(lesson, ["Serving"], headers=False)
production.serving_section()

show_sections(lesson, ["What to notice", "Where dropout is used today"])
st.subheader("Check yourself")
drills.check_yourself(production.NS, lesson.id)
show_sections(lesson, ["Exercises"])
copy_link()  # last: the link then holds every control of this run
