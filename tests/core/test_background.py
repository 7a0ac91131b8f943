"""Experiments in a background thread, and runs shared by the sessions that ask for the same one."""
import time
from dataclasses import replace

from core.background import BackgroundExperiment, SharedRuns
from core.experiments import EXPERIMENTS

LONG = replace(EXPERIMENTS["fig9a"].defaults, seeds=2, epochs=5000, hidden=(64,), rates=(0.0, 0.5, 0.9))
SHORT = replace(LONG, epochs=5, n_val=100)


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


def test_a_run_reports_progress_and_its_result():
    job = BackgroundExperiment("fig9a", SHORT)
    assert wait_until(lambda: job.snapshot()["state"] == "done")
    snap = job.snapshot()
    assert snap["fraction"] == 1.0 and snap["result"].verdict is not None and not job.alive


def test_cancel_stops_a_run_within_a_fraction_of_a_second():
    job = BackgroundExperiment("fig9a", LONG)
    assert wait_until(lambda: job.snapshot()["fraction"] > 0)
    job.cancel()
    assert wait_until(lambda: not job.alive, timeout=2.0)
    assert job.snapshot()["state"] == "cancelled" and job.snapshot()["result"] is None


def test_an_error_is_reported_not_raised():
    job = BackgroundExperiment("fig9a", replace(SHORT, rates=(0.0, 0.5)))  # too few rates to judge
    assert wait_until(lambda: not job.alive)
    snap = job.snapshot()
    assert snap["state"] == "error" and "three dropout rates" in snap["error"]


def test_equal_requests_share_one_run_until_the_last_watcher_lets_go():
    runs = SharedRuns()
    a, b = runs.watch("t", "fig9a", LONG), runs.watch("t", "fig9a", LONG)
    assert a.job is b.job and a.watchers == 2
    a.cancel()  # one student cancels ...
    assert a.snapshot()["state"] == "cancelled" and not a.alive
    time.sleep(0.3)
    assert b.job.alive and b.snapshot()["state"] == "running" and b.watchers == 1  # ... the other's run goes on
    b.close()  # the last one lets go: the run stops
    assert not b.job.alive and runs.watchers("t") == 0


def test_a_finished_run_is_joined_and_a_stopped_one_restarted():
    runs = SharedRuns()
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
