"""The background-job panel of every page that trains something too long to wait for in a rerun.

Run button -> place in line, then progress with time left, and Cancel -> the result, in one
``JobPanel``. The job runs where the server's settings say (a worker process, by default) under the
cap on concurrent jobs; one over the work budget is refused with a sentence before it starts.
Results depend only on (key, settings): runs are seeded, so equal settings give equal results. A
panel keeps them in a process-wide cache, and sessions that ask for the same run at the same time
share one (``core.live.jobs.SharedRuns``): when a class presses Run on the defaults together, the
server trains once. The session's lease holds the job, so a closed tab lets go of it.

Session keys, under the panel's ``prefix``: ``job`` (this session's ``Watch``), ``notice``, and the
buttons ``run.button`` and ``cancel.button``.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, is_dataclass
from typing import Any, Callable

import streamlit as st

from core.live.jobs import ResultCache, SharedRuns, Watch
from core.live.pool import settings as server_settings
from core.live.pool import start_job
from core.ui.session import session_lease

TICK_SECONDS = 0.5
CANCELLED = "Cancelled. Nothing was kept from that run."


def _plain(settings: Any) -> Any:
    if hasattr(settings, "to_json"):
        return settings.to_json()
    return asdict(settings) if is_dataclass(settings) else settings


class JobPanel:
    """One kind of background job on a page: ``job`` names it in the plug-in table (``core.labs.kinds.JOBS``)."""

    def __init__(self, prefix: str, job: str, *, cache_size: int = 32):
        self.prefix = prefix
        self.job_key = prefix + "job"
        self._notice_key = prefix + "notice"
        self._cache = ResultCache(size=cache_size)
        self._in_flight = SharedRuns(lambda key, settings: start_job(job, key, settings))

    def token(self, key: str, settings: Any) -> str:
        return json.dumps([key, _plain(settings)], sort_keys=True)

    def cached(self, key: str, settings: Any) -> Any | None:
        return self._cache.get(self.token(key, settings))

    def start(self, key: str, settings: Any) -> None:
        """Start (or join) the run of ``settings``; its ``Watch`` is this session's, held by its lease."""
        watch = self._in_flight.watch(self.token(key, settings), key, settings)
        st.session_state[self.job_key] = watch
        session_lease().hold(self.job_key, watch)

    def clear(self) -> None:
        """Forget every cached result (for tests)."""
        self._cache.clear()

    def draw(self, key: str, settings: Any | None, *, progress: str, run_label: str, run_help: str,
             changed: str = "", current: Callable[[str], Any] | None = None,
             read: Callable[[], Any] | None = None, caption: str = "") -> Any | None:
        """The panel for ``(key, settings)``: its result if there is one, else None after drawing the
        progress of this session's run or a Run button (``settings`` None: the controls said why already).

        ``progress`` names the run in its progress line; ``changed`` is said when a run finishes after its
        settings were changed (``current(job key)`` gives them now; default: the ones drawn); ``read``, if
        given, reads the settings again when Run is pressed (a ValueError is shown, nothing starts)."""
        self._collect(key, settings, changed, current)
        notice = st.session_state.pop(self._notice_key, None)
        if notice:
            (st.error if notice[0] == "error" else st.info)(notice[1])
        job: Watch | None = st.session_state.get(self.job_key)
        if job is not None:
            self._progress(job, progress)
            return None
        if settings is None:
            return None
        result = self.cached(key, settings)
        if result is not None:
            return result
        st.button(run_label, key=self.prefix + "run.button", type="primary", on_click=self._pressed,
                  args=(key, settings, read), help=run_help)
        if caption:
            st.caption(caption)
        return None

    def _pressed(self, key: str, settings: Any, read: Callable[[], Any] | None) -> None:
        try:
            self.start(key, settings if read is None else read())
        except ValueError as exc:  # settings that make no run, or a run over the server's budget
            st.session_state[self._notice_key] = ("info", f"Not started: {exc}")
        except (RuntimeError, OSError) as exc:  # no worker could be started (out of memory, shutting down)
            st.session_state[self._notice_key] = ("error", f"Not started: the server could not run it ({exc}).")

    def _collect(self, key: str, settings: Any, changed: str, current: Callable[[str], Any] | None) -> None:
        """Move a finished run's result into the cache, and its cancellation or error into a notice."""
        job: Watch | None = st.session_state.get(self.job_key)
        if job is None:
            return
        snap = job.snapshot()
        if snap["state"] in ("queued", "running"):
            return
        st.session_state.pop(self.job_key, None)
        job.close(timeout=0)
        if snap["state"] == "done":
            self._cache.put(self.token(job.key, job.settings), snap["result"])
            if changed and self._now(job.key, key, settings, current) != job.settings:
                st.session_state[self._notice_key] = ("info", changed)
        elif snap["state"] == "cancelled":
            st.session_state[self._notice_key] = ("info", CANCELLED)
        elif snap["state"] == "error":
            st.session_state[self._notice_key] = ("error", f"The run stopped with an error: {snap['error']}")

    @staticmethod
    def _now(job_key: str, key: str, settings: Any, current: Callable[[str], Any] | None) -> Any:
        if current is None:
            return settings if job_key == key else None
        try:
            return current(job_key)
        except (ValueError, KeyError):
            return None

    def _progress(self, job: Watch, what: str) -> None:
        @st.fragment(run_every=TICK_SECONDS)
        def _view() -> None:
            snap = job.snapshot()
            if snap["state"] not in ("running", "queued"):
                st.rerun()  # the whole page: draw the result, or the notice
            others = job.watchers - 1
            shared = f" (shared with {others} other session{'s' * (others > 1)} that asked for it)" if others else ""
            if snap["state"] == "queued":
                ahead = "it is next" if snap["position"] <= 1 else f"{snap['position'] - 1} ahead of it"
                st.progress(0.0, text=f"{what}: queued ({ahead}). This server runs at most "
                                      f"{server_settings().max_jobs} background runs at once; it starts by itself "
                                      f"when one ends{shared}.")
            else:
                eta = "estimating time left…" if snap["eta"] is None else f"about {math.ceil(snap['eta'])} s left"
                st.progress(snap["fraction"], text=f"{what}: {100 * snap['fraction']:.0f} %, {eta}{shared}")
            st.button("Cancel", key=self.prefix + "cancel.button", on_click=job.cancel,
                      help="Stop waiting for this run; nothing is kept. (A run other sessions asked for goes on "
                           "for them.)")

        _view()


def run_now(job: str, key: str, settings: Any, *, what: str, timeout: float = 60.0) -> Any | None:
    """A short job (a second or less) done in a worker and waited for here, under a spinner with the
    seconds waited: its result, or None after saying why (refused, failed, or still not done after
    ``timeout`` s). A click meanwhile ends the wait, and the job with it: the rerun asks again."""
    try:
        running = start_job(job, key, settings, capped=False)  # short: never behind the long runs
    except ValueError as exc:
        st.error(f"Not started: {exc}")
        return None
    except (RuntimeError, OSError) as exc:
        st.error(f"Not started: the server could not run it ({exc}).")
        return None
    try:
        with st.spinner(what):
            # Written to once a second while it waits: each write is a point where Streamlit ends this run
            # for a click made meanwhile (a sleeping script answers none, and a busy worker can take long).
            waited = st.empty()
            started = time.monotonic()
            shown = 0
            snap = running.snapshot()
            while snap["state"] in ("queued", "running") and time.monotonic() < started + timeout:
                time.sleep(0.02)
                snap = running.snapshot()
                if (seconds := int(time.monotonic() - started)) > shown:
                    shown = seconds
                    waited.caption(f"{what} {seconds} s")
            waited.empty()
    finally:
        running.close(timeout=0)
    if snap["state"] == "done":
        return snap["result"]
    if snap["state"] == "error":
        st.error(f"{what.rstrip('…')} stopped with an error: {snap['error']}")
    else:
        st.warning(f"{what.rstrip('…')} did not finish within {timeout:.0f} s: the server is busy. Try again in a "
                   "moment.")
    return None


def experiment_panel(panel: JobPanel, key: str, make: Callable[[], Any], *, seconds: str) -> dict[str, Any] | None:
    """A lab experiment's panel (its table in ``core.engine.registry``): the request ``make()`` builds (a setting it
    refuses is said, and nothing runs), Run with its cost in words, progress, then the result's JSON; None until
    there is one, or after a cancel (said)."""
    try:
        req = make()
    except (ValueError, TypeError) as exc:  # ConfigError is a ValueError
        st.error(f"These settings do not make a valid run: {exc}")
        req = None
    result = panel.draw(key, req, progress=f"Running {key}", run_label="▶ Run the experiment",
                        run_help=f"Runs in the background ({seconds} at the defaults on 2 cores). "
                                 f"`python -m core reproduce {key}` runs the same.")
    if result is None:
        return None
    out = result.to_json()
    if out.get("cancelled"):
        st.info("That run was cancelled: nothing judged.")
        return None
    return out
