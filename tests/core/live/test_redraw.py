from core.live.redraw import STALE, RedrawBudget


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_views_keep_their_own_pace_until_the_class_outgrows_the_budget():
    clock = Clock()
    budget = RedrawBudget(20.0, clock=clock)
    assert budget.interval("a", 0.35) == 0.35
    for i in range(6):
        budget.interval(f"v{i}", 0.35)
    assert budget.interval("a", 0.35) == 0.35  # 7 views x 1/0.35 s = 20 redraws/s: still fits
    for i in range(6, 29):
        budget.interval(f"v{i}", 0.35)
    assert budget.interval("a", 0.35) == 30 / 20  # 30 views share 20 redraws/s: 1.5 s each
    assert budget.interval("a", 2.0) == 2.0  # a slower view keeps its own pace


def test_closed_or_paused_views_stop_counting():
    clock = Clock()
    budget = RedrawBudget(10.0, clock=clock)
    for i in range(30):
        budget.interval(f"v{i}", 0.5)
    assert budget.interval("v0", 0.5) == 3.0
    for i in range(10):
        budget.forget(f"v{i}")  # paused
    assert budget.interval("v10", 0.5) == 2.0
    clock.now += STALE + 1  # the others' tabs closed: they never redraw again
    assert budget.interval("v10", 0.5) == 0.5
