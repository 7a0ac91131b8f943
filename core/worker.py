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
import weakref
from multiprocessing.connection import Connection
from typing import Any

from core.engine.runtime import configure
from core.labs.kinds import JOBS, KINDS
from core.live.jobs import BackgroundExperiment
from core.live.link import CALL_TIMEOUT, Link
from core.live.runner import ThreadedRunner


class WorkerGate:
    """The cap, asked of the app: a ``core.live.runner.Gate`` for this worker's runners."""

    def __init__(self, cap: int | None):
        self.cap = cap
        self.link: Link | None = None
        # weak: a closed runner still gives its place back from its own thread after the app forgot it
        self.ids: weakref.WeakKeyDictionary[ThreadedRunner, int] = weakref.WeakKeyDictionary()

    def request(self, runner: ThreadedRunner) -> int:
        try:
            return int(self.link.call("acquire", self.ids[runner], timeout=CALL_TIMEOUT))
        except Exception:  # noqa: BLE001 - an app that cannot answer in time must not stall training
            return 0

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

    def create(self, rid: int, kind: str, args: tuple, kwargs: dict[str, Any]) -> dict[str, Any]:
        runner = KINDS[kind].runner(*args, gate=self.gate if self.gate.cap else None, **kwargs)
        self.gate.ids[runner] = rid
        self.runners[rid] = runner
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
        runner = self.runners.pop(rid, None)
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


def main(argv: list[str]) -> None:
    fd, cap, nice = (int(a) for a in argv)
    os.nice(nice)
    configure()
    gate = WorkerGate(cap or None)
    host = Host(gate)
    link = Link(Connection(fd), {
        "create": host.create, "send": host.send, "snapshot": host.snapshot, "close": host.close,
        "notify": host.notify, "count": host.count, "job_start": host.job_start, "job_snapshot": host.job_snapshot,
        "job_cancel": host.job_cancel, "job_close": host.job_close,
    }, slow=frozenset({"snapshot"}))
    gate.link = link
    link.serve()  # until the app closes its end (or dies)
    for runner in list(host.runners.values()):
        runner.close(timeout=0)
    for job in list(host.jobs.values()):
        job.close(timeout=0)


if __name__ == "__main__":
    main(sys.argv[1:])
