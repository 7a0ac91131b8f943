"""Lesson 7, dropout's relatives: a live network whose layers switch between dropout variants next to the same
network with standard dropout, the mask each one draws, and each variant's experiment with its verdict."""
import streamlit as st

from core.ui import drills, live
from core.ui.frame import ensure_routed
from core.ui.labs import variants
from core.ui.links import copy_link
from core.ui.lesson import lesson_header, show_sections

ensure_routed()

lesson = lesson_header("07_variants")

st.subheader("1. One network, a variant per layer, against standard dropout")
settings = variants.controls()
runner, snapshot = live.sync_runner(settings, ns=variants.NS, diagram_units=variants.WIDTH)
live.buttons(snapshot, ns=variants.NS)
live.live_view(runner, snapshot, variants.draw, export="variants")

st.subheader("2. Each variant's signature, measured over seeds")
show_sections(lesson, ["What to try"], headers=False)
variants.experiment_panel()

show_sections(lesson, ["When would you use it", "What to notice"])
st.subheader("Check yourself")
drills.check_yourself(variants.NS, lesson.id)
show_sections(lesson, ["Exercises"])
copy_link()  # last: the link then holds every section's controls
