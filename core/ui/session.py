"""Per-session resources that must not outlive the browser tab, and process-wide settings."""
from __future__ import annotations

import hashlib
import threading
import uuid
from typing import Protocol

import streamlit as st


class Closable(Protocol):
    def close(self, timeout: float = ...) -> None: ...


class SessionLease:
    """Holds the closable things (live runners) of one browser session.

    Streamlit releases a session-scoped cache entry when its session disconnects; the
    release closes everything held here, so a closed tab stops its training within seconds.
    """

    def __init__(self) -> None:
        self._held: dict[str, Closable] = {}
        self._lock = threading.Lock()

    def hold(self, key: str, thing: Closable) -> None:
        with self._lock:
            old = self._held.get(key)
            self._held[key] = thing
        if old is not None and old is not thing:
            old.close(timeout=0)

    def release(self) -> None:
        with self._lock:
            held, self._held = list(self._held.values()), {}
        for thing in held:
            thing.close(timeout=0)


@st.cache_resource(scope="session", on_release=lambda lease: lease.release(), show_spinner=False)
def session_lease() -> SessionLease:
    return SessionLease()


BROWSER_ID = "session.browser"
XSRF_COOKIE = "_streamlit_xsrf"


def browser_id() -> str:
    """Who holds this session's runs, for the cap on runs per browser: the same for every tab of one
    browser. Streamlit's XSRF cookie carries one token per browser, masked afresh on each page load
    ("2|mask|masked token|time"): unmasked, it names the browser. Without the cookie (XSRF protection
    off), each session counts as a browser of its own."""
    ss = st.session_state
    if BROWSER_ID not in ss:
        ss[BROWSER_ID] = _token(st.context.cookies.get(XSRF_COOKIE)) or "session-" + uuid.uuid4().hex
    return ss[BROWSER_ID]


def _token(cookie: str | None) -> str | None:
    try:
        version, mask, masked, _ = (cookie or "").split("|")
        token = bytes(m ^ t for m, t in zip(bytes.fromhex(mask), bytes.fromhex(masked)))
    except ValueError:
        return None
    return "browser-" + hashlib.sha256(token).hexdigest()[:16] if version == "2" and token else None
