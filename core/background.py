"""An experiment run in a background thread, so a page can show its progress and cancel it.

By default the experiment is one of lesson 3's (``run_experiment``); any function with its
signature, ``run(key, settings, progress=..., cancelled=...)`` returning a result with a
``cancelled`` flag, can be run the same way (lesson 4 trains its digit features so).

The thread never touches Streamlit; the page reads ``snapshot()`` (plain data plus, once
done, the ``ExperimentResult``) and calls ``cancel()``. Same thread names as the live
runner's, so the OS and the tests see every training thread alike.

``SharedRuns`` lets sessions that ask for the same run at the same time share it: when a
class presses Run on the defaults together, the server trains them once, not thirty times.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable

from core.experiments import run_experiment
from core.threaded import OS_THREAD_NAME, THREAD_NAME, name_os_thread
from core.sweep import Progress

Run = Callable[..., Any]


class BackgroundExperiment:
    def __init__(self, key: str, settings: Any, run: Run = run_experiment):
        self._target = run
        self.key = key
        self.settings = settings
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._result: Any = None
        self._error: str | None = None
        self._started = time.perf_counter()
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        name_os_thread(OS_THREAD_NAME)
        try:
            result = self._target(self.key, self.settings, progress=self._on_progress, cancelled=self._cancel.is_set)
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
            state = "cancelled" if result.cancelled else "done"
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


class Watch:
    """One session's handle on a run that other sessions asking for the same thing may share.

    Cancelling or closing a watch detaches it; the run itself is cancelled only when its
    last watcher lets go, so one student's Cancel never stops a classmate's run.
    """

    def __init__(self, registry: SharedRuns, token: str, job: BackgroundExperiment):
        self._registry, self._token, self.job = registry, token, job
        self.detached = False

    @property
    def key(self) -> str:
        return self.job.key

    @property
    def settings(self) -> Any:
        return self.job.settings

    @property
    def alive(self) -> bool:
        return not self.detached and self.job.alive

    @property
    def watchers(self) -> int:
        return self._registry.watchers(self._token)

    def snapshot(self) -> dict[str, Any]:
        snap = self.job.snapshot()
        if self.detached and snap["state"] == "running":
            return {**snap, "state": "cancelled", "eta": None}
        return snap

    def cancel(self) -> None:
        self.close(timeout=0)

    def close(self, timeout: float = 2.0) -> None:
        if not self.detached:
            self.detached = True
            self._registry.release(self._token, self.job, timeout)


class SharedRuns:
    """Runs in flight, keyed by what they compute: equal (experiment, settings) share one run."""

    def __init__(self, run: Run = run_experiment) -> None:
        self._target = run
        self._lock = threading.Lock()
        self._runs: dict[str, tuple[BackgroundExperiment, int]] = {}

    def watch(self, token: str, key: str, settings: Any) -> Watch:
        with self._lock:
            job, count = self._runs.get(token, (None, 0))
            # A run still training, or finished and not yet collected, is joined; anything else restarts.
            if job is None or job.snapshot()["state"] not in ("running", "done"):
                job, count = BackgroundExperiment(key, settings, self._target), 0
            self._runs[token] = (job, count + 1)
        return Watch(self, token, job)

    def watchers(self, token: str) -> int:
        with self._lock:
            return self._runs.get(token, (None, 0))[1]

    def release(self, token: str, job: BackgroundExperiment, timeout: float) -> None:
        with self._lock:
            current, count = self._runs.get(token, (None, 0))
            if current is not job:
                return  # an older run under the same token: already let go
            if count > 1:
                self._runs[token] = (job, count - 1)
                return
            del self._runs[token]
        job.close(timeout)


class ResultCache:
    """Finished results by token, the ``size`` most recent kept, shared by every session of the
    process. Runs are seeded, so equal settings give equal results: when a class opens a page
    with its defaults, one session trains and the others see the result at once."""

    def __init__(self, size: int = 32) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._results: OrderedDict[str, Any] = OrderedDict()

    def get(self, token: str) -> Any | None:
        with self._lock:
            return self._results.get(token)

    def put(self, token: str, result: Any) -> None:
        with self._lock:
            self._results[token] = result
            self._results.move_to_end(token)
            while len(self._results) > self._size:
                self._results.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._results.clear()
