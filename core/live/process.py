"""The app's side of one worker process: starting it, the link to it, and the watchdog that finds it hung.

``Worker`` starts ``python -m core.worker`` with one end of a socket pair, serves the worker's
calls to the app (``acquire`` and ``release`` a place under the cap, ``job_end``) on a reader
thread, and pings it every ``PING_EVERY`` s from a watchdog thread: a worker that does not answer
(stopped, deadlocked, starved) is killed, which ends the link, and the pool then reports its runs
and replaces it. ``core.live.pool`` owns the workers; this module knows no lesson.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

from core.live.link import Link, RemoteError, WorkerGone

if TYPE_CHECKING:
    from core.live.pool import WorkerPool

WORKER_NICE = 10
"""How much lower the workers' CPU priority is than the app's (Linux nice levels)."""
JOB_WORKER_NICE = 15
"""Background jobs run in a worker process of their own, lower still: a sweep holding its process's
interpreter lock then stalls no live run, and the class's charts come before a long run's end."""
JOB_WORKER_INDEX = 1000
"""The job worker's index (the trainer workers count from 0)."""
START_TIMEOUT = 120.0
"""Seconds to wait for a worker to answer for the first time, and to build a runner: a fresh worker
first imports torch (a few seconds; far more on a machine that is busy with a class)."""
PING_EVERY = 2.0
HUNG_AFTER = 6.0
"""The watchdog asks every worker for a sign of life every ``PING_EVERY`` s; one that has not answered
within ``HUNG_AFTER`` s (stopped, deadlocked, starved) is killed and replaced, and its runs say so: a
hung worker is found within ``PING_EVERY + HUNG_AFTER`` = 8 s. Its reader thread answers, which a
worker's trainers (niced, mostly in torch without the interpreter lock) do not hold up."""
ROOT = Path(__file__).resolve().parents[2]


class Worker:
    """One worker process and the link to it; ``dead`` says why it stopped (None while it lives),
    ``ready`` is set once it has answered, and its watchdog kills it if it stops answering."""

    def __init__(self, index: int, pool: "WorkerPool", nice: int = 0):
        self.index, self.nice = index, nice or WORKER_NICE
        self.runners: set[int] = set()
        self.jobs: set[int] = set()
        self.dead: str | None = None
        self.fault: str | None = None  # why this side killed it (hung, or it sent what cannot be read)
        self.gone = threading.Event()  # set once ``dead`` says why
        self.ready = threading.Event()  # set once it has answered a first ping
        self.started = time.monotonic()
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        cap = pool.admission.cap or 0
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "core.worker", str(theirs.fileno()), str(cap), str(self.nice)],
                pass_fds=(theirs.fileno(),), cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
            )
        except OSError:
            ours.close()
            theirs.close()
            raise
        theirs.close()
        self._socket = ours
        self.answered = time.monotonic()  # when it last answered the watchdog
        try:
            self.link = Link(Connection(os.dup(ours.fileno())), {
                "acquire": lambda rid: pool.admission.request((index, rid), lambda pos: self._notify(rid, pos)),
                "release": lambda rid: pool.admission.release((index, rid)),
                "job_end": lambda jid: pool._job_ended(jid),
            })
            self._reader = threading.Thread(target=self._read, args=(pool,), name=f"dropout-worker-{index}",
                                            daemon=True)
            self._reader.start()
            threading.Thread(target=self._watch, name=f"dropout-watchdog-{index}", daemon=True).start()
        except BaseException:  # no thread to watch it: leave no orphan behind
            self.process.kill()
            self.process.wait()
            ours.close()
            raise

    @property
    def responsive(self) -> bool:
        """It has answered the watchdog lately: a new run may go there without waiting on it."""
        return self.dead is None and self.ready.is_set() and time.monotonic() - self.answered < PING_EVERY + 2.0

    def _notify(self, rid: int, position: int) -> None:
        try:
            self.link.post("notify", rid, position)
        except WorkerGone:
            pass

    def _read(self, pool: "WorkerPool") -> None:
        self.link.serve()
        if self.link.broken:  # it sent what cannot be read: end it, so it does not train on unheard
            self._kill(f"it sent a message that could not be read ({self.link.broken})")
        try:
            code = self.process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.dead = self.fault or _describe_exit(code)
        self.gone.set()
        pool._lost(self)

    def _watch(self) -> None:
        """First answer within START_TIMEOUT, then a sign of life every PING_EVERY s; else kill it."""
        try:
            self.link.call("ping", timeout=START_TIMEOUT)
        except TimeoutError:
            return self._kill(f"it did not start within {START_TIMEOUT:.0f} s")
        except (WorkerGone, RemoteError):
            return
        self.answered = time.monotonic()
        self.ready.set()
        while self.dead is None:
            time.sleep(PING_EVERY)
            try:
                self.link.call("ping", timeout=HUNG_AFTER)
                self.answered = time.monotonic()
            except TimeoutError:
                return self._kill(f"it stopped answering for {HUNG_AFTER:.0f} s, so it was stopped and replaced")
            except (WorkerGone, RemoteError):
                return

    def _kill(self, reason: str) -> None:
        self.fault = reason
        try:
            self.process.kill()  # SIGKILL ends a stopped (SIGSTOP) process too; the reader then sees the end
        except OSError:
            pass

    def stop(self) -> None:
        """Close the link; the worker reads end-of-file and exits with its runners."""
        try:
            # shutdown first: a plain close waits for this process's reader thread to leave recv
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already gone
        self._socket.close()
        self.link.close()


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"
