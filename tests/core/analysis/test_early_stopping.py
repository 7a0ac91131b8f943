import math

from core.analysis.early_stopping import best_index, best_point, stopped
from core import viz


def test_the_best_point_is_the_first_lowest_finite_validation_loss():
    assert best_index([0.5, 0.3, 0.3, 0.4]) == 1
    assert best_index([math.nan, math.inf, 0.9, math.nan]) == 2
    assert best_index([math.nan, math.inf]) is None and best_index([]) is None
    h = {"epoch": [1, 2, 3], "val_loss": [0.6, 0.2, 0.4], "val_acc": [0.5, 0.8, 0.7]}
    assert best_point(h) == {"epoch": 2, "val_loss": 0.2, "val_acc": 0.8, "index": 1}


def test_a_stopped_member_carries_its_best_evaluation_as_its_final_numbers():
    curves = {"epoch": [1, 2, 3], "step": [3, 6, 9], "train_loss": [0.5, 0.3, 0.1], "val_loss": [0.6, 0.4, 0.9],
              "train_acc": [0.6, 0.8, 1.0], "val_acc": [0.5, 0.75, 0.7]}
    m = {"label": "no dropout", "seed": 3, "val_loss": 0.9, "val_acc": 0.7, "train_loss": 0.1, "train_acc": 1.0,
         "curves": curves}
    s = stopped(m)
    assert (s["stopped_epoch"], s["val_loss"], s["val_acc"], s["train_loss"]) == (2, 0.4, 0.75, 0.3)
    assert s["seed"] == 3 and m["val_loss"] == 0.9  # the original is untouched
    diverged = {**m, "curves": {**curves, "val_loss": [math.nan] * 3}}
    assert stopped(diverged)["stopped_epoch"] is None and stopped(diverged)["val_loss"] == 0.9


def test_the_curves_chart_stars_each_runs_best_epoch_where_stopping_would_keep_it():
    run = {"history": {"epoch": [1, 2, 3], "train_loss": [0.5, 0.3, 0.1], "val_loss": [0.6, 0.4, 0.9],
                       "train_acc": [0.6, 0.8, 1.0], "val_acc": [0.5, 0.75, 0.7]}, "events": []}
    for metric, y in (("loss", 0.4), ("acc", 0.75)):
        fig = viz.curves([run, run], ["A", "B"], metric)
        stars = [t for t in fig.data if t.mode == "markers"]
        assert [(t.name, t.x, t.y) for t in stars] == [("A best epoch", (2,), (y,)), ("B best epoch", (2,), (y,))]
    empty = {"history": {"epoch": [], "train_loss": [], "val_loss": [], "train_acc": [], "val_acc": []}, "events": []}
    assert not [t for t in viz.curves([empty], ["A"], "loss").data if t.mode == "markers"]
