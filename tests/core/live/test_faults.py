"""Faults between the app and its workers are found, said and survived: a hung worker, a message that
cannot be read or sent, an app that does not answer the cap, a worker that cannot start, a slow build."""
from __future__ import annotations

import contextlib
import os
import pickle
import signal
import socket
import threading
import time
from multiprocessing.connection import Connection
from types import SimpleNamespace

import pytest

import core.live.link as link_module
import core.live.pool as pool_module
import core.worker as worker_module
from core.engine.config import ModelConfig, RunConfig
from core.live.link import Link, RemoteError, WorkerGone
from core.live.pair import LiveRunner
from core.live.pool import Kind, WorkerPool
from core.live.process import HUNG_AFTER, PING_EVERY
from core.live.runner import NO_ANSWER

TINY = RunConfig(model=ModelConfig(num_hiddens=(16,), p_hidden=(0.5,)))
FOUND_WITHIN = PING_EVERY + HUNG_AFTER  # the watchdog's own bound on finding a hung worker
LATE = 4.0  # what a busy test machine may add to it (its threads wake late)


def _until(condition, timeout: float, every: float = 0.05):
    """Poll ``condition`` until it is truthy or ``timeout`` s pass; its last value."""
    deadline = time.monotonic() + timeout
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(every)
    return value


def _linked(handlers_a, handlers_b, slow_b=frozenset()):
    """Two links over a socket pair, each served by a thread of its own."""
    a, b = socket.socketpair()
    ends = Link(Connection(a.detach()), handlers_a), Link(Connection(b.detach()), handlers_b, slow=slow_b)
    for end in ends:
        threading.Thread(target=end.serve, daemon=True).start()
    return ends


# -- the wire --------------------------------------------------------------------------------------
def test_a_message_that_cannot_be_read_closes_the_link_and_says_why():
    a, b = socket.socketpair()
    raw = Connection(a.detach())
    link = Link(Connection(b.detach()), {"echo": lambda x: x})
    served = []
    thread = threading.Thread(target=lambda: served.append(link.serve()), daemon=True)
    thread.start()
    raw.send_bytes(pickle.dumps(("req", 1, "echo", (5,))))
    assert pickle.loads(raw.recv_bytes()) == ("ok", 1, 5)
    raw.send_bytes(b"\x80\x05 this is no pickle")
    thread.join(10)
    assert not thread.is_alive(), "the reader thread ended, it did not hang"
    assert served and "could not be read" in served[0] and link.broken == served[0]
    assert raw.poll(10) and pytest.raises(EOFError, raw.recv_bytes), "the other end learns of it: end of file"
    with pytest.raises(WorkerGone, match="could not be read"):
        link.call("echo", 1)


def test_an_answer_that_cannot_be_pickled_comes_back_as_an_error_and_the_link_lives_on():
    app, worker = _linked({}, {"bad": lambda: (lambda: None), "good": lambda: 42})
    with pytest.raises(RemoteError, match="the answer to bad could not be sent"):
        app.call("bad", timeout=10)
    assert app.call("good", timeout=10) == 42
    assert app.closed is None and worker.closed is None


# -- the cap does not fail open --------------------------------------------------------------------
class _SilentApp:
    """A link to an app that does not answer ``acquire`` until told to."""

    def __init__(self):
        self.answer: int | None = None
        self.asked = 0
        self.released = 0
        self.closed = None

    def call(self, kind, rid, timeout):
        assert kind == "acquire"
        self.asked += 1
        if self.answer is None:
            raise TimeoutError(f"no answer to {kind} within {timeout:.0f} s")
        return self.answer

    def post(self, kind, rid):
        assert kind == "release"
        self.released += 1


def test_a_run_whose_place_the_app_does_not_grant_in_time_waits_and_starts_once_it_does(monkeypatch):
    monkeypatch.setattr(worker_module.WorkerGate, "RETRY", 0.05)
    gate = worker_module.WorkerGate(cap=2)
    gate.link = app = _SilentApp()
    runner = LiveRunner(TINY, epochs_per_second=50, gate=gate)
    gate.ids[runner] = 7
    try:
        runner.send("play")
        queued = runner.wait_for(lambda s: s["state"] == "queued", 10)
        assert queued["state"] == "queued" and "did not answer in time" in queued["message"]
        assert _until(lambda: app.asked >= 4, 10), "it asks again"
        assert runner.snapshot()["runs"][0]["step"] == 0 and runner.snapshot()["state"] == "queued", \
            "a run without a place does not train"
        assert app.released >= 3, "each unanswered request is taken back, so no place is held unused"
        app.answer = 0
        assert runner.wait_for(lambda s: s["state"] == "playing", 10)["state"] == "playing"
        assert runner.wait_for(lambda s: s["runs"][0]["step"] > 0, 10)["runs"][0]["step"] > 0
        asked = app.asked
        time.sleep(0.3)  # the gate's retry period is 0.05 s: six periods without a new question
        assert app.asked == asked, "once answered, it stops asking"
    finally:
        runner.close()


def test_the_no_answer_message_is_not_the_full_class_message():
    from core.live.runner import queued_message  # noqa: PLC0415

    assert "did not answer" in queued_message(NO_ANSWER, 3) and "full" not in queued_message(NO_ANSWER, 3)


# -- building a run happens off the reader thread --------------------------------------------------
class _SlowBuild:
    """A runner whose construction waits until the test lets it go."""

    go = threading.Event()
    closed: list["_SlowBuild"] = []

    def __init__(self, *args, gate=None, **kwargs):
        assert self.go.wait(30)

    def snapshot(self):
        return {"version": 1, "state": "ready"}

    def close(self, timeout=5.0):
        self.closed.append(self)


def test_building_a_run_does_not_hold_up_other_calls_and_a_run_closed_meanwhile_is_closed_once_built(monkeypatch):
    monkeypatch.setitem(worker_module.KINDS, "slow", Kind(_SlowBuild))
    _SlowBuild.go.clear()
    _SlowBuild.closed.clear()
    a, b = socket.socketpair()
    gate = worker_module.WorkerGate(cap=None)
    host = worker_module.Host(gate)
    worker = worker_module.serve_app(Connection(b.detach()), gate, host)
    app = Link(Connection(a.detach()), {})
    for end in (app, worker):
        threading.Thread(target=end.serve, daemon=True).start()
    built = []
    threading.Thread(target=lambda: built.append(app.call("create", 9, "slow", (), {}, timeout=30)), daemon=True).start()
    assert _until(lambda: any(t.name.startswith("link") for t in threading.enumerate()), 10)
    assert app.call("count", timeout=10) == 0, "another call is answered while the run is being built"
    assert app.call("ping", timeout=10) == os.getpid()
    app.post("close", 9)  # the app gave up on it (timed out, say) before it was built
    assert app.call("count", timeout=10) == 0
    _SlowBuild.go.set()
    assert _until(lambda: built, 30) and built[0]["state"] == "ready"
    assert len(_SlowBuild.closed) == 1 and 9 not in host.runners, "built after it was closed: closed at once"
    app.close()


# -- workers that hang, send garbage, or cannot start ----------------------------------------------
@pytest.fixture
def pool():
    pool = WorkerPool(workers=2, max_trainers=None)
    yield pool
    pool.shutdown()


def _playing(pool, n):
    rs = [pool.start("live", TINY, None, epochs_per_second=30) for _ in range(n)]
    for r in rs:
        r.send("play")
        assert r.wait_for(lambda s: s["runs"][0]["step"] > 0, 60)["runs"][0]["step"] > 0
    return rs


def test_a_stopped_worker_is_found_killed_and_replaced_and_new_runs_do_not_wait_on_it(pool):
    victim, survivor = _playing(pool, 2)
    assert victim._worker is not survivor._worker
    assert _until(lambda: victim._worker.ready.is_set(), 60)
    restarts, stopped = pool.restarts, victim._worker.process.pid
    os.kill(stopped, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        fresh = pool.start("live", TINY, None, epochs_per_second=30)  # while the watchdog has not found it yet
        started_in = time.monotonic() - t0
        failed = victim.wait_for(lambda s: s["state"] == "error", 30)
        found_in = time.monotonic() - t0
    finally:
        with contextlib.suppress(ProcessLookupError):  # a stopped process must not outlive a failed test
            os.kill(stopped, signal.SIGCONT)
    assert failed["state"] == "error" and "stopped answering" in failed["message"], failed["message"]
    assert "Everyone else's runs go on" in failed["message"] and not victim.alive
    assert found_in <= FOUND_WITHIN + LATE, f"found after {found_in:.1f} s"
    assert started_in <= FOUND_WITHIN + LATE, f"a new run waited {started_in:.1f} s"
    assert fresh._worker.process.pid != stopped
    fresh.send("play")
    assert fresh.wait_for(lambda s: s["runs"][0]["step"] > 0, 60)["runs"][0]["step"] > 0
    step = survivor.snapshot()["runs"][0]["step"]
    assert survivor.wait_for(lambda s: s["runs"][0]["step"] > step, 10)["runs"][0]["step"] > step
    assert _until(lambda: pool.restarts == restarts + 1, 10)
    assert _until(lambda: pool._workers[victim._worker.index] is not victim._worker, 10), "replaced"
    assert _until(lambda: pool._workers[victim._worker.index].ready.is_set(), 60)


def test_a_run_started_while_every_worker_hangs_goes_to_a_replacement(pool):
    runs = _playing(pool, 2)
    workers = [r._worker for r in runs]
    assert _until(lambda: all(w.ready.is_set() for w in workers), 60)
    stopped = [w.process.pid for w in workers]
    for pid in stopped:
        os.kill(pid, signal.SIGSTOP)
    try:
        fresh = pool.start("live", TINY, None, epochs_per_second=30)  # each worker it asks is hung
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
    assert fresh._worker.process.pid not in stopped and fresh._worker not in workers
    fresh.send("play")
    assert fresh.wait_for(lambda s: s["runs"][0]["step"] > 0, 60)["runs"][0]["step"] > 0
    for run in runs:
        assert "stopped answering" in run.wait_for(lambda s: s["state"] == "error", 30)["message"]


def test_a_worker_that_receives_garbage_exits_and_is_replaced(pool):
    victim, survivor = _playing(pool, 2)
    victim._worker.link._conn.send_bytes(b"garbage, not a pickle")
    failed = victim.wait_for(lambda s: s["state"] == "error", 30)
    assert failed["state"] == "error" and f"exit status {worker_module.BROKEN_LINK}" in failed["message"]
    assert survivor.alive and survivor.snapshot()["state"] == "playing"
    assert _until(lambda: pool._workers[victim._worker.index] is not victim._worker, 10)


def test_a_worker_whose_message_cannot_be_read_here_is_killed_and_replaced(pool, monkeypatch):
    victim, survivor = _playing(pool, 2)
    reader = f"dropout-worker-{victim._worker.index}"
    crafted = threading.Event()

    def loads(data):
        if threading.current_thread().name == reader and not crafted.is_set():
            crafted.set()
            raise pickle.UnpicklingError("crafted")
        return pickle.loads(data)

    monkeypatch.setattr(link_module, "pickle", SimpleNamespace(loads=loads, dumps=pickle.dumps,
                                                               HIGHEST_PROTOCOL=pickle.HIGHEST_PROTOCOL))
    failed = victim.wait_for(lambda s: s["state"] == "error", 30)
    assert crafted.is_set()
    assert failed["state"] == "error" and "could not be read (UnpicklingError: crafted)" in failed["message"]
    assert survivor.alive
    assert _until(lambda: pool._workers[victim._worker.index] is not victim._worker, 10)
    fresh = pool.start("live", TINY, None)
    fresh.send("step")
    assert fresh.wait_for(lambda s: s["runs"][0]["step"] == 1, 60)["runs"][0]["step"] == 1


def test_a_run_its_worker_cannot_report_on_ends_with_a_sentence(pool):
    run, = _playing(pool, 1)
    run._worker.link.post("close", run._rid)  # the worker forgets it behind the app's back
    failed = run.wait_for(lambda s: s["state"] == "error", 10)
    assert failed["state"] == "error" and "could not report on it" in failed["message"] and not run.alive


# -- respawn with backoff, spawn failures --------------------------------------------------------
class _Process:
    pid = 4242

    def wait(self, timeout=None):
        return 1

    def kill(self):
        pass


class _DiesAtStart:
    """A worker whose process exits at once (a broken environment, say)."""

    made: list[float] = []
    fail_after: int | None = None  # raise OSError from this construction on

    def __init__(self, index, pool, nice=0):
        if self.fail_after is not None and len(self.made) >= self.fail_after:
            raise OSError("no more processes")
        self.made.append(time.monotonic())
        self.index, self.runners, self.jobs, self.process = index, set(), set(), _Process()
        self.started, self.dead, self.responsive = time.monotonic(), "exit status 1", False
        threading.Thread(target=self._die, args=(pool,), daemon=True).start()

    def _die(self, pool):
        _until(lambda: self in pool._workers, 10)  # once the pool holds it, as a real worker's reader does
        pool._lost(self)

    def stop(self):
        pass


@pytest.fixture
def dying(monkeypatch):
    monkeypatch.setattr(pool_module, "Worker", _DiesAtStart)
    monkeypatch.setattr(pool_module, "RESPAWN_BACKOFF", (0.0, 0.1, 0.2, 0.4, 0.8))
    monkeypatch.setattr(pool_module, "PICK_WAIT", 0.5)
    _DiesAtStart.made, _DiesAtStart.fail_after = [], None
    pools = []
    yield pools
    for p in pools:
        p.shutdown()


def test_a_worker_that_dies_at_start_is_respawned_ever_more_slowly(dying):
    pool = WorkerPool(workers=1, max_trainers=None)
    dying.append(pool)
    assert _until(lambda: len(_DiesAtStart.made) >= 4, 10)
    pool.shutdown()
    gaps = [b - a for a, b in zip(_DiesAtStart.made, _DiesAtStart.made[1:])]
    assert all(gap >= wanted * 0.9 for gap, wanted in zip(gaps, (0.1, 0.2, 0.4))), gaps
    made = len(_DiesAtStart.made)
    time.sleep(1.0)  # more than the longest delay: nothing respawns after shutdown
    assert len(_DiesAtStart.made) == made


def test_when_no_worker_can_be_started_a_new_run_is_told_to_try_again(dying):
    _DiesAtStart.fail_after = 1  # the first dies; its replacements cannot be spawned at all
    pool = WorkerPool(workers=1, max_trainers=None)
    dying.append(pool)
    assert _until(lambda: pool.restarts >= 1, 10)
    with pytest.raises(RuntimeError, match="no training process is running right now.*Try again in a few seconds"):
        pool.start("live", TINY, None)
    assert len(pool._workers) == 1, "the pool keeps its place for a worker; it is not left empty"


def test_a_pool_that_cannot_start_every_worker_stops_those_it_started(dying, monkeypatch):
    stopped = []
    monkeypatch.setattr(_DiesAtStart, "stop", lambda self: stopped.append(self))
    monkeypatch.setattr(_DiesAtStart, "__init__", _fails_second(_DiesAtStart.__init__))
    with pytest.raises(RuntimeError, match="could not start its training processes"):
        WorkerPool(workers=3, max_trainers=None)
    assert len(stopped) == 1, "the one that started was stopped: no orphan"


def _fails_second(init):
    count = []

    def __init__(self, index, pool, nice=0):
        count.append(index)
        if len(count) == 2:
            raise OSError("no more processes")
        self.index, self.runners, self.jobs, self.process = index, set(), set(), _Process()
        self.dead, self.started = None, time.monotonic()

    return __init__
