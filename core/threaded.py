"""What every live runner shares: one thread that owns the trainers, commands in, snapshots out.

A subclass sets up its trainers, calls ``_start()`` once ``_snapshot`` holds a first snapshot,
and implements ``_serve()``: the thread's loop, which takes commands from ``_commands`` (a
``("stop", {})`` command must make it return) and publishes plain-data snapshots under
``_changed``. Anything ``_serve`` lets escape ends the run in state ``error`` with a message;
the thread never vanishes silently and never touches Streamlit.
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable

OS_THREAD_NAME = "dropout-trainer"
"""The trainer thread's name as the OS sees it (``top -H``, /proc/PID/task/*/comm)."""
THREAD_NAME = "dropout-lab-trainer"


class ThreadedRunner:
    def __init__(self) -> None:
        self._commands: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._changed = threading.Condition()
        self._wake = threading.Event()
        self._state = "ready"
        self._message: str | None = None
        self._version = 0
        self._snapshot: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._loop, name=THREAD_NAME, daemon=True)

    def _start(self) -> None:
        self._thread.start()

    # -- the interface: commands in, snapshots out ---------------------------------------------
    def send(self, command: str, **kwargs: Any) -> None:
        self._commands.put((command, kwargs))
        self._wake.set()

    def snapshot(self) -> dict[str, Any]:
        with self._changed:
            return self._snapshot

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        """Wait until a published snapshot satisfies ``predicate`` (or ``timeout`` passes); return the latest."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self._snapshot):
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    break
                self._changed.wait(left)
            return self._snapshot

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread and wait for it; safe to call more than once."""
        self.send("stop")
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- the thread ----------------------------------------------------------------------------
    def _serve(self) -> None:
        raise NotImplementedError

    def _loop(self) -> None:
        name_os_thread(OS_THREAD_NAME)
        try:
            self._serve()
        except Exception as exc:  # noqa: BLE001 - last resort: say what happened, never vanish silently
            with self._changed:
                self._version += 1
                self._state, self._message = "error", f"training stopped: {type(exc).__name__}: {exc}"
                self._snapshot = {**self._snapshot, "version": self._version, "state": self._state,
                                  "message": self._message}
                self._changed.notify_all()


def name_os_thread(name: str) -> None:
    """Name the calling OS thread (Linux), so a trainer can be seen from outside the process."""
    try:
        import ctypes  # noqa: PLC0415

        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # 15 = PR_SET_NAME
    except (OSError, AttributeError):
        pass
