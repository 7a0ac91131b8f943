"""Per-session resources that must not outlive the browser tab, and process-wide settings."""
from __future__ import annotations

import threading
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
