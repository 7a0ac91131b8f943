"""Playground: a small MLP trains live with dropout, next to the same network without it."""
import streamlit as st

from core.ui import drills, live, room
from core.ui.frame import ensure_routed
from core.ui.labs import playground
from core.ui.lesson import lesson_header, show_sections

ensure_routed()

in_room = room.room_sidebar("playground", groups=tuple(playground.GROUPS), presets=tuple(playground.PRESETS),
                            apply_preset=playground.choose_preset, preset=playground.current_preset)
room.presenter_style(in_room)
lesson = lesson_header("02_playground")

link_slot = playground.preset_picker()
settings = playground.sidebar_controls(link_slot, in_room)
prediction = st.container()
runner, snapshot = live.sync_runner(settings, ns=playground.NS)
live.buttons(snapshot, ns=playground.NS)
with prediction:
    room.prediction(in_room, playground.room_bank(), playground.settle(snapshot))
live.live_view(runner, snapshot, playground.draw, export=None if in_room.presenting else "playground")
if in_room.presenting:
    st.stop()

st.subheader("What to try")
playground.preset_buttons(lesson.meta["presets"])
show_sections(lesson, ["What to try"], headers=False)
show_sections(lesson, ["What to notice"])
st.subheader("Check yourself")
drills.check_yourself(playground.NS, lesson.id)
show_sections(lesson, ["Exercises"])
