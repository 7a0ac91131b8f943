"""Predict-then-observe widgets: ask first, then say whether the learner was right and why.

The session keys live under the lesson's namespace ``ns``: ``predict.<id>`` (the choice),
``shown.<id>`` (skipped with "Just show me") and ``reveal_all`` (a teacher's link shows everything).
"""
from __future__ import annotations

import streamlit as st

from core.drills import Prediction


def revealed(ns: str, prediction_id: str) -> bool:
    """Whether the learner has answered (or skipped) this prediction, so its statistic may show."""
    ss = st.session_state
    return bool(ss.get(ns + "reveal_all", False) or ss.get(f"{ns}predict.{prediction_id}") is not None
                or ss.get(f"{ns}shown.{prediction_id}", False))


def predict(ns: str, prediction: Prediction) -> bool:
    """The question, and once answered or skipped its explanation (right or not). Returns whether the
    answer may be shown now."""
    choice = st.radio(f"**Predict first:** {prediction.prompt}", range(len(prediction.options)), index=None,
                      key=f"{ns}predict.{prediction.id}", format_func=lambda i: prediction.options[i],
                      help="Your answer is only for you: it is not stored or sent anywhere.")
    if not revealed(ns, prediction.id):
        st.button("Just show me", key=f"{ns}skip.{prediction.id}.button", on_click=st.session_state.__setitem__,
                  args=(f"{ns}shown.{prediction.id}", True), help="Reveal the statistic without predicting.")
        return False
    if choice is not None:
        (st.success if choice == prediction.answer else st.warning)(
            ("Right. " if choice == prediction.answer else "Not quite. ") + prediction.explanation)
    else:
        st.info(prediction.explanation)
    return True
