"""The trainer pool: the cap, runners in worker processes, dead workers, and nothing left behind."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.engine.config import ModelConfig, RunConfig, TrainConfig
from core.labs.uncertainty.regression import RegressionConfig
from core.live.admission import Admission
from core.live.pair import LiveRunner
from core.live.pool import WorkerPool
from core.live.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[3]
TINY = RunConfig(model=ModelConfig(num_hiddens=(16,), p_hidden=(0.5,)))


def _pid_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # a zombie still answers kill(0): it has exited, its parent just has not reaped it yet
        if Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z"):
            return True
        time.sleep(0.05)
    return False


# -- the cap ------------------------------------------------------------------------------------
def test_admission_serves_first_come_first_served_and_tells_the_line():
    told: list[tuple[str, int]] = []
    gate = Admission(cap=2)
    tell = {name: (lambda pos, name=name: told.append((name, pos))) for name in "abcde"}
    assert [gate.request(n, tell[n]) for n in "abcd"] == [0, 0, 1, 2]
    assert gate.request("c", tell["c"]) == 1  # asking again keeps its place
    assert gate.counts() == (2, 2)
    gate.release("a")
    assert told == [("c", 0), ("d", 1)]  # c takes a's place, d moves up
    gate.release("d")  # leaving the line gives nothing away
    assert gate.counts() == (2, 0)
    assert gate.request("e", tell["e"]) == 1
    gate.release_where(lambda who: who in ("b", "c"))
    assert told[-1] == ("e", 0) and gate.counts() == (1, 0)
    gate.release("nobody")  # releasing what is not held is harmless


def test_no_cap_admits_everyone():
    gate = Admission(cap=None)
    assert all(gate.request(i, lambda pos: None) == 0 for i in range(100))


def test_a_run_past_the_cap_waits_queued_and_starts_when_a_place_frees():
    gate = Admission(cap=1)
    first = LiveRunner(TINY, epochs_per_second=50, gate=gate)
    second = LiveRunner(TINY, epochs_per_second=50, gate=gate)
    try:
        first.send("play")
        first.wait_for(lambda s: s["state"] == "playing", 20)
        second.send("play")
        queued = second.wait_for(lambda s: s["state"] == "queued", 20)
        assert queued["state"] == "queued" and "The class is full" in queued["message"]
        assert "at most 1 runs" in queued["message"] and "next in line" in queued["message"]
        time.sleep(0.3)
        assert second.snapshot()["runs"][0]["step"] == 0  # a queued run does not train
        first.send("pause")
        started = second.wait_for(lambda s: s["state"] == "playing", 20)
        assert started["state"] == "playing" and started["message"] is None
        assert second.wait_for(lambda s: s["runs"][0]["step"] > 0, 20)["runs"][0]["step"] > 0
        first.send("play")  # now first waits for second
        assert first.wait_for(lambda s: s["state"] == "queued", 20)["state"] == "queued"
        first.send("pause")  # pausing a queued run leaves the line
        assert first.wait_for(lambda s: s["state"] == "paused", 20)["state"] == "paused"
        assert gate.counts() == (1, 0)
    finally:
        first.close()
        second.close()
    assert gate.counts() == (0, 0)  # closing gives the place back


def test_a_run_that_finishes_gives_its_place_to_the_next():
    gate = Admission(cap=1)
    short = RunConfig(model=TINY.model, train=TrainConfig(max_epochs=2))
    first = LiveRunner(short, epochs_per_second=None, gate=gate)
    second = LiveRunner(TINY, epochs_per_second=50, gate=gate)
    try:
        second.send("play")  # holds the place first...
        second.wait_for(lambda s: s["state"] == "playing", 20)
        first.send("play")
        assert first.wait_for(lambda s: s["state"] == "queued", 20)["state"] == "queued"
        second.send("pause")
        assert first.wait_for(lambda s: s["state"] == "finished", 20)["state"] == "finished"
        assert gate.counts() == (0, 0)
    finally:
        first.close()
        second.close()


def test_a_run_nobody_watches_pauses_itself_and_says_why():
    runner = LiveRunner(TINY, epochs_per_second=50, unwatched_pause=0.4)
    try:
        runner.send("play")
        # nobody asks for a snapshot or sends a command: the test peeks at the published one, which
        # snapshot() and wait_for() would count as watching
        deadline = time.monotonic() + 20
        while runner._snapshot["state"] != "paused" and time.monotonic() < deadline:
            time.sleep(0.05)
        s = runner.snapshot()
        assert s["state"] == "paused" and "not on screen for 0.4 s" in s["message"]
        assert "its share of the server went to the others" in s["message"]
        runner.send("play")  # the learner is back
        for _ in range(10):  # and keeps watching: it trains on
            time.sleep(0.1)
            assert runner.snapshot()["state"] == "playing"
    finally:
        runner.close()


# -- settings -----------------------------------------------------------------------------------
def test_settings_default_to_worker_processes_one_per_core():
    s = ServerSettings.from_env({})
    assert (s.trainers, s.workers, s.refresh, s.problems) == ("processes", os.cpu_count(), 0.35, ())
    assert s.max_trainers is not None and s.max_trainers > 0


def test_bad_settings_fall_back_to_defaults_and_are_named():
    s = ServerSettings.from_env({"DROPOUT_LAB_TRAINERS": "gpu", "DROPOUT_LAB_WORKERS": "two",
                                 "DROPOUT_LAB_MAX_TRAINERS": "-3", "DROPOUT_LAB_REFRESH": "0.01"})
    default = ServerSettings.from_env({})
    assert (s.trainers, s.workers, s.max_trainers, s.refresh) == (
        default.trainers, default.workers, default.max_trainers, default.refresh)
    text = " ".join(s.problems)
    for name in ("DROPOUT_LAB_TRAINERS", "'gpu'", "DROPOUT_LAB_WORKERS", "'two'", "'-3'", "'0.01'"):
        assert name in text
    assert len(s.problems) == 4


def test_a_cap_of_zero_means_no_cap():
    assert ServerSettings.from_env({"DROPOUT_LAB_MAX_TRAINERS": "0", "DROPOUT_LAB_TRAINERS": "threads"}).max_trainers is None


# -- the worker pool ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pool():
    pool = WorkerPool(workers=2, max_trainers=3)
    yield pool
    pids = pool.pids()
    pool.shutdown()
    assert all(_pid_gone(pid, 5) for pid in pids), "a worker outlived shutdown"


@pytest.fixture
def runners(pool):
    made = []

    def start(*args, **kwargs):
        made.append(pool.start(*args, **kwargs))
        return made[-1]

    yield start
    for runner in made:
        runner.close()


def test_commands_reach_the_right_runner_and_snapshots_arrive(pool, runners):
    ps = (0.1, 0.3, 0.6)
    rs = [runners("live", RunConfig(model=TINY.model.with_p(p_hidden=(p,))), None, epochs_per_second=40) for p in ps]
    assert {len(w.runners) for w in pool._workers} == {1, 2}  # spread over both workers
    for r in rs:
        r.send("play")
    rs[1].send("set_p", p_hidden=[0.8])
    rs[2].send("pause")
    moved = [r.wait_for(lambda s: s["runs"][0]["epoch"] >= 2, 10) for r in rs[:2]]
    assert [m["runs"][0]["epoch"] >= 2 for m in moved] == [True, True]
    got = [r.snapshot()["runs"][0]["config"].model.p_hidden for r in rs]
    assert got == [(0.1,), (0.8,), (0.6,)]
    assert rs[2].snapshot()["state"] == "paused"
    assert isinstance(moved[0]["runs"][0]["grid"], type(moved[1]["runs"][0]["grid"]))  # numpy arrays cross intact
    assert moved[0]["runs"][0]["grid"].shape == (60, 60)


def test_a_regression_runner_runs_in_a_worker_too(runners):
    r = runners("regression", RegressionConfig(), n_passes=5, epochs_per_second=None)
    r.send("play")
    s = r.wait_for(lambda s: s["epoch"] >= 3, 10)
    assert s["epoch"] >= 3 and s["state"] == "playing" and len(s["bands"]["passes"]) == 5


def test_bad_requests_get_clear_errors(runners):
    with pytest.raises(ValueError, match="unknown command 'jump'"):
        runners("live", TINY).send("jump")
    with pytest.raises(ValueError, match="run B must share"):
        runners("live", TINY, RunConfig(model=ModelConfig(num_hiddens=(4,), p_hidden=(0.0,))))
    with pytest.raises(ValueError, match="unknown runner kind"):
        runners("no_such_kind", TINY)


def test_the_cap_counts_runs_in_every_worker(pool, runners):
    rs = [runners("live", TINY, None, epochs_per_second=20) for _ in range(4)]
    for r in rs:
        r.send("play")
        r.wait_for(lambda s: s["state"] != "ready", 20)
    states = [r.snapshot()["state"] for r in rs]
    assert states == ["playing"] * 3 + ["queued"]
    assert "at most 3 runs" in rs[3].snapshot()["message"]
    rs[0].close()
    assert rs[3].wait_for(lambda s: s["state"] == "playing", 5)["state"] == "playing"


def test_closed_runners_are_freed_in_their_workers(pool, runners):
    before = sum(pool.runner_counts())
    rs = [runners("live", TINY, None) for _ in range(4)]
    assert sum(pool.runner_counts()) == before + 4
    for r in rs:
        r.close()
    deadline = time.monotonic() + 5
    while sum(pool.runner_counts()) != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sum(pool.runner_counts()) == before
    assert pool.admission.counts() == (0, 0)
    assert not rs[0].alive


def test_ten_background_jobs_run_in_the_workers_at_most_the_cap_at_once(pool):
    """Lesson 3's experiment, ten different settings, a cap of 2: the rest wait in line, each result
    comes back from a worker process, and every place is given back."""
    from dataclasses import replace  # noqa: PLC0415

    from core.labs.overfitting.experiments import EXPERIMENTS  # noqa: PLC0415
    from core.live.jobs import GatedJob  # noqa: PLC0415

    base = replace(EXPERIMENTS["hinton"].defaults, seeds=1, hidden=(8,), epochs=100, n_val=100)
    admission = Admission(2)
    jobs = [GatedJob("hinton", s, admission, lambda on_end, s=s: pool.start_job("overfitting", "hinton", s, on_end))
            for s in (replace(base, noise=0.1 * (1 + i)) for i in range(10))]
    assert [job.snapshot()["state"] for job in jobs].count("queued") == 8, "past the cap, the rest wait in line"
    # The cap is the admission's count (read at once); the jobs' own states are read one by one from a
    # worker, so a busy machine can show one that ended and one that started in the same sweep.
    most, deadline = 0, time.monotonic() + 600  # niced below a busy machine, a job worker crawls
    while time.monotonic() < deadline:
        running, waiting = admission.counts()
        most = max(most, running)
        assert running <= 2, (running, waiting)
        states = [job.snapshot()["state"] for job in jobs]
        if all(state in ("done", "error") for state in states):
            break
        time.sleep(0.02)
    snaps = [job.snapshot() for job in jobs]
    assert [snap["state"] for snap in snaps] == ["done"] * 10, [snap.get("error") for snap in snaps]
    assert most == 2 and admission.counts() == (0, 0)
    assert sorted(snap["result"].settings.noise for snap in snaps) == sorted(0.1 * (1 + i) for i in range(10))
    assert not pool._job_worker.jobs, "every finished job was let go in its worker"
    assert pool._job_worker not in pool._workers and pool._job_worker.nice > pool._workers[0].nice, \
        "jobs run in a process of their own, below the live runs"
    assert all(not w.jobs for w in pool._workers)


def test_a_killed_worker_is_reported_not_waited_on(pool, runners):
    rs = [runners("live", TINY, None, epochs_per_second=30) for _ in range(2)]
    for r in rs:
        r.send("play")
        r.wait_for(lambda s: s["runs"][0]["step"] > 0, 10)
    victim, survivor = rs
    assert victim._worker is not survivor._worker
    restarts = pool.restarts
    os.kill(victim._worker.process.pid, signal.SIGKILL)
    t0 = time.monotonic()
    s = victim.wait_for(lambda s: s["state"] == "error", 10)
    assert time.monotonic() - t0 < 5
    assert s["state"] == "error" and "ended unexpectedly (killed by SIGKILL)" in s["message"]
    assert not victim.alive
    victim.send("play")  # ignored, not raised: the page shows the message
    step = survivor.snapshot()["runs"][0]["step"]
    assert survivor.wait_for(lambda s: s["runs"][0]["step"] > step, 5)["runs"][0]["step"] > step
    deadline = time.monotonic() + 5
    while pool.restarts == restarts and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pool.restarts == restarts + 1
    fresh = runners("live", TINY, None)  # the class goes on: a new run starts in a new worker
    fresh.send("step")
    assert fresh.wait_for(lambda s: s["runs"][0]["step"] == 1, 60)["runs"][0]["step"] == 1
    assert pool.admission.counts()[0] <= 2  # the dead worker's places were given back


def test_workers_exit_when_the_app_is_killed(tmp_path):
    """Even a SIGKILLed app (no clean-up code runs) leaves no worker behind: they read end-of-file."""
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent("""
        import sys, time
        from core.engine.config import RunConfig
        from core.labs.kinds import KINDS
        from core.live.pool import WorkerPool, use_kinds
        use_kinds(KINDS)  # as the app's frame does
        pool = WorkerPool(workers=2, max_trainers=None)
        runner = pool.start("live", RunConfig(), None)
        runner.send("play")
        print(*pool.pids(), flush=True)
        time.sleep(60)
    """))
    app = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        pids = [int(p) for p in app.stdout.readline().split()]
        assert len(pids) == 2
        app.kill()
        app.wait()
        assert all(_pid_gone(pid, 10) for pid in pids), "a worker outlived its killed app"
    finally:
        app.kill()


def test_the_app_process_runs_torch_on_one_thread():
    """The frame sets it as the app starts (workers configure themselves), whatever the core count."""
    code = "import torch; n = torch.get_num_threads(); import core.ui.frame; print(n, torch.get_num_threads())"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "2"})
    assert out.returncode == 0, out.stderr
    before, after = map(int, out.stdout.split())
    assert (before, after) == (2, 1)
