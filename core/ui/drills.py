"""Drill widgets: check-yourself questions, and predict-then-observe (ask first, then say whether the
learner was right and why).

The session keys live under the lesson's namespace ``ns``: ``quiz.<id>`` (an answer), ``predict.<id>``
(the choice), ``shown.<id>`` (skipped with "Just show me") and ``reveal_all`` (a teacher's link shows
everything).
"""
from __future__ import annotations

import streamlit as st

from core.drills import Prediction, Question


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


def quiz(ns: str, questions: list[Question]) -> None:
    """Each question, a Check button, then whether the answer was right and why. The score stays for the session."""
    done = 0
    for i, q in enumerate(questions, start=1):
        with st.container(border=True):
            st.markdown(f"**{i}. {q.prompt}**")
            key = f"{ns}quiz.{q.id}"
            if q.kind == "choice":
                response = st.radio("Your answer", range(len(q.options)), format_func=lambda j, q=q: q.options[j],
                                    index=None, key=key, label_visibility="collapsed")
            else:
                response = st.number_input("Your answer", value=None, step=0.01, format="%g", key=key,
                                           placeholder="type a number", label_visibility="collapsed")
            checked = st.session_state.get(key + ".checked", False)
            if st.button("Check", key=key + ".check.button", disabled=response is None):
                st.session_state[key + ".checked"] = checked = True
            if checked and response is not None:
                done += q.check(response)
                if q.check(response):
                    st.success(f"Right. {q.explanation}")
                else:
                    st.error(f"Not quite: the answer is {q.answer_text}. {q.explanation}")
    st.caption(f"Score: {done} of {len(questions)} right in this session.")
