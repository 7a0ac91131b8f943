"""Lesson 6, CNNs and spatial dropout: element, channel and block dropout on feature maps, live; how much
of a dropped activation its neighbours rebuild; the spatial experiment; check yourself."""
import streamlit as st

from core.ui import live
from core.ui.frame import ensure_routed
from core.ui.labs import cnn
from core.ui.links import copy_link
from core.ui.lesson import lesson_header, show_sections

ensure_routed()

lesson = lesson_header("06_cnn")

st.subheader("1. Three CNNs, three ways to drop")
configs = cnn.controls()
runner, snapshot = cnn.sync_runner(configs)
live.buttons(snapshot, ns=cnn.NS)
cnn.digit_picker(snapshot)
cnn.live_view(runner, snapshot)

st.subheader("2. How much of a dropped pixel do its neighbours rebuild?")
cnn.rebuild_panel()

st.subheader("3. Element, channel or block dropout, over many seeds")
cnn.spatial_panel()

show_sections(lesson, ["What to try", "What to notice"])
st.subheader("Check yourself")
cnn.quiz(lesson.id)
show_sections(lesson, ["Exercises"])
copy_link()  # last: the link then holds every control of this run
