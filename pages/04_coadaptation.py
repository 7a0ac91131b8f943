"""Lesson 4, co-adaptation: knock-out damage, correlation and sparsity, live, with and without dropout."""
import streamlit as st

from core.ui import drills, live
from core.ui.frame import ensure_routed
from core.ui.labs import coadaptation
from core.ui.links import copy_link
from core.ui.lesson import lesson_header, show_sections

ensure_routed()

lesson = lesson_header("04_coadaptation")

settings, layer = coadaptation.controls()
runner, snapshot = coadaptation.sync_runner(settings, layer)
live.buttons(snapshot, ns=coadaptation.NS)
coadaptation.live_view(runner, snapshot)

st.subheader("4. Learned features on digits")
show_sections(lesson, ["Learned features"], headers=False)
revealed = coadaptation.features_prediction()
coadaptation.features_panel()
if revealed:
    show_sections(lesson, ["Learned features, measured"], headers=False)

show_sections(lesson, ["What to try"])
if coadaptation.all_revealed():
    show_sections(lesson, ["What to notice", "Exercises"])
else:
    st.info("**What to notice** and the exercises appear here once you have made (or skipped) the four "
            "predictions above: they give the answers away.")

st.subheader("Check yourself")
drills.check_yourself(coadaptation.NS, lesson.id)
copy_link()  # last: the link then holds every control of this run
