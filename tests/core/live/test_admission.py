"""The caps on runs that exist (core.live.admission.RunCount): per server and per browser, freed as
soon as a run is closed."""
import pytest

from core.live.admission import RunCount, ServerFull


class FakeRun:
    def __init__(self):
        self.alive = True


def test_runs_past_the_server_cap_are_refused_until_one_closes():
    count = RunCount(max_runs=3, max_per_owner=None)
    runs = [FakeRun() for _ in range(3)]
    for i, run in enumerate(runs):
        count.check(f"student-{i}")
        count.admit(f"student-{i}", run)
    with pytest.raises(ServerFull, match="the server is full: it holds 3 runs.*DROPOUT_LAB_MAX_RUNS.*Close the tabs"):
        count.check("student-9")
    runs[1].alive = False  # closed (by its page, its tab's lease or its worker's end)
    count.check("student-9")
    assert count.count() == 2


def test_one_browser_with_forty_tabs_cannot_take_every_place():
    count = RunCount(max_runs=100, max_per_owner=12)
    for _ in range(12):
        count.check("greedy")
        count.admit("greedy", FakeRun())
    with pytest.raises(ServerFull, match="this browser already holds 12 runs.*DROPOUT_LAB_MAX_RUNS_PER_BROWSER"):
        count.check("greedy")
    count.check("classmate")  # everyone else still starts
    assert count.count("greedy") == 12 and count.count() == 12


def test_no_cap_means_no_cap():
    count = RunCount(None, None)
    for _ in range(500):
        count.check("x")
        count.admit("x", FakeRun())
    assert count.count("x") == 500
