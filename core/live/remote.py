"""The app's side of a run in a worker process: ``RemoteRunner`` (a live runner) and ``RemoteJob`` (a
background job), each with the interface of its in-process twin, over the worker's link.

A worker that dies is reported, never waited on: the run's next snapshot says so in a sentence.
"""
from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from core.live.jobs import job_snapshot
from core.live.link import CALL_TIMEOUT, RemoteError, WorkerGone

if TYPE_CHECKING:  # annotations only: the pool imports this module
    from core.live.pool import WorkerPool
    from core.live.process import Worker


WORKER_DIED = "training stopped: the process that ran it ended unexpectedly ({reason}). Everyone else's runs go on."
RUN_LOST = "training stopped: the process that ran it could not report on it ({reason}). Start a new run."


class RemoteRunner:
    """A runner that lives in a worker process, with the ``ThreadedRunner`` interface."""

    def __init__(self, pool: WorkerPool, worker: Worker, rid: int, commands: tuple[str, ...] | None,
                 first: dict[str, Any]):
        self._pool, self._worker, self._rid, self._commands = pool, worker, rid, commands
        self._lock = threading.Lock()
        self._snapshot, self._alive, self._closed = first, True, False

    def send(self, command: str, **kwargs: Any) -> None:
        allowed = self._commands
        if allowed is not None and command not in allowed:
            raise ValueError(f"unknown command {command!r}; expected one of {', '.join(allowed)}")
        if self._closed or self._worker.dead:
            return
        try:
            self._worker.link.post("send", self._rid, command, kwargs)
        except WorkerGone:
            pass  # the next snapshot says so

    def snapshot(self) -> dict[str, Any]:
        return self._fetch(0.0)

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        snapshot = self._fetch(0.0)
        while not predicate(snapshot) and self.alive:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            snapshot = self._fetch(left)  # the worker answers when a newer snapshot is out
        return snapshot

    def close(self, timeout: float = 5.0) -> None:
        """Stop the runner (it gives back its place); safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        self._pool._forget(self._worker, self._rid)
        self._pool.admission.release((self._worker.index, self._rid))  # the worker says so too; either will do
        if self._worker.dead is not None:
            return
        try:
            if timeout:
                self._worker.link.call("close", self._rid, timeout=timeout)  # returns once the worker has it
            else:
                self._worker.link.post("close", self._rid)
        except (WorkerGone, TimeoutError, RemoteError):
            pass  # a worker that is gone or stuck has stopped this run anyway, or will with its process

    @property
    def alive(self) -> bool:
        return not self._closed and self._worker.dead is None and self._alive

    def _fetch(self, wait: float) -> dict[str, Any]:
        with self._lock:
            have = self._snapshot
        if self._worker.dead is not None:
            return self._died(have)
        if self._closed:
            return have
        try:
            alive, newer = self._worker.link.call("snapshot", self._rid, have["version"], wait,
                                                  timeout=wait + CALL_TIMEOUT)
        except TimeoutError:
            return have  # a worker too busy to answer in time: show the last snapshot
        except WorkerGone:
            return self._died(have)
        except RemoteError as exc:  # the worker lives but cannot give this run's state: say so, not frozen charts
            if self._worker.dead is not None or self._worker.link.closed:
                return self._died(have)
            return self._failed(have, RUN_LOST.format(reason=exc))
        with self._lock:
            self._alive = alive
            if newer is not None and newer["version"] > self._snapshot["version"]:
                self._snapshot = newer
            return self._snapshot

    def _died(self, have: dict[str, Any]) -> dict[str, Any]:
        self._worker.gone.wait(3.0)  # the link closes a moment before the exit status is known
        reason = self._worker.dead or self._worker.link.closed or "no answer"
        return self._failed(have, WORKER_DIED.format(reason=reason))

    def _failed(self, have: dict[str, Any], message: str) -> dict[str, Any]:
        """This run is over, with ``message`` as its last word (the page then offers a new run)."""
        with self._lock:
            if self._snapshot["state"] != "error" or self._alive:
                self._alive = False
                self._snapshot = {**have, "version": have["version"] + 1, "state": "error", "message": message}
            snapshot = self._snapshot
        self.close(timeout=0)
        return snapshot


JOB_WORKER_DIED = "the process that ran it ended unexpectedly ({reason}). Press Run to try again."


class RemoteJob:
    """A background job that runs in a worker process, with the ``core.live.jobs.Job`` interface."""

    def __init__(self, pool: WorkerPool, worker: Worker, jid: int, key: str, settings: Any,
                 on_end: Callable[[], None]):
        self._pool, self._worker, self._jid = pool, worker, jid
        self.key, self.settings = key, settings
        self._on_end = on_end
        self._last = job_snapshot("running")
        self._final: dict[str, Any] | None = None
        self._closed = False

    def snapshot(self) -> dict[str, Any]:
        if self._final is not None:
            return self._final
        if self._closed:  # let go of before it ended: the worker has forgotten it
            return job_snapshot("cancelled")
        if self._worker.dead is not None:
            return self._end(job_snapshot("error", error=JOB_WORKER_DIED.format(reason=self._worker.dead)))
        try:
            snap = self._worker.link.call("job_snapshot", self._jid, timeout=CALL_TIMEOUT)
        except TimeoutError:
            return self._last  # a worker too busy to answer in time: the last word
        except (WorkerGone, RemoteError) as exc:
            if self._worker.dead is None and not self._worker.link.closed:
                return self._last
            return self._end(job_snapshot("error", error=JOB_WORKER_DIED.format(reason=self._worker.dead or exc)))
        self._last = snap
        return self._end(snap) if snap["state"] in ("done", "cancelled", "error") else snap

    def _end(self, snap: dict[str, Any]) -> dict[str, Any]:
        self._final = snap
        self.close(timeout=0)
        return snap

    def cancel(self) -> None:
        if not self._closed and self._worker.dead is None:
            try:
                self._worker.link.post("job_cancel", self._jid)
            except WorkerGone:
                pass

    @property
    def alive(self) -> bool:
        return self._final is None and not self._closed and self._worker.dead is None

    def close(self, timeout: float = 2.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool._forget_job(self._worker, self._jid)
        self._on_end()
        if self._worker.dead is None:
            try:
                self._worker.link.post("job_close", self._jid)
            except WorkerGone:
                pass
