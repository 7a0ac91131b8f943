"""Live runners for a whole class: trainers in worker processes, and a cap on how many train at once.

With every trainer as a thread of the Streamlit process, Python's global interpreter lock made
30 students wait seconds for a chart. Here trainers live in a small pool of worker processes
(``python -m core.worker``, by default one per CPU core, each hosting many runners); the app's
process only sends commands and fetches the snapshots it draws. ``start_runner`` is the one
entry point: it returns a runner with the ``ThreadedRunner`` interface (``send``, ``snapshot``,
``wait_for``, ``close``, ``alive``), in a worker or, with ``DROPOUT_LAB_TRAINERS=threads``, as a
thread of this process (the design for tests and one learner).

- **Commands and snapshots only.** A command is posted to the runner's worker; ``snapshot()``
  asks for the latest one and gets it only if it changed since the last it got (the app draws
  a few a second per session; the trainer publishes ten a second).
- **A dead worker is reported, never waited on.** Its runners' snapshots turn into state
  ``error`` with a message saying so, ``alive`` turns false (the page then offers a new run),
  and a fresh worker takes its place for everyone's next run.
- **A cap on runs training at once** (``Admission``), for both designs: past it, a run asked
  to play is ``queued`` and starts by itself when a place frees up (a run that pauses,
  finishes or closes gives its place back).
- **Workers run at a lower CPU priority** than the app, so drawing and answering a slider
  come first and training takes what is left, shared between the runs that want it (each run
  is paced to what can be watched: see ``epochs_per_second``; a run nobody has looked at for
  ``UNWATCHED_PAUSE`` seconds pauses itself).

Its neighbours: ``settings`` (the ``DROPOUT_LAB_*`` variables), ``admission`` (the cap) and
``link`` (the wire both processes use). The runner kinds are handed in (``use_kinds``) by the
composition roots from ``core.labs.kinds``; this module imports no lesson.
"""
from __future__ import annotations

import atexit
import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable, Hashable, Mapping, NamedTuple, Union

from core.live.admission import Admission, RunCount
from core.live.jobs import BackgroundExperiment, GatedJob
from core.live.link import CALL_TIMEOUT, Link, RemoteError, WorkerGone
from core.live.remote import RemoteJob, RemoteRunner
from core.live.runner import ThreadedRunner
from core.live.settings import ServerSettings, over_budget


class Kind(NamedTuple):
    """A runner kind of the plug-in table (``core.labs.kinds.KINDS``): the class that runs it, and
    the commands its ``send`` takes when it refuses any other at once (None: the runner reports an
    unknown command in a snapshot)."""

    runner: type[ThreadedRunner]
    commands: tuple[str, ...] | None = None


class JobKind(NamedTuple):
    """A background job of the plug-in table (``core.labs.kinds.JOBS``): ``run(key, settings,
    progress=, cancelled=)`` does it, ``work(key, settings)`` estimates its multiply-adds for the
    server's budget (``DROPOUT_LAB_JOB_BUDGET``)."""

    run: Callable[..., Any]
    work: Callable[[str, Any], float]


class OverBudget(ValueError):
    """A job asks for more work than the server allows; the message says how much, and what to change."""


_kinds: dict[str, Kind] = {}
_job_kinds: dict[str, JobKind] = {}


def use_kinds(kinds: Mapping[str, Kind]) -> None:
    """Hand this process the runner kinds it may start (the composition roots do: the app's frame,
    the worker's main, the tests). The pool itself knows no lesson's runner."""
    _kinds.update(kinds)


def use_jobs(jobs: Mapping[str, JobKind]) -> None:
    """Hand this process the background jobs it may start (the composition roots do, as with kinds)."""
    _job_kinds.update(jobs)


def _job_kind(name: str) -> JobKind:
    if name not in _job_kinds:
        raise ValueError(f"unknown job {name!r}; expected one of {', '.join(_job_kinds) or '(none handed in)'}")
    return _job_kinds[name]


def check_budget(name: str, key: str, settings: Any, budget: float) -> float:
    """The job's estimated work, or OverBudget with a sentence when it is more than ``budget``."""
    work = float(_job_kind(name).work(key, settings))
    problem = over_budget(work, budget)
    if problem is not None:
        raise OverBudget(problem)
    return work


def _kind(name: str) -> Kind:
    if name not in _kinds:
        raise ValueError(f"unknown runner kind {name!r}; expected one of {', '.join(_kinds) or '(none handed in)'}")
    return _kinds[name]


WORKER_NICE = 10
"""How much lower the workers' CPU priority is than the app's (Linux nice levels)."""
JOB_WORKER_NICE = 15
"""Background jobs run in a worker process of their own, lower still: a sweep holding its process's
interpreter lock then stalls no live run, and the class's charts come before a long run's end."""
JOB_WORKER_INDEX = 1000
"""The job worker's index (the trainer workers count from 0)."""
START_TIMEOUT = 120.0
"""Seconds to wait for a worker to build a runner: a fresh worker first imports torch."""
UNWATCHED_PAUSE = 30.0
"""A page's run that nobody looked at for this many seconds pauses itself (a tab left in the
background: browsers then slow its refresh to once a minute)."""
ROOT = Path(__file__).resolve().parents[2]


# -- the app's side: workers and their runners -------------------------------------------------
class Worker:
    """One worker process and the link to it; ``dead`` says why it stopped (None while it lives)."""

    def __init__(self, index: int, pool: "WorkerPool", nice: int = 0):
        self.index, self.nice = index, nice or WORKER_NICE
        self.runners: set[int] = set()
        self.jobs: set[int] = set()
        self.dead: str | None = None
        self.gone = threading.Event()  # set once ``dead`` says why
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        cap = pool.admission.cap or 0
        self.process = subprocess.Popen(
            [sys.executable, "-m", "core.worker", str(theirs.fileno()), str(cap), str(self.nice)],
            pass_fds=(theirs.fileno(),), cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._socket = ours
        self.link = Link(Connection(os.dup(ours.fileno())), {
            "acquire": lambda rid: pool.admission.request((index, rid), lambda pos: self._notify(rid, pos)),
            "release": lambda rid: pool.admission.release((index, rid)),
            "job_end": lambda jid: pool._job_ended(jid),
        })
        self._reader = threading.Thread(target=self._read, args=(pool,), name=f"dropout-worker-{index}", daemon=True)
        self._reader.start()

    def _notify(self, rid: int, position: int) -> None:
        try:
            self.link.post("notify", rid, position)
        except WorkerGone:
            pass

    def _read(self, pool: "WorkerPool") -> None:
        self.link.serve()
        try:
            code = self.process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.dead = _describe_exit(code)
        self.gone.set()
        pool._lost(self)

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


class WorkerPool:
    """``workers`` worker processes hosting runners, with a cap of ``max_trainers`` training at once."""

    def __init__(self, workers: int, max_trainers: int | None):
        self.admission = Admission(max_trainers)
        self.restarts = 0
        self._lock = threading.Lock()
        self._rids = itertools.count(1)
        self._jobs: dict[int, RemoteJob] = {}
        self._job_worker: Worker | None = None
        self._shut = False
        self._workers = [Worker(i, self) for i in range(workers)]

    def start(self, kind: str, *args: Any, **kwargs: Any) -> RemoteRunner:
        """A new ``kind`` runner (one handed to ``use_kinds``) in the least busy worker; its constructor's
        ValueError, TypeError or KeyError comes back as a ValueError with the same message."""
        commands = _kind(kind).commands
        with self._lock:
            if self._shut:
                raise RuntimeError("the worker pool has shut down")
            worker = min((w for w in self._workers if w.dead is None), key=lambda w: len(w.runners))
            rid = next(self._rids)
            worker.runners.add(rid)
        try:
            first = worker.link.call("create", rid, kind, args, kwargs, timeout=START_TIMEOUT)
        except (RemoteError, WorkerGone, TimeoutError) as exc:
            self._forget(worker, rid)
            raise ValueError(str(exc)) from None
        return RemoteRunner(self, worker, rid, commands, first)

    def start_job(self, name: str, key: str, settings: Any, on_end: Callable[[], None]) -> RemoteJob:
        """Job ``name`` in the job worker; ``on_end`` is called once when it ends or is let go."""
        with self._lock:
            if self._shut:
                raise RuntimeError("the worker pool has shut down")
            if self._job_worker is None:  # started with the first job: a server nobody runs a job on pays nothing
                self._job_worker = Worker(JOB_WORKER_INDEX, self, nice=JOB_WORKER_NICE)
            worker = self._job_worker
            jid = next(self._rids)
            worker.jobs.add(jid)
        job = RemoteJob(self, worker, jid, key, settings, on_end)
        self._jobs[jid] = job
        try:
            worker.link.call("job_start", jid, name, key, settings, timeout=START_TIMEOUT)
        except (RemoteError, WorkerGone, TimeoutError) as exc:
            job.close(timeout=0)
            raise RuntimeError(str(exc)) from None
        return job

    def _job_ended(self, jid: int) -> None:
        """A worker says a job's function returned: its place under the cap goes to the next in line."""
        job = self._jobs.get(jid)
        if job is not None:
            job._on_end()

    def _forget_job(self, worker: Worker, jid: int) -> None:
        with self._lock:
            worker.jobs.discard(jid)
            self._jobs.pop(jid, None)

    def runner_counts(self) -> list[int]:
        """Live runners per worker, as each worker counts them (a worker that does not answer: -1)."""
        counts = []
        for worker in list(self._workers):
            try:
                counts.append(worker.link.call("count", timeout=CALL_TIMEOUT))
            except (WorkerGone, TimeoutError, RemoteError):
                counts.append(-1)
        return counts

    def pids(self) -> list[int]:
        """The trainer workers' process ids, then the job worker's if one has started."""
        return [w.process.pid for w in self._workers] + ([self._job_worker.process.pid] if self._job_worker else [])

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every worker (their runners with them) and wait for them to exit."""
        with self._lock:
            self._shut = True
            workers = list(self._workers) + ([self._job_worker] if self._job_worker is not None else [])
        for worker in workers:
            worker.stop()
        deadline = time.monotonic() + timeout
        for worker in workers:
            try:
                worker.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()

    def _forget(self, worker: Worker, rid: int) -> None:
        with self._lock:
            worker.runners.discard(rid)

    def _lost(self, worker: Worker) -> None:
        """A worker's link closed: free its places, and start a replacement unless shutting down."""
        self.admission.release_where(lambda who: isinstance(who, tuple) and who[0] == worker.index)
        for job in [j for j in list(self._jobs.values()) if j._worker is worker]:
            job.snapshot()  # says the worker died, and gives the job's place under the job cap back
        with self._lock:
            if self._shut:
                return
            if worker is self._job_worker:
                self._job_worker = None  # the next job starts a new one
            elif worker in self._workers:
                self._workers[self._workers.index(worker)] = Worker(worker.index, self)
            else:
                return
            self.restarts += 1
        then = "the next background run starts a new one" if worker.index == JOB_WORKER_INDEX else "started a new one"
        print(f"dropout-lab: worker {worker.index} (pid {worker.process.pid}) stopped: {worker.dead}; {then}",
              file=sys.stderr, flush=True)


# -- the one entry point -----------------------------------------------------------------------
Runner = Union[ThreadedRunner, RemoteRunner]
"""What ``start_runner`` returns: either has ``send``, ``snapshot``, ``wait_for``, ``close``, ``alive``."""

_lock = threading.Lock()
_settings: ServerSettings | None = None
_local: Admission | None = None
_job_admission: Admission | None = None
_UNCAPPED = Admission(None)
_pool: WorkerPool | None = None
_runs: RunCount | None = None


def settings() -> ServerSettings:
    """This process's settings, read from the environment once."""
    global _settings
    if _settings is None:
        _settings = ServerSettings.from_env()
        for problem in _settings.problems:
            print(f"dropout-lab: {problem}", file=sys.stderr, flush=True)
    return _settings


def start_runner(kind: str, *args: Any, owner: Hashable | None = None, **kwargs: Any) -> Runner:
    """A new runner of ``kind`` (a name handed to ``use_kinds``) as the settings say: in the worker
    pool, or as a thread of this process; both under the cap on runs training at once. ``owner``
    (a browser) is counted against the caps on runs that exist: past one, ``ServerFull`` says why."""
    kwargs.setdefault("unwatched_pause", UNWATCHED_PAUSE)
    factory = _kind(kind).runner
    runs = _run_count()
    runs.check(owner)
    pool = warm_up()
    runner = pool.start(kind, *args, **kwargs) if pool is not None else factory(*args, gate=_local, **kwargs)
    runs.admit(owner, runner)
    return runner


def _run_count() -> RunCount:
    global _runs
    with _lock:
        if _runs is None:
            chosen = settings()
            _runs = RunCount(chosen.max_runs, chosen.max_runs_per_browser)
        return _runs


def start_job(name: str, key: str, job_settings: Any, *, capped: bool = True) -> GatedJob:
    """Job ``name`` (one handed to ``use_jobs``) on ``job_settings``, as the server's settings say: in
    a worker process or as a thread of this one, under the cap on concurrent jobs (past it, it waits
    in line; ``capped=False`` for a job of a second or less that a page waits for, so that it never
    waits behind long ones). A job over the budget raises ``OverBudget`` with a sentence, before
    anything starts."""
    kind = _job_kind(name)
    check_budget(name, key, job_settings, settings().job_budget)
    pool = warm_up()
    if pool is not None:
        start = lambda on_end: pool.start_job(name, key, job_settings, on_end)  # noqa: E731
    else:
        start = lambda on_end: BackgroundExperiment(key, job_settings, kind.run, on_end)  # noqa: E731
    return GatedJob(key, job_settings, _job_admission if capped else _UNCAPPED, start)


def warm_up() -> WorkerPool | None:
    """Start the worker pool (or the in-process cap) if not yet started; workers take seconds to
    import torch, so the app calls this before the first run is asked for."""
    global _local, _pool, _job_admission
    chosen = settings()
    with _lock:
        if _job_admission is None:
            _job_admission = Admission(chosen.max_jobs)
        if chosen.trainers == "threads":
            if _local is None:
                _local = Admission(chosen.max_trainers)
        elif _pool is None:
            _pool = WorkerPool(chosen.workers, chosen.max_trainers)
            atexit.register(_pool.shutdown)
    return _pool
