"""Playground: a small MLP trains live with dropout, next to the same network without it."""
import streamlit as st

from core.presets import PRESETS, preset
from core.ui import controls, playground
from core.ui.lesson import lesson_header, show_sections
from core.ui.router import ensure_routed

ensure_routed()

lesson = lesson_header("02_playground")

controls.preset_picker(tuple(PRESETS), preset)
settings = controls.sidebar_controls()
runner = playground.sync_runner(settings)
playground.buttons(runner)
playground.live_view(runner)

st.subheader("What to try")
controls.preset_buttons(lesson.meta["presets"], preset)
show_sections(lesson, ["What to try"], headers=False)
show_sections(lesson, ["What to notice", "Exercises"])
