"""A worker process of the trainer pool: ``python -m core.worker FD CAP NICE`` (started by ``core.live.pool``).

It hosts many runners, each a ``ThreadedRunner`` thread of this process, and background jobs, each
a thread too, and serves the app over the socket it inherited as file descriptor FD: ``create``,
``send``, ``snapshot``, ``close``, ``notify`` (a place, or a new position in line) and ``count``
for runners; ``job_start``, ``job_snapshot``, ``job_cancel`` and ``job_close`` for jobs (a job whose
function returns posts ``job_end``, so the app gives its place under the cap to the next). A runner asked to
play asks the app for a place (``acquire``), since the cap counts the runs of every worker.
When the app goes away, even killed, the socket reads end-of-file and the worker exits with
its runners: nothing is left behind.
"""
from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from multiprocessing.connection import Connection
from typing import Any

from core.engine.runtime import configure
from core.labs.kinds import JOBS, KINDS
from core.live.jobs import BackgroundExperiment
from core.live.link import CALL_TIMEOUT, Link
from core.live.runner import NO_ANSWER, ThreadedRunner


class WorkerGate:
    """The cap, asked of the app: a ``core.live.runner.Gate`` for this worker's runners.

    It never fails open: when the app does not answer a request in time, the run waits (position
    ``NO_ANSWER``, a sentence saying so), the unanswered request is taken back, and the gate asks
    again every ``RETRY`` seconds until the app answers; the answer reaches the run as a notification,
    as when a place frees up."""

    RETRY = 1.0

    def __init__(self, cap: int | None):
        self.cap = cap
        self.link: Link | None = None
        # weak: a closed runner still gives its place back from its own thread after the app forgot it
        self.ids: weakref.WeakKeyDictionary[ThreadedRunner, int] = weakref.WeakKeyDictionary()

    def request(self, runner: ThreadedRunner) -> int:
        position = self._ask(runner)
        if position == NO_ANSWER:
            threading.Thread(target=self._ask_again, args=(weakref.ref(runner),), name="dropout-gate-retry",
                             daemon=True).start()
        return position

    def _ask(self, runner: ThreadedRunner) -> int:
        rid = self.ids[runner]
        try:
            return int(self.link.call("acquire", rid, timeout=CALL_TIMEOUT))
        except TimeoutError:
            self.release(runner)  # the app may answer later: it must not keep a place nobody uses
            return NO_ANSWER
        except Exception:  # noqa: BLE001 - the app is gone (the worker exits with it) or refused
            return NO_ANSWER

    def _ask_again(self, ref: "weakref.ref[ThreadedRunner]") -> None:
        while True:
            time.sleep(self.RETRY)
            runner = ref()
            if runner is None or not runner.alive or runner.snapshot()["state"] != "queued" or self.link.closed:
                return
            position = self._ask(runner)
            if position != NO_ANSWER:
                runner.notify(position)  # 0: the place; n: its place in line, then notified as usual
                return

    def release(self, runner: ThreadedRunner) -> None:
        try:
            self.link.post("release", self.ids[runner])
        except Exception:  # noqa: BLE001 - the app is gone: nothing holds the place any more
            pass


class Host:
    """The runners of this worker, by the id the app gave them."""

    def __init__(self, gate: WorkerGate):
        self.gate = gate
        self.runners: dict[int, ThreadedRunner] = {}
        self.jobs: dict[int, BackgroundExperiment] = {}
        self._lock = threading.Lock()  # ``create`` runs off the reader thread, ``close`` on it
        self._closed: set[int] = set()  # ids closed before their runner was built

    def create(self, rid: int, kind: str, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
        runner = KINDS[kind].runner(*args, gate=self.gate if self.gate.cap else None, **kwargs)
        self.gate.ids[runner] = rid
        with self._lock:
            closed = rid in self._closed
            self._closed.discard(rid)
            if not closed:
                self.runners[rid] = runner
        if closed:  # the app gave up waiting for it (and said so to the learner): nobody will use it
            runner.close(timeout=0)
        return runner.snapshot()

    def send(self, rid: int, command: str, kwargs: dict[str, Any]) -> None:
        runner = self.runners.get(rid)
        if runner is not None:
            runner.send(command, **kwargs)

    def snapshot(self, rid: int, have_version: int, wait: float) -> tuple[bool, dict[str, Any] | None]:
        """(alive, the latest snapshot, or None if it is still version ``have_version``); waits up to
        ``wait`` s for a newer one."""
        runner = self.runners[rid]
        snapshot = runner.wait_for(lambda s: s["version"] != have_version, wait) if wait > 0 else runner.snapshot()
        return runner.alive, None if snapshot["version"] == have_version else snapshot

    def close(self, rid: int) -> None:
        with self._lock:
            runner = self.runners.pop(rid, None)
            if runner is None:
                self._closed.add(rid)  # still being built: closed as soon as it is
        if runner is not None:
            runner.close(timeout=0)

    def notify(self, rid: int, position: int) -> None:
        runner = self.runners.get(rid)
        if runner is not None:
            runner.notify(position)

    def count(self) -> int:
        return sum(runner.alive for runner in self.runners.values())

    def job_start(self, jid: int, name: str, key: str, settings: Any) -> None:
        def ended() -> None:
            try:
                self.gate.link.post("job_end", jid)
            except Exception:  # noqa: BLE001 - the app is gone: nothing waits for the place
                pass
        self.jobs[jid] = BackgroundExperiment(key, settings, JOBS[name].run, on_end=ended)

    def job_snapshot(self, jid: int) -> dict[str, Any]:
        return self.jobs[jid].snapshot()

    def job_cancel(self, jid: int) -> None:
        job = self.jobs.get(jid)
        if job is not None:
            job.cancel()

    def job_close(self, jid: int) -> None:
        job = self.jobs.pop(jid, None)
        if job is not None:
            job.close(timeout=0)


EXIT_GRACE = 2.0
"""Seconds an ending worker gives its trainer threads to stop before it exits."""
BROKEN_LINK = 3
"""The exit status of a worker that received a message it could not read (the app then replaces it)."""
SLOW = frozenset({"snapshot", "create", "job_start"})
"""Calls answered off the link's reader thread: one that waits (a snapshot not yet newer) or builds
(a run's network and data) must not hold up the commands of everyone else on this worker."""


def serve_app(conn: Connection, gate: WorkerGate, host: Host) -> Link:
    """The link to the app: its calls to this worker, answered by ``host``."""
    link = Link(conn, {
        "create": host.create, "send": host.send, "snapshot": host.snapshot, "close": host.close,
        "notify": host.notify, "count": host.count, "job_start": host.job_start, "job_snapshot": host.job_snapshot,
        "job_cancel": host.job_cancel, "job_close": host.job_close,
        "ping": os.getpid,  # the watchdog's: answered on the reader thread, so a busy trainer cannot delay it
    }, slow=SLOW)
    gate.link = link
    return link


def main(argv: list[str]) -> None:
    fd, cap, nice = (int(a) for a in argv)
    os.nice(nice)
    configure()
    gate = WorkerGate(cap or None)
    host = Host(gate)
    link = serve_app(Connection(fd), gate, host)
    reason = link.serve()  # until the app closes its end (or dies, or sends what cannot be read)
    for run in [*host.runners.values(), *host.jobs.values()]:
        run.close(timeout=0)  # every thread told to stop at once; then each given a moment to
    deadline = time.monotonic() + EXIT_GRACE
    for run in [*host.runners.values(), *host.jobs.values()]:
        run.close(timeout=max(0.0, deadline - time.monotonic()))
    if link.broken:
        print(f"dropout-lab worker {os.getpid()}: {reason}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    sys.stderr.flush()
    # os._exit: a trainer thread still inside torch would make the interpreter's finalization abort
    os._exit(BROKEN_LINK if link.broken else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
