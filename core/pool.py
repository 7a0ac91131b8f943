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

Settings (environment variables, read once per process; see the README's "Running for a
class"): ``DROPOUT_LAB_TRAINERS`` (``processes``, the default, or ``threads``),
``DROPOUT_LAB_WORKERS`` (default: the CPU count), ``DROPOUT_LAB_MAX_TRAINERS`` (default
``DEFAULT_MAX_TRAINERS``; 0 = no cap), ``DROPOUT_LAB_REFRESH`` (seconds between two redraws of
a live view) and ``DROPOUT_LAB_REDRAWS`` (redraws per second for all live views of the app
process together: see ``core.redraw``), both read by the pages.
"""
from __future__ import annotations

import atexit
import itertools
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Callable, Hashable, Mapping, Union

from core.live import COMMANDS as LIVE_COMMANDS
from core.live import LiveRunner
from core.live_regression import LiveRegression
from core.threaded import ThreadedRunner

RUNNERS: dict[str, type[ThreadedRunner]] = {"live": LiveRunner, "regression": LiveRegression}
STRICT_COMMANDS: dict[str, tuple[str, ...]] = {"live": LIVE_COMMANDS}
"""Kinds whose ``send`` refuses an unknown command at once (the others report it in a snapshot)."""
DEFAULT_MAX_TRAINERS = 40
WORKER_NICE = 10
"""How much lower the workers' CPU priority is than the app's (Linux nice levels)."""
START_TIMEOUT = 120.0
"""Seconds to wait for a worker to build a runner: a fresh worker first imports torch."""
UNWATCHED_PAUSE = 30.0
"""A page's run that nobody looked at for this many seconds pauses itself (a tab left in the
background: browsers then slow its refresh to once a minute)."""
CALL_TIMEOUT = 5.0
"""Seconds to wait for a worker's answer before showing the last snapshot instead."""
ROOT = Path(__file__).resolve().parents[1]


# -- settings ----------------------------------------------------------------------------------
DEFAULT_REFRESH = 0.35
DEFAULT_REDRAWS = 10.0


@dataclass(frozen=True)
class ServerSettings:
    """How this server runs its trainers, from ``DROPOUT_LAB_*`` environment variables.

    A value that makes no sense is replaced by the default and named in ``problems`` (the app
    shows them), rather than stopping a class at the door."""

    trainers: str = "processes"  # or "threads"
    workers: int = 1
    max_trainers: int | None = DEFAULT_MAX_TRAINERS  # None: no cap
    refresh: float = DEFAULT_REFRESH
    redraws: float = DEFAULT_REDRAWS
    problems: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ServerSettings":
        env = os.environ if env is None else env
        problems: list[str] = []
        trainers = env.get("DROPOUT_LAB_TRAINERS", "").strip().lower() or "processes"
        if trainers not in ("processes", "threads"):
            problems.append(f"DROPOUT_LAB_TRAINERS must be 'processes' or 'threads', not {trainers!r}: "
                            "using processes.")
            trainers = "processes"
        workers = _number(env, "DROPOUT_LAB_WORKERS", int, os.cpu_count() or 1, 1, 256, problems)
        cap = _number(env, "DROPOUT_LAB_MAX_TRAINERS", int, DEFAULT_MAX_TRAINERS, 0, 100_000, problems)
        refresh = _number(env, "DROPOUT_LAB_REFRESH", float, DEFAULT_REFRESH, 0.1, 10.0, problems)
        redraws = _number(env, "DROPOUT_LAB_REDRAWS", float, DEFAULT_REDRAWS, 1.0, 1000.0, problems)
        return cls(trainers, workers, cap or None, refresh, redraws, tuple(problems))


def _number(env: Mapping[str, str], name: str, kind: type, default: float, low: float, high: float,
            problems: list[str]) -> Any:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        what = "a whole number" if kind is int else "a number"
        problems.append(f"{name} must be {what} from {low:g} to {high:g}, not {raw!r}: using {default:g}.")
        return default
    return value


# -- the cap -----------------------------------------------------------------------------------
class Admission:
    """At most ``cap`` holders at once (None: no cap); the others wait in line, first come first served.

    A holder is any hashable; ``request`` takes the function that tells it, later, that it got
    a place (0) or moved up the line (its new position). It is a ``core.threaded.Gate`` for
    runners of this process, which are told through ``notify``.
    """

    def __init__(self, cap: int | None):
        self.cap = cap
        self._lock = threading.Lock()
        self._holders: set[Hashable] = set()
        self._queue: OrderedDict[Hashable, Callable[[int], None]] = OrderedDict()

    def request(self, who: Hashable, notify: Callable[[int], None] | None = None) -> int:
        """0 if ``who`` may train now, else its position in line (1 = next)."""
        with self._lock:
            if who in self._holders:
                return 0
            if who not in self._queue and (self.cap is None or len(self._holders) < self.cap) and not self._queue:
                self._holders.add(who)
                return 0
            if who not in self._queue:
                self._queue[who] = notify if notify is not None else who.notify
            return list(self._queue).index(who) + 1

    def release(self, who: Hashable) -> None:
        self.release_where(lambda holder: holder == who)

    def release_where(self, predicate: Callable[[Hashable], bool]) -> None:
        """Give back the places (and leave the line) of every holder ``predicate`` picks."""
        with self._lock:
            before = (len(self._holders), len(self._queue))
            self._holders = {h for h in self._holders if not predicate(h)}
            for who in [w for w in self._queue if predicate(w)]:
                del self._queue[who]
            notices = self._fill() if (len(self._holders), len(self._queue)) != before else []
        for notify, position in notices:
            notify(position)

    def _fill(self) -> list[tuple[Callable[[int], None], int]]:
        notices = []
        while self._queue and (self.cap is None or len(self._holders) < self.cap):
            who, notify = self._queue.popitem(last=False)
            self._holders.add(who)
            notices.append((notify, 0))
        notices += [(notify, i + 1) for i, notify in enumerate(self._queue.values())]
        return notices

    def counts(self) -> tuple[int, int]:
        """(runs training, runs waiting)."""
        with self._lock:
            return len(self._holders), len(self._queue)


# -- one pipe, both ends -----------------------------------------------------------------------
class WorkerGone(RuntimeError):
    """The other end of a link closed (a worker died, or the app went away)."""


class RemoteError(RuntimeError):
    """The other end raised while handling a call; the message says what."""


class Link:
    """Requests, replies and one-way posts over a ``Connection``, from any thread, both ways.

    Messages are pickled here with the standard pickle (torch's multiprocessing pickler would try
    to share tensors through file descriptors). ``serve`` reads until the other end closes,
    runs each handler in the reading thread, or in a thread pool for the kinds in ``slow``
    (they may wait), and returns why it stopped.
    """

    def __init__(self, conn: Connection, handlers: dict[str, Callable[..., Any]], slow: frozenset[str] = frozenset()):
        self._conn = conn
        self._handlers = handlers
        self._slow = slow
        self._send_lock = threading.Lock()
        self._pending: dict[int, list] = {}  # id -> [event, ok, value]
        self._ids = itertools.count(1)
        self._closed: str | None = None
        self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="link") if slow else None

    @property
    def closed(self) -> str | None:
        """Why the link is closed, or None while it is open."""
        return self._closed

    def post(self, kind: str, *args: Any) -> None:
        self._write(("post", 0, kind, args))

    def call(self, kind: str, *args: Any, timeout: float = CALL_TIMEOUT) -> Any:
        """Send a request and wait for its reply; TimeoutError, WorkerGone or RemoteError otherwise."""
        msg_id = next(self._ids)
        slot = self._pending[msg_id] = [threading.Event(), False, None]
        try:
            self._write(("req", msg_id, kind, args))
            if not slot[0].wait(timeout):
                raise TimeoutError(f"no answer to {kind} within {timeout:.0f} s")
        finally:
            self._pending.pop(msg_id, None)
        if self._closed is not None and not slot[0].is_set():
            raise WorkerGone(self._closed)
        ok, value = slot[1], slot[2]
        if ok is None:
            raise WorkerGone(value)
        if not ok:
            raise RemoteError(value)
        return value

    def close(self) -> None:
        self._conn.close()

    def serve(self) -> str:
        try:
            while True:
                self._dispatch(pickle.loads(self._conn.recv_bytes()))
        except (EOFError, OSError) as exc:
            reason = "closed" if isinstance(exc, EOFError) else f"{type(exc).__name__}: {exc}"
        self._closed = reason
        for slot in list(self._pending.values()):
            slot[1], slot[2] = None, reason
            slot[0].set()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        return reason

    def _write(self, message: tuple) -> None:
        if self._closed is not None:
            raise WorkerGone(self._closed)
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            with self._send_lock:
                self._conn.send_bytes(data)
        except (OSError, ValueError) as exc:  # ValueError: the connection was closed here
            raise WorkerGone(f"{type(exc).__name__}: {exc}") from None

    def _dispatch(self, message: tuple) -> None:
        tag, msg_id, kind, payload = message if len(message) == 4 else (*message, None)
        if tag in ("ok", "err"):
            slot = self._pending.get(msg_id)
            if slot is not None:
                slot[1], slot[2] = tag == "ok", kind
                slot[0].set()
            return
        if kind in self._slow:
            self._pool.submit(self._handle, tag, msg_id, kind, payload)
        else:
            self._handle(tag, msg_id, kind, payload)

    def _handle(self, tag: str, msg_id: int, kind: str, args: tuple) -> None:
        try:
            reply: tuple = ("ok", msg_id, self._handlers[kind](*args))
        except Exception as exc:  # noqa: BLE001 - the caller gets the message, the link lives on
            reply = ("err", msg_id, f"{type(exc).__name__}: {exc}")
        if tag == "req":
            try:
                self._write(reply)
            except WorkerGone:
                pass  # the caller is gone: nobody to answer


# -- the app's side: workers and their runners -------------------------------------------------
class Worker:
    """One worker process and the link to it; ``dead`` says why it stopped (None while it lives)."""

    def __init__(self, index: int, pool: "WorkerPool"):
        self.index = index
        self.runners: set[int] = set()
        self.dead: str | None = None
        self.gone = threading.Event()  # set once ``dead`` says why
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        cap = pool.admission.cap or 0
        self.process = subprocess.Popen(
            [sys.executable, "-m", "core.worker", str(theirs.fileno()), str(cap), str(WORKER_NICE)],
            pass_fds=(theirs.fileno(),), cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
        )
        theirs.close()
        self._socket = ours
        self.link = Link(Connection(os.dup(ours.fileno())), {
            "acquire": lambda rid: pool.admission.request((index, rid), lambda pos: self._notify(rid, pos)),
            "release": lambda rid: pool.admission.release((index, rid)),
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


WORKER_DIED = "training stopped: the process that ran it ended unexpectedly ({reason}). Everyone else's runs go on."


class RemoteRunner:
    """A runner that lives in a worker process, with the ``ThreadedRunner`` interface."""

    def __init__(self, pool: "WorkerPool", worker: Worker, rid: int, kind: str, first: dict[str, Any]):
        self._pool, self._worker, self._rid, self._kind = pool, worker, rid, kind
        self._lock = threading.Lock()
        self._snapshot, self._alive, self._closed = first, True, False

    def send(self, command: str, **kwargs: Any) -> None:
        allowed = STRICT_COMMANDS.get(self._kind)
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
        except (WorkerGone, RemoteError):
            return self._died(have) if self._worker.dead is not None or self._worker.link.closed else have
        with self._lock:
            self._alive = alive
            if newer is not None and newer["version"] > self._snapshot["version"]:
                self._snapshot = newer
            return self._snapshot

    def _died(self, have: dict[str, Any]) -> dict[str, Any]:
        self._worker.gone.wait(3.0)  # the link closes a moment before the exit status is known
        with self._lock:
            if self._snapshot["state"] != "error" or self._alive:
                reason = self._worker.dead or self._worker.link.closed or "no answer"
                self._alive = False
                self._snapshot = {**have, "version": have["version"] + 1, "state": "error",
                                  "message": WORKER_DIED.format(reason=reason)}
            return self._snapshot


class WorkerPool:
    """``workers`` worker processes hosting runners, with a cap of ``max_trainers`` training at once."""

    def __init__(self, workers: int, max_trainers: int | None):
        self.admission = Admission(max_trainers)
        self.restarts = 0
        self._lock = threading.Lock()
        self._rids = itertools.count(1)
        self._shut = False
        self._workers = [Worker(i, self) for i in range(workers)]

    def start(self, kind: str, *args: Any, **kwargs: Any) -> RemoteRunner:
        """A new ``kind`` runner (see ``RUNNERS``) in the least busy worker; its constructor's
        ValueError, TypeError or KeyError comes back as a ValueError with the same message."""
        if kind not in RUNNERS:
            raise ValueError(f"unknown runner kind {kind!r}; expected one of {', '.join(RUNNERS)}")
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
        return RemoteRunner(self, worker, rid, kind, first)

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
        return [w.process.pid for w in self._workers]

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every worker (their runners with them) and wait for them to exit."""
        with self._lock:
            self._shut = True
            workers = list(self._workers)
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
        with self._lock:
            if self._shut or worker not in self._workers:
                return
            self.restarts += 1
            self._workers[self._workers.index(worker)] = Worker(worker.index, self)
        print(f"dropout-lab: worker {worker.index} (pid {worker.process.pid}) stopped: {worker.dead}; "
              "started a new one", file=sys.stderr, flush=True)


# -- the one entry point -----------------------------------------------------------------------
Runner = Union[ThreadedRunner, RemoteRunner]
"""What ``start_runner`` returns: either has ``send``, ``snapshot``, ``wait_for``, ``close``, ``alive``."""

_lock = threading.Lock()
_settings: ServerSettings | None = None
_local: Admission | None = None
_pool: WorkerPool | None = None


def settings() -> ServerSettings:
    """This process's settings, read from the environment once."""
    global _settings
    if _settings is None:
        _settings = ServerSettings.from_env()
        for problem in _settings.problems:
            print(f"dropout-lab: {problem}", file=sys.stderr, flush=True)
    return _settings


def start_runner(kind: str, *args: Any, **kwargs: Any) -> Runner:
    """A new runner of ``kind`` ("live": ``LiveRunner``, "regression": ``LiveRegression``) as the
    settings say: in the worker pool, or as a thread of this process; both under the cap."""
    kwargs.setdefault("unwatched_pause", UNWATCHED_PAUSE)
    pool = warm_up()
    if pool is not None:
        return pool.start(kind, *args, **kwargs)
    return RUNNERS[kind](*args, gate=_local, **kwargs)


def warm_up() -> WorkerPool | None:
    """Start the worker pool (or the in-process cap) if not yet started; workers take seconds to
    import torch, so the app calls this before the first run is asked for."""
    global _local, _pool
    chosen = settings()
    with _lock:
        if chosen.trainers == "threads":
            if _local is None:
                _local = Admission(chosen.max_trainers)
        elif _pool is None:
            _pool = WorkerPool(chosen.workers, chosen.max_trainers)
            atexit.register(_pool.shutdown)
    return _pool
