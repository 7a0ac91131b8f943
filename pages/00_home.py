"""Home: what Dropout Lab teaches and where to start."""
import streamlit as st

from core.lessons import all_lessons, load_lesson
from core.ui.frame import ensure_routed

ensure_routed()

home = load_lesson("home")
st.title(f"{home.icon} {home.title}")
st.markdown(home.section("What you will learn"))
st.subheader("Start here")
for lesson in all_lessons():
    with st.container(border=True):
        st.page_link(lesson.page, label=f"**{lesson.order}. {lesson.title}**", icon=lesson.icon)
        st.markdown(lesson.summary)
st.markdown(home.section("Conventions"))
