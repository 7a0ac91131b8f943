"""An experiment run in a background thread, so a page can show its progress and cancel it.

The thread never touches Streamlit; the page reads ``snapshot()`` (plain data plus, once
done, the ``ExperimentResult``) and calls ``cancel()``. Same thread names as the live
runner's, so the OS and the tests see every training thread alike.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from core.experiments import ExperimentResult, Settings, run_experiment
from core.live import OS_THREAD_NAME, name_os_thread
from core.sweep import Progress

THREAD_NAME = "dropout-lab-trainer"


class BackgroundExperiment:
    def __init__(self, key: str, settings: Settings):
        self.key = key
        self.settings = settings
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._result: ExperimentResult | None = None
        self._error: str | None = None
        self._started = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        name_os_thread(OS_THREAD_NAME)
        try:
            result = run_experiment(self.key, self.settings, progress=self._on_progress, cancelled=self._cancel.is_set)
        except Exception as exc:  # noqa: BLE001 - reported on the page, never a silent stop
            with self._lock:
                self._error = f"{type(exc).__name__}: {exc}"
            return
        with self._lock:
            self._result = result

    def _on_progress(self, progress: Progress) -> None:
        with self._lock:
            self._progress = progress

    def snapshot(self) -> dict[str, Any]:
        """``state``: running, done, cancelled or error; ``fraction``, ``eta`` (s or None),
        ``elapsed`` (s); ``result`` once done; ``error`` (a sentence) on error."""
        with self._lock:
            progress, result, error = self._progress, self._result, self._error
        elapsed = time.perf_counter() - self._started
        if error is not None:
            state = "error"
        elif result is not None:
            state = "cancelled" if result.sweep.cancelled else "done"
        elif self._cancel.is_set() and not self._thread.is_alive():
            state = "cancelled"
        else:
            state = "running"
        return {
            "state": state, "elapsed": elapsed, "error": error,
            "fraction": 1.0 if state == "done" else (progress.fraction if progress else 0.0),
            "eta": progress.eta if progress and state == "running" else None,
            "result": result if state == "done" else None,
        }

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def close(self, timeout: float = 2.0) -> None:
        """Cancel and wait up to ``timeout`` s for the thread (it stops within ~0.2 s)."""
        self._cancel.set()
        if timeout and self._thread is not threading.current_thread():
            self._thread.join(timeout)
