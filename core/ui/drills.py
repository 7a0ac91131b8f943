"""Drill widgets: a bank question asked and checked (choice, numeric, spot-the-bug, explain-in-words),
every lesson's check-yourself, and predict-then-observe (ask first, then say whether the learner was right).

The session keys live under a namespace ``ns``: ``quiz.<id>`` (an answer), ``quiz.<id>.checked``,
``predict.<id>`` (a prediction), ``shown.<id>`` (skipped with "Just show me") and ``reveal_all`` (a
teacher's link shows everything).
"""
from __future__ import annotations

import math
from typing import Any

import streamlit as st

from core.analysis.answers import ANSWERS
from core.drills import Bank, Prediction, Question, load_bank

ANSWER_HELP = "Your answer is only for you: it is not sent anywhere, and only this session keeps the score."


def bank() -> Bank:
    """The question bank, with its numeric answers computed by the engine (parsed once per process)."""
    return load_bank(ANSWERS)


def link(lab: str) -> str:
    """A bank question's lab as a Markdown link that opens it in a new tab (the interview keeps its place)."""
    slug = lab.split("?", 1)[0]
    return f"[open the lab: {slug}](/{lab})"


def revealed(ns: str, prediction_id: str) -> bool:
    """Whether the learner has answered (or skipped) this prediction, so its statistic may show."""
    ss = st.session_state
    return bool(ss.get(ns + "reveal_all", False) or ss.get(f"{ns}predict.{prediction_id}") is not None
                or ss.get(f"{ns}shown.{prediction_id}", False))


def predict(ns: str, prediction: Prediction) -> bool:
    """The question, and once answered or skipped its explanation (right or not). Returns whether the
    answer may be shown now."""
    choice = st.radio(f"**Predict first:** {prediction.prompt}", range(len(prediction.options)), index=None,
                      key=f"{ns}predict.{prediction.id}", format_func=lambda i: prediction.options[i], help=ANSWER_HELP)
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


def response(q: Question, key: str) -> Any:
    """The widget that takes an answer to ``q`` (an option, a number, a line, ticked rubric items); its value."""
    if q.type in ("choice", "predict"):
        return st.radio("Your answer", range(len(q.options)), format_func=lambda j: q.options[j], index=None,
                        key=key, label_visibility="collapsed", help=ANSWER_HELP)
    if q.type == "numeric":
        return st.number_input("Your answer", value=None, step=0.01, format="%g", key=key, placeholder="type a number",
                               label_visibility="collapsed", help=ANSWER_HELP)
    if q.type == "bug":
        st.code(q.code, language="python", line_numbers=True)
        lines = q.lines
        return st.selectbox("The buggy line", range(1, len(lines) + 1), index=None, key=key,
                            format_func=lambda n: f"line {n}: {lines[n - 1].strip()[:70]}", placeholder="pick a line",
                            help="The line whose change fixes the bug.")
    if q.type == "explain":
        return st.text_area("Your answer, in words", key=key, height=120, placeholder="Say it as you would to an "
                            "interviewer; then compare it with the checklist.", help=ANSWER_HELP)
    raise ValueError(f"{q.type} questions are not answered with one widget")


def rubric(q: Question, key: str) -> list[int]:
    """The rubric checklist, shown after an explain answer: the items the learner says they covered."""
    st.markdown("**Tick what your answer covered:**")
    return [i for i, item in enumerate(q.rubric) if st.checkbox(item, key=f"{key}.rubric.{i}")]


def verdict(q: Question, answer: Any, ticked: list[int] | None = None) -> tuple[bool, str | None]:
    """Whether ``answer`` is right, and the misconception it reveals (explain: right when every rubric item is ticked)."""
    if q.type == "explain":
        return (ticked is not None and len(ticked) == len(q.rubric)), None
    if q.type == "numeric" and (answer is None or not math.isfinite(float(answer))):
        return False, None
    return q.check(answer), q.misconception(answer)


def feedback(q: Question, correct: bool, misconception: str | None, ticked: list[int] | None = None) -> None:
    """Right or not, what the answer is, why, the misconception a miss showed, and the lab that shows it."""
    sentences = bank().misconceptions
    if q.type == "explain":
        missed = [item for i, item in enumerate(q.rubric) if i not in (ticked or [])]
        (st.success if correct else st.warning)(
            "Your answer covered the whole checklist." if correct else
            "Not yet: your answer missed " + "; ".join(missed) + ".")
        st.markdown(f"**A model answer:** {q.answer}")
    elif correct:
        st.success(f"Right. {q.explanation}")
    else:
        st.error(f"Not quite: the answer is {q.answer_text}. {q.explanation}")
    if misconception:
        st.caption(f"What this answer suggests: {sentences.get(misconception, misconception)}")
    if q.type == "explain":
        st.caption(q.explanation)
    st.markdown(f"See it live: {link(q.lab)}")


def ask(ns: str, q: Question, *, label: str = "") -> tuple[Any, bool | None, str | None]:
    """One question in a card: prompt, answer widget, hint, Check, then feedback. Returns (answer, right or
    None while unchecked, misconception)."""
    key = f"{ns}quiz.{q.id}" + ("" if q.seed is None else f".{q.seed}")
    with st.container(border=True):
        st.markdown(f"**{label}{q.prompt}**")
        answer = response(q, key)
        if q.hint:
            with st.expander("Hint"):
                st.markdown(q.hint)
        checked = st.session_state.get(key + ".checked", False)
        empty = answer is None or (isinstance(answer, str) and not answer.strip())
        if st.button("Check", key=key + ".check.button", disabled=empty):
            st.session_state[key + ".checked"] = checked = True
        if not checked or empty:
            return answer, None, None
        ticked = rubric(q, key) if q.type == "explain" else None
        correct, misconception = verdict(q, answer, ticked)
        feedback(q, correct, misconception, ticked)
        return answer, correct, misconception


def quiz(ns: str, questions: list[Question]) -> None:
    """Each question, a Check button, then whether the answer was right and why. The score stays for the session."""
    done = 0
    for i, q in enumerate(questions, start=1):
        _, correct, _ = ask(ns, q, label=f"{i}. ")
        done += bool(correct)
    st.caption(f"Score: {done} of {len(questions)} right in this session. More on every topic: the "
               "[interview page](/interview).")


def check_yourself(ns: str, lesson_id: str) -> None:
    """A lesson's check-yourself: the bank's questions tagged with it."""
    quiz(ns, bank().for_lesson(lesson_id))
