"""Render a parsed lesson's sections by name."""
from __future__ import annotations

import streamlit as st

from core.lessons import Lesson, load_lesson


def show_sections(lesson: Lesson, names: list[str], *, headers: bool = True) -> None:
    for name in names:
        if headers:
            st.subheader(name)
        st.markdown(lesson.section(name))


def lesson_header(lesson_id: str, *, intuition_folded: bool = True) -> Lesson:
    """Title, summary and the Intuition section (folded, for pages whose controls come first)."""
    lesson = load_lesson(lesson_id)
    st.title(f"{lesson.icon} {lesson.title}")
    st.caption(lesson.summary)
    if intuition_folded:
        with st.expander("Intuition", expanded=False):
            show_sections(lesson, ["Intuition"], headers=False)
    else:
        show_sections(lesson, ["Intuition"], headers=False)
    return lesson
