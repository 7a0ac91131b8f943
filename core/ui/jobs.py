"""A background run's progress bar with time left and a Cancel button, redrawn while it runs."""
from __future__ import annotations

import math

import streamlit as st

from core.background import Watch

TICK_SECONDS = 0.5


def progress_view(job: Watch, what: str, ns: str) -> None:
    """``what`` names the run ("Training the digit network"); ``ns`` prefixes the Cancel button's key.
    When the run ends, the whole page reruns once, so it can collect the result."""

    @st.fragment(run_every=TICK_SECONDS)
    def _progress() -> None:
        snap = job.snapshot()
        if snap["state"] != "running":
            st.rerun()
        eta = "estimating time left…" if snap["eta"] is None else f"about {math.ceil(snap['eta'])} s left"
        st.progress(snap["fraction"], text=f"{what}: {100 * snap['fraction']:.0f} %, {eta}")
        st.button("Cancel", key=f"{ns}cancel.button", on_click=job.cancel,
                  help="Stop waiting for this run; nothing is kept. (A run other sessions asked for goes on for them.)")

    _progress()
