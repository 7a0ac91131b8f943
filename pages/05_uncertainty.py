"""Lesson 5, MC dropout and uncertainty: regression bands, classification maps, calibration, a digit
leaving the data."""
import streamlit as st

from core.ui import drills, live
from core.ui.frame import ensure_routed
from core.ui.labs import uncertainty
from core.ui.links import copy_link
from core.ui.lesson import lesson_header, show_sections

ensure_routed()

lesson = lesson_header("05_uncertainty")

st.subheader("1. Regression: where does the network know?")
show_sections(lesson, ["Regression"], headers=False)
regression, regression_snapshot = uncertainty.regression_runner()
uncertainty.regression_buttons(regression_snapshot)
live.live_view(regression, regression_snapshot, uncertainty.draw_regression, tick=uncertainty.TICK_SECONDS,
               export="regression")
uncertainty.add_point_controls()

st.subheader("2. Classification: total uncertainty and the model's own")
show_sections(lesson, ["Classification"], headers=False)
classifier, classifier_snapshot = uncertainty.classification_runner()
live.buttons(classifier_snapshot, ns=uncertainty.CLS)
uncertainty.probe_controls()
live.live_view(classifier, classifier_snapshot, uncertainty.draw_classification,
               tick=uncertainty.TICK_SECONDS, export="mc-classifier")

st.subheader("3. Averaging the passes against scaling the weights, and calibration")
show_sections(lesson, ["Averaging and calibration"], headers=False)
uncertainty.calibration(classifier_snapshot)

st.subheader("4. A digit leaving the data")
show_sections(lesson, ["Digits"], headers=False)
digits = uncertainty.digit_model()
if digits is not None:
    uncertainty.digit_path(digits)

show_sections(lesson, ["What to try", "What to notice"])
st.subheader("Check yourself")
drills.check_yourself(uncertainty.NS, lesson.id)
show_sections(lesson, ["Exercises"])
copy_link()  # last: the link then holds every section's controls
