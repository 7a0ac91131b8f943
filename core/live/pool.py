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
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Hashable, Mapping, NamedTuple, Union

from core.live.admission import Admission, RunCount
from core.live.jobs import BackgroundExperiment, GatedJob
from core.live.link import CALL_TIMEOUT, RemoteError, WorkerGone
from core.live.process import JOB_WORKER_INDEX, JOB_WORKER_NICE, START_TIMEOUT, Worker
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


RESPAWN_BACKOFF = (0.0, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
"""Seconds before a worker that died is replaced, by how many of its predecessors in a row died before
they had served ``SHORT_LIFE`` s: a worker that cannot start is retried ever more slowly, not in a loop."""
SHORT_LIFE = 20.0
PICK_WAIT = 10.0
"""Seconds a new run waits for a worker when every one is being replaced, before it is told to try again."""
RETRY_FOR = 30.0
"""A new run whose worker is lost while it builds the run (killed, found hung) goes to another worker,
never one already lost, for up to this many seconds: when every worker hangs at once, the replacements
take it."""
UNWATCHED_PAUSE = 30.0
"""A page's run that nobody looked at for this many seconds pauses itself (a tab left in the
background: browsers then slow its refresh to once a minute)."""


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
        self._young_deaths: dict[int, int] = {}  # by worker index: deaths in a row before SHORT_LIFE
        self._workers: list[Worker] = []
        try:
            for i in range(workers):
                self._workers.append(Worker(i, self))
        except (OSError, RuntimeError) as exc:  # no process or thread to be had: leave none half-started
            self.shutdown(timeout=2.0)
            raise RuntimeError(f"the server could not start its training processes ({exc})") from None

    def start(self, kind: str, *args: Any, **kwargs: Any) -> RemoteRunner:
        """A new ``kind`` runner (one handed to ``use_kinds``) in the least busy worker that answers; its
        constructor's ValueError, TypeError or KeyError comes back as a ValueError with the same message.
        A worker lost while it builds the runner (killed, hung) is left for another, for up to
        ``RETRY_FOR`` s; then a RuntimeError says to try again."""
        commands = _kind(kind).commands
        problem: Exception | None = None
        failed: set[int] = set()  # ids of the workers lost while building it: never asked twice
        deadline = time.monotonic() + RETRY_FOR
        while problem is None or time.monotonic() < deadline:
            worker, rid = self._pick(avoid=failed)
            try:
                first = worker.link.call("create", rid, kind, args, kwargs, timeout=START_TIMEOUT)
            except RemoteError as exc:  # the runner's own refusal: a setting it does not take
                self._forget(worker, rid)
                raise ValueError(str(exc)) from None
            except (WorkerGone, TimeoutError) as exc:
                self._forget(worker, rid)
                try:
                    worker.link.post("close", rid)  # should it be built after all, it is closed at once
                except WorkerGone:
                    pass
                problem = exc
                failed.add(id(worker))
                continue
            return RemoteRunner(self, worker, rid, commands, first)
        raise RuntimeError(f"the training processes that were to run it were lost ({problem}), and are being "
                           "replaced. Try again in a few seconds.")

    def _pick(self, avoid: set[int] = frozenset()) -> tuple[Worker, int]:
        """The least busy worker that answers (else the least busy that lives), and a new run id for it;
        when every worker is being replaced, wait up to ``PICK_WAIT`` s for one, then say so. Workers
        whose ``id`` is in ``avoid`` (lost while building a run) are not chosen."""
        deadline = time.monotonic() + PICK_WAIT
        while True:
            with self._lock:
                if self._shut:
                    raise RuntimeError("the worker pool has shut down")
                living = [w for w in self._workers if w.dead is None and id(w) not in avoid]
                chosen = [w for w in living if w.responsive] or living
                if chosen:
                    worker = min(chosen, key=lambda w: len(w.runners))
                    rid = next(self._rids)
                    worker.runners.add(rid)
                    return worker, rid
            if time.monotonic() > deadline:
                raise RuntimeError("no training process is running right now: the server is starting new ones. "
                                   "Try again in a few seconds.")
            time.sleep(0.2)

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
        """A worker's link closed: free its places, and replace it unless shutting down (at once after
        a long life; after a growing delay when it died young, ``RESPAWN_BACKOFF``)."""
        self.admission.release_where(lambda who: isinstance(who, tuple) and who[0] == worker.index)
        for job in [j for j in list(self._jobs.values()) if j._worker is worker]:
            job.snapshot()  # says the worker died, and gives the job's place under the job cap back
        with self._lock:
            if self._shut:
                return
            if worker is self._job_worker:
                self._job_worker = None  # the next job starts a new one
                delay = None
            elif worker in self._workers:
                young = time.monotonic() - worker.started < SHORT_LIFE
                self._young_deaths[worker.index] = self._young_deaths.get(worker.index, 0) + 1 if young else 0
                delay = RESPAWN_BACKOFF[min(self._young_deaths[worker.index], len(RESPAWN_BACKOFF) - 1)]
                if worker.dead in ("killed by SIGTERM", "killed by SIGINT"):
                    delay = max(delay, 2.0)  # the whole app may be stopping: its exit hook stops the respawn
            else:
                return
            self.restarts += 1
        if delay is None:
            then = "the next background run starts a new one"
        else:
            then = f"a new one starts in {delay:g} s" if delay else "started a new one"
            self._replace_later(worker, delay)
        print(f"dropout-lab: worker {worker.index} (pid {worker.process.pid}) stopped: {worker.dead}; {then}",
              file=sys.stderr, flush=True)

    def _replace_later(self, worker: Worker, delay: float) -> None:
        """Start ``worker``'s successor after ``delay`` s (on a thread of its own when there is a delay);
        when no process or thread can be had, try again later, more slowly, and say so."""
        def replace() -> None:
            time.sleep(delay)
            with self._lock:
                if self._shut or worker not in self._workers:
                    return
                try:
                    self._workers[self._workers.index(worker)] = Worker(worker.index, self)
                    return
                except (OSError, RuntimeError) as exc:  # no process or thread to be had now
                    problem = exc
                    failures = self._young_deaths[worker.index] = self._young_deaths.get(worker.index, 0) + 1
                    retry = RESPAWN_BACKOFF[min(failures, len(RESPAWN_BACKOFF) - 1)] or RESPAWN_BACKOFF[1]
            print(f"dropout-lab: could not start worker {worker.index} ({problem}); trying again in {retry:g} s",
                  file=sys.stderr, flush=True)
            self._replace_later(worker, retry)

        if delay:
            threading.Thread(target=replace, name="dropout-respawn", daemon=True).start()
        else:
            replace()


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
