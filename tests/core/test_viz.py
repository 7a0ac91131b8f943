import numpy as np

from core import viz
from core.engine.config import RunConfig
from core.live.pair import LiveRunner


def _snapshot():
    r = LiveRunner(RunConfig(), RunConfig().__class__(model=RunConfig().model.with_p(p_hidden=(0.0, 0.0))))
    try:
        r.send("step")
        return r.wait_for(lambda s: s["runs"][0]["step"] >= 1, timeout=5)
    finally:
        r.close()


def test_decimate_keeps_the_ends_and_the_budget():
    xs = list(range(10_000))
    out_x, out_y = viz.decimate(xs, [2 * x for x in xs], max_points=100)
    assert len(out_x) <= 100 and out_x[0] == 0 and out_x[-1] == 9_999
    assert out_y == [2 * x for x in out_x]
    assert viz.decimate([1, 2], [3, 4]) == ([1, 2], [3, 4])


def test_figures_from_a_snapshot():
    snap = _snapshot()
    run = snap["runs"][0]
    fig = viz.decision_map(run["grid"], snap["grid_axis"], snap["data"], "map")
    assert fig.data[0].type == "heatmap" and np.asarray(fig.data[0].z).shape == run["grid"].shape
    n_points = sum(len(t.x) for t in fig.data[1:])
    assert n_points == len(snap["data"]["X_train"]) + len(snap["data"]["X_val"])

    curves = viz.curves(snap["runs"], ["A", "B"], "loss")
    assert [t.name for t in curves.data] == ["A train", "A val", "B train", "B val"]


def test_network_diagram_greys_exactly_the_dropped_units():
    snap = _snapshot()
    run = snap["runs"][0]
    fig = viz.network_diagram(run, "net")
    dropped = next(t for t in fig.data if t.name == "dropped this step")
    kept = next(t for t in fig.data if t.name == "kept")
    n_dropped = sum(not k for mask in run["masks"] for k in mask)
    n_units = sum(min(s, 12) for s in run["layer_sizes"])
    assert len(dropped.x) == n_dropped and len(kept.x) == n_units - n_dropped


def test_p_change_events_are_drawn_on_the_curves():
    run = {"history": {"epoch": [1.0, 2.0], "train_loss": [1, 0.5], "val_loss": [1, 0.7]},
           "events": [{"epoch": 1.5, "text": "p 0.5 → 0.2"}]}
    fig = viz.curves([run], ["A"], "loss")
    assert any("p 0.5 → 0.2" in a.text for a in fig.layout.annotations)
    assert any(s.x0 == 1.5 for s in fig.layout.shapes)


def test_unvalidated_figures_serialise_like_validated_ones():
    """core.viz.figure skips plotly's validators for speed: what reaches the browser must not change."""
    import json

    import plotly.graph_objects as go
    import plotly.io as pio

    from core.engine.datasets import make_split
    from core.viz import decision_map

    figure = getattr(viz.figure, "unvalidated", viz.figure)  # the app's own, not the tests' validating one

    split = make_split(RunConfig().data)
    data = {k: getattr(split, k) for k in ("X_train", "y_train", "X_val", "y_val")}
    axis = np.linspace(-1, 1, 5, dtype=np.float32)
    fig = decision_map(np.full((5, 5), 0.5, dtype=np.float32), axis, data, "t")  # validated (tests/conftest.py)
    fast = figure(list(fig.to_dict()["data"]), fig.to_dict()["layout"])
    assert fast is not fig and figure.__module__ == "core.viz"
    go.Figure(fast.to_dict())  # and plotly accepts it
    assert json.loads(pio.to_json(fast, validate=False)) == json.loads(pio.to_json(fig, validate=False))
