"""Lesson 8, dropout meets BatchNorm: the variance shift per layer against its formula as p and the width move,
what it costs and its fixes, MC dropout with BatchNorm done two ways, and the learning rate and batch size."""
import streamlit as st

from core.ui import drills
from core.ui.frame import ensure_routed
from core.ui.labs import batchnorm
from core.ui.links import copy_link
from core.ui.lesson import lesson_header, show_sections

ensure_routed()

lesson = lesson_header("08_batchnorm")

st.subheader("1. The shift, per BatchNorm layer, against its formula")
batchnorm.shift_section()
show_sections(lesson, ["What to try"], headers=False)

st.subheader("2. What it costs, and three fixes")
batchnorm.fixes_section()

st.subheader("3. MC dropout with BatchNorm: model.train() or mc_mode")
batchnorm.mc_section()

st.subheader("4. Learning rate, momentum and batch size under dropout")
batchnorm.lr_section()

show_sections(lesson, ["What to notice"])
st.subheader("Check yourself")
drills.check_yourself(batchnorm.NS, lesson.id)
show_sections(lesson, ["Exercises"])
copy_link()  # last: the link then holds every section's controls
