"""Dropout Lab: the router. Page config, navigation built from lesson metadata, then the page."""
import streamlit as st

from core.lessons import all_lessons

st.set_page_config(page_title="Dropout Lab", page_icon="🎲", layout="wide")

home = st.Page("pages/00_home.py", title="Home", icon="🏠", default=True, url_path="home")
lesson_pages = [
    st.Page(lesson.page, title=f"{lesson.order}. {lesson.title}", icon=lesson.icon, url_path=lesson.id.split("_", 1)[1])
    for lesson in all_lessons()
]
st.navigation({"Dropout Lab": [home], "Lessons and labs": lesson_pages}).run()
