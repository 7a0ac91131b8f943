"""The app frame: page config and navigation built from the lessons' front matter.

Streamlit treats an app with a ``pages/`` folder as an old-style multipage app until
``st.navigation`` has run once in the server. Until then a first request for a deep link
(``/playground?preset=...``, what a teacher hands out) would run the page script on its
own, without this frame. Each page therefore starts with ``ensure_routed()``, which runs
the router instead when the page was started without it.
"""
from __future__ import annotations

import importlib
import threading
from pathlib import Path

import streamlit as st
from streamlit.errors import StreamlitAPIException
from streamlit.runtime.scriptrunner_utils.exceptions import StopException

from core.engine.runtime import one_thread
from core.labs.kinds import JOBS, KINDS
from core.lessons import all_lessons
from core.live import pool
from core.ui.links import as_text

# Plotly imports pandas lazily, the first time a figure checks whether a value is a pandas Series,
# and looks it up in sys.modules without waiting for an import in progress. On a fresh server two
# script threads (a page and a live view's timed rerun) building their first figures at once then
# met a half-imported pandas ("partially initialized module 'pandas' has no attribute 'Series'").
# Importing it here, before any page runs, finishes that import first.
importlib.import_module("pandas")

one_thread()  # the app process draws; training and heavy jobs run in the workers
pool.use_kinds(KINDS)  # this process's runners and jobs, when they train here (DROPOUT_LAB_TRAINERS=threads)
pool.use_jobs(JOBS)
_run = threading.local()
ROOT = Path(__file__).resolve().parents[2]


def run_router() -> None:
    st.set_page_config(page_title="Dropout Lab", page_icon="🎲", layout="wide")
    _start_trainers()
    home = st.Page(str(ROOT / "pages/00_home.py"), title="Home", icon="🏠", default=True, url_path="home")
    lesson_pages = [
        st.Page(str(ROOT / lesson.page), title=f"{lesson.order}. {lesson.title}", icon=lesson.icon,
                url_path=lesson.id.split("_", 1)[1])
        for lesson in all_lessons()
    ]
    page = st.navigation({"Dropout Lab": [home], "Lessons and labs": lesson_pages})
    _pause_elsewhere(page.url_path)
    _run.active, _run.page = True, page.url_path
    try:
        page.run()
    except StopException:  # st.stop(): the run is over, as after its last line
        _keep_widget_values()
        raise
    else:
        _keep_widget_values()
    finally:
        _run.active = False


def _start_trainers() -> None:
    """Start the worker processes with the first page (they take seconds to get ready), and tell
    the teacher about a server setting that was ignored."""
    for problem in pool.settings().problems:
        st.warning(f"Server setting ignored: {as_text(problem)}", icon="⚙️")
    try:
        pool.warm_up()
    except OSError as exc:
        st.error(f"Could not start the training processes ({exc}). Live runs will not start; to train inside "
                 "the app's own process instead, restart it with DROPOUT_LAB_TRAINERS=threads.")


def current_page() -> str | None:
    """The url path of the page this script run shows (None outside the router)."""
    return getattr(_run, "page", None) if getattr(_run, "active", False) else None


RUNNER_SUFFIX = "runner"
PAUSED_ELSEWHERE = "Paused while you were on another page: press Play to carry on."


def _pause_elsewhere(shown: str) -> None:
    """A live run trains only while its page is open: one on another page of this session is paused,
    so it does not take the CPU from what the learner is looking at (or from a classmate). A page
    that starts a runner under ``NS + "runner"`` records its own url path under ``NS + "page"``."""
    ss = st.session_state
    for key in [k for k in ss if isinstance(k, str) and k.endswith("." + RUNNER_SUFFIX)]:
        ns = key[: -len(RUNNER_SUFFIX)]
        runner = ss[key]
        if ss.get(ns + "page", shown) == shown or not getattr(runner, "alive", False):
            continue
        if runner.snapshot()["state"] in ("playing", "queued"):
            runner.send("pause")
            ss[ns + "reset_reason"] = PAUSED_ELSEWHERE


KEPT_PREFIXES = tuple(lesson.id.split("_", 1)[1] + "." for lesson in all_lessons())
"""Each lesson's session namespace, its slug and a dot (``playground.``): the keys kept across pages."""
BUTTON_SUFFIX = ".button"
"""Every button key ends with this: buttons hold no value, and Streamlit refuses to have one set."""
CHART_SUFFIX = ".chart"
"""Every clickable chart's key ends with this: Streamlit refuses to have a selection set either."""
UPLOAD_SUFFIX = ".upload"
"""Every file uploader's key ends with this: Streamlit refuses to have an uploaded file set as well."""


def _keep_widget_values() -> None:
    """Streamlit forgets the value of every widget that a run does not draw, so a learner who
    opened Home and came back would find the Playground reset. At the end of each run, each value
    of a widget that this run did not draw is assigned to its key again, which keeps it.

    The widgets this run drew are left alone (Streamlit refuses the assignment): an assigned value
    is sent back to the browser as the widget's value, and a run that started before the learner's
    latest key press would then put a slider back a step."""
    for key in list(st.session_state):
        if isinstance(key, str) and key.startswith(KEPT_PREFIXES) and not key.endswith((BUTTON_SUFFIX, CHART_SUFFIX, UPLOAD_SUFFIX)):
            try:
                st.session_state[key] = st.session_state[key]
            except StreamlitAPIException:  # drawn in this run: its value is kept anyway
                continue


def ensure_routed() -> None:
    """Call first in every page: if the router is not running this page, run the router and stop."""
    if getattr(_run, "active", False):
        return
    run_router()
    st.stop()
