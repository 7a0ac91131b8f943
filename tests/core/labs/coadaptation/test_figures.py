"""The co-adaptation figures draw what the snapshot says, and their clickable points name units."""
import numpy as np
import pytest

from core.analysis.coadaptation import ACTIVATION_BINS
from core.labs.coadaptation import figures as vc


def _run(loss_increase, *, sizes=(2, 4, 2), zero_fraction=0.5, seed=0):
    rng = np.random.default_rng(seed)
    units = len(loss_increase)
    corr = np.eye(units, dtype=np.float32)
    return {
        "layer_sizes": list(sizes),
        "weights": [rng.normal(size=(sizes[i + 1], sizes[i])) for i in range(len(sizes) - 1)],
        "coadaptation": {
            "lead": {"ko_max": max(loss_increase), "ko_mean": float(np.mean(loss_increase)),
                     "corr_mean_abs": 0.2, "zero_fraction": zero_fraction, "dead_units": 0},
            "series": {"epoch": [0.0, 1.0, 2.0], "ko_max": [0.1, 0.2, 0.3], "ko_mean": [0.0, 0.1, 0.1],
                       "corr_mean_abs": [0.1, 0.2, 0.2], "zero_fraction": [0.5, 0.5, 0.6]},
            "loss_increase": np.array(loss_increase), "acc_drop": np.array(loss_increase) / 10,
            "correlation": corr, "order": np.arange(units)[::-1],
            "activation_counts": np.arange(len(ACTIVATION_BINS) - 1), "activation_edges": ACTIVATION_BINS,
            "unit_mean": np.linspace(0, 1, units),
        },
    }


def test_clickable_units_reads_the_unit_from_customdata_and_ignores_the_rest():
    points = [{"customdata": 3}, {"customdata": [5]}, {"x": 1}, {"customdata": None}, {"customdata": True},
              {"customdata": -1}, {"customdata": 2.0}]
    assert vc.clickable_units(points) == [3, 5, 2]
    assert vc.clickable_units([]) == []


def test_network_marks_knocked_units_and_sizes_dots_by_damage():
    run = _run([0.4, 0.0, -0.1, 0.1])
    fig = vc.network(run, 0, [1], "net")
    units = fig.data[-1]
    assert list(units.customdata) == [0, 1, 2, 3]
    assert list(units.marker.symbol) == ["circle", "x", "circle", "circle"]
    assert units.marker.color[1] == vc.KNOCKED_COLOR
    sizes = list(units.marker.size)
    assert sizes[0] == max(sizes) and sizes[2] == min(sizes)  # negative damage: the smallest dot
    # A shared scale: the same damage gets the same dot in two diagrams.
    shared = vc.network(_run([0.1, 0.1, 0.1, 0.1]), 0, [], "net", damage_scale=0.4).data[-1].marker.size
    assert shared[0] == pytest.approx(sizes[3])
    # No edge touches a knocked-out unit: every line segment ends elsewhere.
    y_of_unit_1 = units.y[1]
    for edges in fig.data[:2]:
        pairs = [(x, y) for x, y in zip(edges.x, edges.y) if x is not None]
        assert (1.0, y_of_unit_1) not in pairs


def test_damage_ranked_sorts_worst_first_and_keeps_the_unit_of_each_point():
    fig = vc.damage_ranked([_run([0.1, 0.4, 0.2]), _run([0.3, 0.0, 0.05])], ["A", "B"], [2])
    a, b = fig.data
    assert list(a.y) == [0.4, 0.2, 0.1] and list(a.customdata) == [1, 2, 0]
    assert list(b.y) == [0.3, 0.05, 0.0] and list(b.customdata) == [0, 2, 1]
    assert a.marker.symbol[1] == "x"  # unit 2, second worst in A, is knocked out
    assert vc.clickable_units([{"customdata": a.customdata[0]}]) == [1]


def test_runs_without_statistics_yet_draw_empty_figures():
    bare = {"layer_sizes": [2, 4, 2], "weights": [np.ones((4, 2)), np.ones((2, 4))]}
    assert vc.damage_ranked([bare], ["A"], []).data == ()
    assert vc.sparsity_histograms([bare], ["A"]).data == ()
    assert vc.correlation_heatmap(None, "t").data == ()
    assert len(vc.network(bare, 0, [], "t").data[-1].customdata) == 4


def test_lead_series_draws_each_statistic_for_each_run():
    fig = vc.lead_series([_run([0.1, 0.2]), _run([0.3, 0.1])], ["A", "B"])
    assert len(fig.data) == 2 * len(vc.SERIES)
    assert list(fig.data[0].y) == [0.1, 0.2, 0.3]


def test_heatmap_and_histograms():
    run = _run([0.1, 0.2, 0.3])
    heat = vc.correlation_heatmap(run["coadaptation"], "t").data[0]
    assert list(heat.x) == ["u3", "u2", "u1"]  # the given order, 1-based
    hist = vc.sparsity_histograms([run], ["A (p=0.5)"]).data
    shares = np.asarray(hist[0].y)
    assert shares.sum() == pytest.approx(1.0) and "50% zeros" in hist[0].name
    assert sum(hist[1].y) == 3  # one count per unit


def test_feature_tiles_scale_each_tile_and_leave_gaps():
    tiles = np.stack([np.full((8, 8), 2.0), -np.eye(8) * 0.5, np.zeros((8, 8))])
    z = np.asarray(vc.feature_tiles(tiles, "t", columns=2).data[0].z, dtype=float)
    assert z.shape == (2 * 9 - 1, 2 * 9 - 1)
    assert np.all(z[:8, :8] == 1.0) and np.all(z[9:, :8] == 0.0)  # a blank tile stays blank
    assert np.all(np.isnan(z[9:, 9:]))  # no fourth tile
    assert z[:8, 9:].min() == -1.0 and np.all(np.isnan(z[8, :]))  # its own scale; a row of gap
