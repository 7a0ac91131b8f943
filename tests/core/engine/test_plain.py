"""Recorders stay bounded for runs of any length (core.engine.plain)."""
from core.engine.plain import EventLog, bound_series


def test_bounded_series_keep_the_latest_points_whole_and_thin_the_older_ones():
    series = {"epoch": [], "loss": []}
    for epoch in range(100_000):
        series["epoch"].append(float(epoch))
        series["loss"].append(1.0 / (epoch + 1))
        bound_series(series, recent=500)
        assert len(series["epoch"]) <= 1000
    epochs = series["epoch"]
    assert epochs[-500:] == [float(e) for e in range(100_000 - 500, 100_000)]  # the latest, whole
    assert epochs[0] == 0.0 and epochs == sorted(epochs)  # the first kept, in order
    assert len(series["loss"]) == len(epochs)
    assert all(loss == 1.0 / (e + 1) for e, loss in zip(epochs, series["loss"]))  # thinned alike


def test_the_event_log_keeps_the_latest_and_counts_the_rest():
    log = EventLog(limit=3)
    for i in range(5000):
        log.append({"step": i})
    assert [e["step"] for e in log] == [4997, 4998, 4999] and log[-1]["step"] == 4999
    assert len(log) == 3 and log.total == 5000 and log.hidden == 4997
