"""Background jobs: a thread with progress and cancel, runs shared by the sessions that ask for the same
one, the cap on concurrent jobs (the rest wait in line) and the work budget."""
import threading
import time
from dataclasses import replace

import pytest

from core.engine.sweep import Progress
from core.labs.overfitting.experiments import EXPERIMENTS, experiment_work, run_experiment
from core.live import pool
from core.live.admission import Admission
from core.live.jobs import BackgroundExperiment, GatedJob, SharedRuns
from core.live.settings import DEFAULT_JOB_BUDGET, ServerSettings

LONG = replace(EXPERIMENTS["fig9a"].defaults, seeds=2, epochs=5000, hidden=(64,), rates=(0.0, 0.5, 0.9))
SHORT = replace(LONG, epochs=5, n_val=100)


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


def test_a_run_reports_progress_and_its_result():
    job = BackgroundExperiment("fig9a", SHORT, run_experiment)
    assert wait_until(lambda: job.snapshot()["state"] == "done")
    snap = job.snapshot()
    assert snap["fraction"] == 1.0 and snap["result"].verdict is not None and not job.alive


def test_cancel_stops_a_run_within_a_fraction_of_a_second():
    job = BackgroundExperiment("fig9a", LONG, run_experiment)
    assert wait_until(lambda: job.snapshot()["fraction"] > 0)
    job.cancel()
    assert wait_until(lambda: not job.alive, timeout=2.0)
    assert job.snapshot()["state"] == "cancelled" and job.snapshot()["result"] is None


def test_an_error_is_reported_not_raised():
    job = BackgroundExperiment("fig9a", replace(SHORT, rates=(0.0, 0.5)), run_experiment)  # too few rates to judge
    assert wait_until(lambda: not job.alive)
    snap = job.snapshot()
    assert snap["state"] == "error" and "three dropout rates" in snap["error"]


def test_equal_requests_share_one_run_until_the_last_watcher_lets_go():
    runs = SharedRuns(lambda key, settings: BackgroundExperiment(key, settings, run_experiment))
    a, b = runs.watch("t", "fig9a", LONG), runs.watch("t", "fig9a", LONG)
    assert a.job is b.job and a.watchers == 2
    a.cancel()  # one student cancels ...
    assert a.snapshot()["state"] == "cancelled" and not a.alive
    assert not wait_until(lambda: b.snapshot()["state"] != "running", timeout=0.3)
    assert b.job.alive and b.snapshot()["state"] == "running" and b.watchers == 1  # ... the other's run goes on
    b.close()  # the last one lets go: the run stops
    assert not b.job.alive and runs.watchers("t") == 0


def test_a_finished_run_is_joined_and_a_stopped_one_restarted():
    runs = SharedRuns(lambda key, settings: BackgroundExperiment(key, settings, run_experiment))
    first = runs.watch("t", "fig9a", SHORT)
    assert wait_until(lambda: first.snapshot()["state"] == "done")
    late = runs.watch("t", "fig9a", SHORT)  # done but not collected yet: joined, no second training
    assert late.job is first.job and late.snapshot()["result"] is not None
    first.close(), late.close()
    again = runs.watch("t", "fig9a", SHORT)  # let go by everyone: a new request trains anew
    assert again.job is not first.job
    again.close()
    other = runs.watch("u", "fig9a", LONG)  # a different request never shares
    assert other.job is not again.job
    other.close()
    assert not other.job.alive


class Held:
    """A job function that runs until the test lets it go, counting how many run at once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running = self.most = 0
        self.go = threading.Event()

    def __call__(self, key, settings, progress, cancelled):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            progress(Progress(0, 1, 0.0))
            while not self.go.is_set() and not cancelled():
                time.sleep(0.01)
            return _Result(cancelled())
        finally:
            with self.lock:
                self.running -= 1


class _Result:
    def __init__(self, cancelled: bool) -> None:
        self.cancelled = cancelled


def test_ten_jobs_with_different_settings_run_at_most_the_cap_at_once_the_rest_in_line():
    held, cap = Held(), 3
    admission = Admission(cap)
    jobs = [GatedJob("held", seed, admission, lambda on_end, seed=seed: BackgroundExperiment("held", seed, held, on_end))
            for seed in range(10)]
    assert wait_until(lambda: held.running == cap)
    states = [job.snapshot()["state"] for job in jobs]
    assert states.count("running") == cap and states.count("queued") == 10 - cap
    assert [job.snapshot()["position"] for job in jobs[cap:]] == list(range(1, 10 - cap + 1))
    jobs[5].cancel()  # a student in line gives up: the others move up
    assert jobs[5].snapshot()["state"] == "cancelled"
    assert wait_until(lambda: [j.snapshot()["position"] for j in jobs[cap:] if j is not jobs[5]] == [1, 2, 3, 4, 5, 6])
    held.go.set()  # every running job ends: the line drains, never more than the cap at once
    assert wait_until(lambda: all(j.snapshot()["state"] in ("done", "cancelled") for j in jobs), timeout=20)
    assert held.most == cap and admission.counts() == (0, 0)
    assert [j.snapshot()["state"] for j in jobs].count("done") == 9


def test_a_queued_job_that_is_closed_never_starts_and_frees_its_place_in_line():
    held = Held()
    admission = Admission(1)
    first = GatedJob("held", 0, admission, lambda on_end: BackgroundExperiment("held", 0, held, on_end))
    second = GatedJob("held", 1, admission, lambda on_end: BackgroundExperiment("held", 1, held, on_end))
    assert wait_until(lambda: held.running == 1) and second.snapshot() | {"elapsed": 0} == {
        "state": "queued", "position": 1, "fraction": 0.0, "eta": None, "result": None, "error": None, "elapsed": 0}
    second.close()
    first.close()
    assert wait_until(lambda: admission.counts() == (0, 0))
    assert held.most == 1 and not second.alive


def test_a_job_over_the_budget_is_refused_with_a_sentence_before_it_starts(monkeypatch):
    monkeypatch.setattr(pool, "_settings", ServerSettings(trainers="threads", job_budget=DEFAULT_JOB_BUDGET))
    e = EXPERIMENTS["fig9a"]
    huge = replace(e.defaults, seeds=10, hidden=(256, 256, 256), epochs=5000, n_train=1000)
    assert experiment_work("fig9a", huge) > DEFAULT_JOB_BUDGET
    before = threading.active_count()
    with pytest.raises(pool.OverBudget, match=r"this run would take about .* times what this server allows one run"):
        pool.start_job("overfitting", "fig9a", huge)
    assert threading.active_count() == before  # nothing started
    for key, experiment in EXPERIMENTS.items():  # every default fits, with room to spare
        assert experiment_work(key, experiment.defaults) < DEFAULT_JOB_BUDGET / 5, key


def test_the_server_settings_read_the_job_cap_and_budget():
    s = ServerSettings.from_env({"DROPOUT_LAB_WORKERS": "3"})
    assert (s.max_jobs, s.job_budget) == (3, DEFAULT_JOB_BUDGET)  # one job per worker by default
    s = ServerSettings.from_env({"DROPOUT_LAB_MAX_JOBS": "0", "DROPOUT_LAB_JOB_BUDGET": "1e9"})
    assert (s.max_jobs, s.job_budget, s.problems) == (None, 1e9, ())
    s = ServerSettings.from_env({"DROPOUT_LAB_MAX_JOBS": "-2", "DROPOUT_LAB_JOB_BUDGET": "lots"})
    assert len(s.problems) == 2 and "DROPOUT_LAB_MAX_JOBS" in s.problems[0]
