"""A teacher's room on a lab page: join or open it, the teacher's controls, the class prediction, the
presenter view. The room itself (its store, codes, tokens, polls) is ``core.live.rooms``; the page says
which control groups and presets it has, which questions it asks and how its run settles them.

The link carries the room: ``?room=CODE`` for a student, ``&teacher=TOKEN`` in the teacher's own link only,
``&present=1`` for the presenter view. Whatever goes wrong with a room is said in a sentence, and the lab
works on without it.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import plotly.graph_objects as go
import streamlit as st

from core.live.room_store import StoreDown
from core.live.rooms import Room, RoomError, Rooms
from core.ui.controls import CHART

CODE, TOKEN, MEMBER, SEEN_PUSHES, VERSION, PRESENT = ("room.code", "room.token", "room.member", "room.pushes",
                                                       "room.version", "room.present")
WATCH_SECONDS = 2.0  # a student's page looks for the teacher's changes this often
TALLY_SECONDS = 1.5  # the teacher's count of answers refreshes this often
_rooms: Rooms | None = None


def rooms() -> Rooms:
    """This process's rooms (the store is opened on first use, and again after it failed)."""
    global _rooms
    if _rooms is None:
        try:
            _rooms = Rooms()
        except StoreDown as exc:
            raise RoomError(f"The room store is not reachable ({exc}). The lab works on here without the "
                            "room; the teacher can check the server's DROPOUT_LAB_ROOMS.") from None
    return _rooms


@dataclass
class RoomView:
    """What a page run knows of its room: None when the learner is in none."""

    room: Room | None = None
    teacher: bool = False
    presenting: bool = False
    locked: frozenset[str] = field(default_factory=frozenset)
    hidden: frozenset[str] = field(default_factory=frozenset)

    def shown(self, group: str) -> bool:
        return group not in self.hidden


def _member() -> str:
    return st.session_state.setdefault(MEMBER, uuid.uuid4().hex)


def _leave(message: str | None = None) -> None:
    for key in (CODE, TOKEN, VERSION, SEEN_PUSHES, "room.joined"):
        st.session_state.pop(key, None)
    for name in ("room", "teacher"):
        if name in st.query_params:
            del st.query_params[name]
    if message:
        st.session_state["room.notice"] = message


def room_sidebar(page: str, *, groups: Sequence[str], presets: Sequence[str],
                 apply_preset: Callable[[str], None], preset: Callable[[], str | None]) -> RoomView:
    """The room's part of the sidebar, drawn first (before the page's controls, so that a pushed preset
    reaches them in this run). ``preset()`` is the teacher's preset when the room opens: students who join
    start from it, so that their run is the teacher's. Returns what the page must lock, hide or show."""
    ss = st.session_state
    notice = ss.pop("room.notice", None)
    if notice:
        st.sidebar.warning(notice, icon="🏫")
    if CODE not in ss and st.query_params.get("room"):
        ss[CODE] = st.query_params["room"]  # the first visit of a room's link
        ss[TOKEN] = st.query_params.get("teacher")
    view = RoomView(presenting=st.query_params.get("present") == "1" or ss.get(PRESENT, False))
    if CODE not in ss:
        _join_box(page, preset)
        return view
    try:
        # joined once per session and room; later reruns only read the room (no write per rerun)
        room = rooms().get(ss[CODE]) if ss.get("room.joined") == ss[CODE] else rooms().join(ss[CODE], _member())
        ss["room.joined"] = room.code
        teacher = bool(ss.get(TOKEN)) and rooms().is_teacher(room.code, ss[TOKEN])
    except RoomError as exc:
        _leave()
        st.sidebar.warning(str(exc), icon="🏫")
        _join_box(page, preset)
        return view
    if ss.get(TOKEN) and not teacher:
        st.sidebar.warning("This link's teacher token does not control this room: you are in it as a student.",
                           icon="🏫")
        ss[TOKEN] = None
    ss[CODE], ss[VERSION] = room.code, room.version
    st.query_params["room"] = room.code
    if teacher:
        _teacher_panel(room, groups, presets)
        return RoomView(room, True, view.presenting)
    if room.preset in presets and room.pushes > ss.get(SEEN_PUSHES, 0):
        apply_preset(room.preset)  # each push once: a student may change the preset's controls afterwards
        st.toast(f"Your teacher loaded the preset {room.preset}.", icon="🏫")
    ss[SEEN_PUSHES] = room.pushes
    _student_panel(room)
    return RoomView(room, False, view.presenting, frozenset(room.locked) & set(groups),
                    frozenset(room.hidden) & set(groups))


def _join_box(page: str, preset: Callable[[], str | None]) -> None:
    with st.sidebar.expander("🏫 Class room", expanded=False):
        with st.form("room.join_form", border=False):
            code = st.text_input("Room code", max_chars=12, key="room.code_input", placeholder="K7MQ2",
                                 help="The five letters and digits your teacher shows. You then follow the "
                                      "teacher's room: the preset they load, the questions they ask.")
            if st.form_submit_button("Join", use_container_width=True):
                try:
                    st.session_state[CODE] = rooms().join(code, _member()).code
                    st.session_state[TOKEN] = None
                    st.rerun()
                except RoomError as exc:
                    st.warning(str(exc), icon="🏫")
        st.button("Open a room (teacher)", key="room.open.button", on_click=_open, args=(page, preset),
                  use_container_width=True,
                  help="A room for your class: students join with its code, you lock or hide controls, push a "
                       "preset to everyone and ask the class to predict. Your link holds the key to it.")


def _open(page: str, preset: Callable[[], str | None]) -> None:
    try:
        room, token = rooms().open(page)
        if preset() is not None:  # the class starts from the teacher's run
            room = rooms().push(room.code, token, preset())
    except RoomError as exc:
        st.session_state["room.notice"] = str(exc)
        return
    st.session_state[CODE], st.session_state[TOKEN] = room.code, token
    st.query_params["room"], st.query_params["teacher"] = room.code, token


def _student_panel(room: Room) -> None:
    with st.sidebar.container(border=True):
        st.markdown(f"🏫 In room **{room.code}**")
        if room.locked or room.hidden:
            st.caption("Your teacher set some controls for the class: " + "; ".join(
                part for part in (f"locked: {', '.join(room.locked)}" if room.locked else "",
                                  f"hidden: {', '.join(room.hidden)}" if room.hidden else "") if part) + ".")
        st.button("Leave the room", key="room.leave.button", on_click=_leave, use_container_width=True,
                  help="Back to the lab on your own: every control is yours again.")
    _watch(room.code, room.version)


def _watch(code: str, version: int) -> None:
    """Look for the teacher's changes every few seconds; redraw the whole page when there is one."""
    @st.fragment(run_every=WATCH_SECONDS)
    def _look() -> None:
        try:
            latest = rooms().get(code)
        except RoomError as exc:
            _leave(str(exc))
            st.rerun()
        if latest.version != version:
            st.rerun()
    _look()


def _teacher_panel(room: Room, groups: Sequence[str], presets: Sequence[str]) -> None:
    token = st.session_state[TOKEN]
    base = st.context.url or ""
    with st.sidebar.expander(f"🏫 Your room: {room.code}", expanded=True):
        st.markdown(f"<div style='font-size:2.4rem;font-weight:700;letter-spacing:.2em'>{room.code}</div>",
                    unsafe_allow_html=True)
        st.caption(f"{rooms().members(room.code) - 1} students joined. They open the lab and type the code under "
                   "Class room, or open this link:")
        st.code(f"{base}?room={room.code}", language=None, wrap_lines=True)
        st.multiselect("Lock for students", groups, default=[g for g in room.locked if g in groups],
                       key="room.locked", on_change=_set, args=("locked",),
                       help="Students see these controls but cannot change them: they keep the values of the "
                            "preset you pushed last.")
        st.multiselect("Hide from students", groups, default=[g for g in room.hidden if g in groups],
                       key="room.hidden", on_change=_set, args=("hidden",),
                       help="Students do not see these controls at all (their values stay as the preset sets "
                            "them): the page shows only what the lesson needs.")
        c1, c2 = st.columns([3, 2])
        c1.selectbox("Preset to push", presets, key="room.preset", label_visibility="collapsed",
                     help="The preset to load on every student's page.")
        c2.button("Push", key="room.push.button", on_click=_push, use_container_width=True,
                  help="Every student's page loads this preset now (students who join later get it too).")
        st.toggle("Presenter view", key=PRESENT, help="Large type, the charts that matter, no sidebar: for the "
                                                      "projector. A button at the top brings the sidebar back. "
                                                      "Your address bar holds the room's key: project in the "
                                                      "browser's full screen (F11), where it is hidden.")
        st.button("Close the room", key="room.close.button", on_click=_close, use_container_width=True,
                  help="Ends the room for everyone; the students' labs go on without it.")
        st.caption("Your link (in the address bar) holds this room's key: keep it to yourself; the link above is "
                   f"the students'. Open it again to come back. The token is {token[:4]}….")


def _change(**changes: Any) -> None:
    try:
        rooms().change(st.session_state[CODE], st.session_state[TOKEN], **changes)
    except RoomError as exc:
        st.session_state["room.notice"] = str(exc)


def _set(what: str) -> None:
    _change(**{what: tuple(st.session_state[f"room.{what}"])})


def _push() -> None:
    try:
        rooms().push(st.session_state[CODE], st.session_state[TOKEN], st.session_state["room.preset"])
    except RoomError as exc:
        st.session_state["room.notice"] = str(exc)


def _close() -> None:
    try:
        rooms().close(st.session_state[CODE], st.session_state[TOKEN])
    except RoomError as exc:
        st.session_state["room.notice"] = str(exc)
        return
    _leave("The room is closed: the students' labs go on without it.")
    st.session_state[PRESENT] = False


def presenter_style(view: RoomView) -> None:
    """The presenter view: no sidebar, large type; a button brings the sidebar back."""
    if not view.presenting:
        return
    st.html("<style>section[data-testid='stSidebar'], [data-testid='stSidebarCollapsedControl'] {display: none;}"
            "[data-testid='stMain'] p, [data-testid='stMain'] li {font-size: 1.45rem;}"
            "[data-testid='stMain'] h1 {font-size: 3rem;} [data-testid='stMetricValue'] {font-size: 3rem;}</style>")
    st.button("Leave presenter view", key="room.unpresent.button", on_click=_unpresent,
              help="Show the sidebar and the lesson again.")


def _unpresent() -> None:
    st.session_state[PRESENT] = False
    if "present" in st.query_params:
        del st.query_params["present"]


Bank = Mapping[str, tuple[str, tuple[str, ...]]]


def prediction(view: RoomView, bank: Bank, settle: Callable[[str], tuple[str, str]]) -> None:
    """The class prediction: the teacher asks, counts and reveals; a student answers and then sees."""
    room = view.room
    if room is None:
        return
    if view.teacher:
        _ask(room, bank, settle)
    elif room.poll is not None:
        _answer(room)


def _ask(room: Room, bank: Bank, settle: Callable[[str], tuple[str, str]]) -> None:
    with st.container(border=True):
        st.markdown("**🏫 Class prediction**")
        c1, c2 = st.columns([4, 1])
        c1.selectbox("Question", list(bank), format_func=lambda k: bank[k][0], key="room.question",
                     label_visibility="collapsed", help="Ask before the run ends; reveal once it has.")
        c2.button("Ask the class", key="room.ask.button", on_click=_pose, args=(bank,), use_container_width=True,
                  help="Every student's page shows this question with its answers; a new question replaces the "
                       "last.")
        poll = room.poll
        if poll is None:
            st.caption("No question asked yet.")
            return
        _tally(room.code, poll.number, poll.question)
        if poll.revealed:
            st.success(f"Revealed: **{poll.result}**. {poll.explanation}")
        else:
            st.button("Reveal the result", key="room.reveal.button", type="primary", on_click=_reveal,
                      args=(poll.key, settle), help="Settles the question from your run as it stands and shows the "
                                                    "result on every student's page.")
            refused = st.session_state.pop("room.refused", None)
            if refused:
                st.warning(refused)


def _reveal(key: str, settle: Callable[[str], tuple[str, str]]) -> None:
    """A callback, so that the click is acted on once even when a redraw interrupts the run it started."""
    try:
        result, why = settle(key)
        rooms().reveal(st.session_state[CODE], st.session_state[TOKEN], result, why)
    except (ValueError, RoomError) as exc:
        st.session_state["room.refused"] = str(exc)


def _pose(bank: Bank) -> None:
    key = st.session_state["room.question"]
    try:
        rooms().ask(st.session_state[CODE], st.session_state[TOKEN], key, *bank[key])
    except RoomError as exc:
        st.session_state["room.notice"] = str(exc)


def _tally(code: str, number: int, question: str) -> None:
    @st.fragment(run_every=TALLY_SECONDS)
    def _count() -> None:
        try:
            room = rooms().get(code)
            counts = rooms().tally(code, number)
        except RoomError as exc:
            st.warning(str(exc))
            return
        st.plotly_chart(answers_figure(counts, question, room.poll.result if room.poll else None),
                        key="room.tally", config=CHART)
    _count()


def answers_figure(counts: Mapping[str, int], question: str, result: str | None) -> go.Figure:
    """How the class answered: a bar per option, the one the run showed in green once revealed."""
    total = sum(counts.values())
    colours = ["#2ca02c" if option == result else "#7f7f7f" if result else "#1f77b4" for option in counts]
    fig = go.Figure(go.Bar(x=list(counts), y=list(counts.values()), marker_color=colours,
                           text=[f"{n} ({n / total:.0%})" if total else "0" for n in counts.values()],
                           textposition="auto"))
    fig.update_layout(title=f"{question} ({total} answer{'' if total == 1 else 's'})", height=300,
                      yaxis=dict(title="students", rangemode="tozero", dtick=1 if max(counts.values(), default=0) <= 10
                                 else None), margin=dict(l=50, r=10, t=50, b=40))
    return fig


def _send(code: str, number: int) -> None:
    """A callback (acted on once, whatever redraw interrupts the run it started): the radio's answer."""
    try:
        rooms().answer(code, _member(), number, st.session_state[f"room.choice_{number}"])
    except RoomError as exc:
        st.session_state["room.refused"] = str(exc)


def _answer(room: Room) -> None:
    poll, member = room.poll, _member()
    try:
        mine = rooms().mine(room.code, member, poll.number)
    except RoomError as exc:
        st.warning(str(exc))
        return
    with st.container(border=True):
        st.markdown(f"**🏫 Your teacher asks:** {poll.question}")
        if poll.revealed:
            verdict = ("" if mine is None else " ✅ You predicted it." if mine == poll.result
                       else f" ❌ You said {mine}.")
            st.info(f"Your teacher's run showed **{poll.result}**. {poll.explanation}{verdict}")
            st.plotly_chart(answers_figure(rooms().tally(room.code, poll.number), poll.question, poll.result),
                            key="room.answers", config=CHART)
            return
        choice = st.radio("Your prediction", poll.options, index=None, horizontal=True,
                          key=f"room.choice_{poll.number}", help="Before the run ends: what will it show?")
        st.button("Send my answer", key="room.send.button", disabled=choice is None, on_click=_send,
                  args=(room.code, poll.number), help="Counted at once on your teacher's screen.")
        refused = st.session_state.pop("room.refused", None)
        if refused:
            st.warning(refused)
        if mine is not None:
            st.caption(f"You answered **{mine}**; you can change it until your teacher reveals the result.")
