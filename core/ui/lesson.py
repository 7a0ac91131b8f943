"""Render a parsed lesson's sections by name."""
from __future__ import annotations

import streamlit as st

from core.lessons import Lesson


def show_sections(lesson: Lesson, names: list[str], *, headers: bool = True) -> None:
    for name in names:
        if headers:
            st.subheader(name)
        st.markdown(lesson.section(name))
