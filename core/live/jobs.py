"""Background jobs: a run too long for a page rerun, with progress and cancel, shared and cached.

A job is a function ``run(key, settings, progress=..., cancelled=...)`` returning a result with a
``cancelled`` flag (lesson 3 runs its experiments so, lesson 4 trains its digit features, lesson 5
its digit network). Jobs are named in the plug-in table (``core.labs.kinds.JOBS``) and started by
``core.live.pool.start_job``: in a worker process, or as a thread of this one, under a cap on
concurrent jobs (``GatedJob``: past it a job waits in line, its place shown). This module knows
no lesson.

Every job has the same interface: ``snapshot()`` (plain data: ``state`` queued, running, done,
cancelled or error; ``fraction``, ``eta``, ``elapsed``, ``position`` in line; ``result`` once
done; ``error`` a sentence), ``cancel()``, ``close()`` and ``alive``. A job's thread has the
live runner's names, so the OS and the tests see every training thread alike.

``SharedRuns`` lets sessions that ask for the same run at the same time share it: when a
class presses Run on the defaults together, the server trains them once, not thirty times.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Protocol

from core.engine.sweep import Progress
from core.live.admission import Admission
from core.live.runner import OS_THREAD_NAME, THREAD_NAME, name_os_thread

Run = Callable[..., Any]
ENDED = ("done", "cancelled", "error")


class Job(Protocol):
    key: str
    settings: Any

    def snapshot(self) -> dict[str, Any]: ...

    def cancel(self) -> None: ...

    def close(self, timeout: float = 2.0) -> None: ...

    @property
    def alive(self) -> bool: ...


def from_fraction(train: Callable[..., Any]) -> Run:
    """A job from ``train(settings, progress=..., cancelled=...)`` whose progress is a fraction 0-1:
    reported as a ``Progress`` of 1000 steps, with the time taken, so the page can say the time left."""
    def run(key: str, settings: Any, progress: Callable[[Progress], None], cancelled: Callable[[], bool]) -> Any:
        start = time.perf_counter()
        return train(settings, cancelled=cancelled,
                     progress=lambda f: progress(Progress(round(1000 * f), 1000, time.perf_counter() - start)))
    return run


def job_snapshot(state: str, *, elapsed: float = 0.0, fraction: float = 0.0, eta: float | None = None,
                 result: Any = None, error: str | None = None, position: int = 0) -> dict[str, Any]:
    return {"state": state, "elapsed": elapsed, "fraction": fraction, "eta": eta, "result": result,
            "error": error, "position": position}


class BackgroundExperiment:
    """A job as a thread of this process; ``on_end`` is called from that thread when it returns."""

    def __init__(self, key: str, settings: Any, run: Run, on_end: Callable[[], None] | None = None):
        self._target = run
        self.key = key
        self.settings = settings
        self._on_end = on_end
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
        else:
            with self._lock:
                self._result = result
        finally:
            if self._on_end is not None:
                self._on_end()

    def _on_progress(self, progress: Progress) -> None:
        with self._lock:
            self._progress = progress

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            progress, result, error = self._progress, self._result, self._error
        elapsed = time.perf_counter() - self._started
        if error is not None:
            return job_snapshot("error", elapsed=elapsed, error=error)
        if result is not None:
            if result.cancelled:
                return job_snapshot("cancelled", elapsed=elapsed)
            return job_snapshot("done", elapsed=elapsed, fraction=1.0, result=result)
        if self._cancel.is_set() and not self._thread.is_alive():
            return job_snapshot("cancelled", elapsed=elapsed)
        return job_snapshot("running", elapsed=elapsed, fraction=progress.fraction if progress else 0.0,
                            eta=progress.eta if progress else None)

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


class GatedJob:
    """A job that starts once the cap on concurrent jobs (``admission``) gives it a place.

    Until then it is ``queued`` with its ``position`` in line (1 = next). The job is started in a
    thread of its own (starting one in a worker is a call over the link), so neither the caller nor
    the one whose release admitted it waits. It gives its place back when the job ends (``start``
    must call its ``on_end`` argument then), is cancelled or closed, and never before a job that is
    starting has been told to stop."""

    def __init__(self, key: str, settings: Any, admission: Admission,
                 start: Callable[[Callable[[], None]], Job]):
        self.key, self.settings = key, settings
        self._admission, self._start = admission, start
        self._lock = threading.Lock()
        self._job: Job | None = None
        self._starting = False
        self._cancelled = False
        self._since = time.perf_counter()
        self._error: str | None = None
        self._position = -1  # not yet told
        position = admission.request(self, self._notify)
        self._notify(position)

    def _notify(self, position: int) -> None:
        with self._lock:
            if self._job is not None or self._starting or self._cancelled:
                return
            if position != 0:
                self._position = position
                return
            self._starting, self._position = True, 0
        threading.Thread(target=self._begin, name="dropout-job-start", daemon=True).start()

    def _begin(self) -> None:
        try:
            job = self._start(self._release)
        except Exception as exc:  # noqa: BLE001 - a job that cannot start says so, and frees its place
            with self._lock:
                self._error, self._starting = f"the job could not start: {exc}", False
            self._release()
            return
        with self._lock:
            self._job, self._starting = job, False
            cancelled = self._cancelled
        if cancelled:  # let go of while it was starting: stop it now (its end gives the place back)
            job.close(timeout=0)

    def _release(self) -> None:
        self._admission.release(self)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            job, position, error, cancelled, starting = (self._job, self._position, self._error, self._cancelled,
                                                         self._starting)
        if job is not None:
            return job.snapshot()
        if error is not None:
            return job_snapshot("error", error=error)
        if cancelled:
            return job_snapshot("cancelled")
        if starting:
            return job_snapshot("running", elapsed=time.perf_counter() - self._since)
        return job_snapshot("queued", elapsed=time.perf_counter() - self._since, position=max(position, 1))

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            job, starting = self._job, self._starting
        if job is not None:
            job.cancel()
        elif not starting:
            self._release()  # leaves the line (a job still starting is stopped by _begin)

    @property
    def alive(self) -> bool:
        with self._lock:
            job, waiting = self._job, not self._cancelled and self._error is None
        return job.alive if job is not None else waiting

    def close(self, timeout: float = 2.0) -> None:
        self.cancel()
        with self._lock:
            job, starting = self._job, self._starting
        if job is not None:
            job.close(timeout)  # its end gives the place back, once it has stopped
        elif not starting:
            self._release()


class Watch:
    """One session's handle on a run that other sessions asking for the same thing may share.

    Cancelling or closing a watch detaches it; the run itself is cancelled only when its
    last watcher lets go, so one student's Cancel never stops a classmate's run.
    """

    def __init__(self, registry: SharedRuns, token: str, job: Job):
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
        if self.detached and snap["state"] in ("running", "queued"):
            return {**snap, "state": "cancelled", "eta": None}
        return snap

    def cancel(self) -> None:
        self.close(timeout=0)

    def close(self, timeout: float = 2.0) -> None:
        if not self.detached:
            self.detached = True
            self._registry.release(self._token, self.job, timeout)


class SharedRuns:
    """Runs in flight, keyed by what they compute: equal (key, settings) share one run.
    ``start(key, settings)`` makes a new job (``core.live.pool.start_job``, or any ``Job``)."""

    def __init__(self, start: Callable[[str, Any], Job]) -> None:
        self._start = start
        self._lock = threading.Lock()
        self._runs: dict[str, tuple[Job, int]] = {}

    def watch(self, token: str, key: str, settings: Any) -> Watch:
        with self._lock:
            job, _ = self._runs.get(token, (None, 0))
        state = job.snapshot()["state"] if job is not None else None  # may ask a worker: not under the lock
        with self._lock:
            current, count = self._runs.get(token, (None, 0))
            # A run still going (or waiting), or finished and not yet collected, is joined (as is one
            # another session started meanwhile); anything else restarts. Starting only asks for a
            # place in line: it does not wait.
            if current is None or (current is job and state not in ("queued", "running", "done")):
                current, count = self._start(key, settings), 0
            self._runs[token] = (current, count + 1)
        return Watch(self, token, current)

    def watchers(self, token: str) -> int:
        with self._lock:
            return self._runs.get(token, (None, 0))[1]

    def release(self, token: str, job: Job, timeout: float) -> None:
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
