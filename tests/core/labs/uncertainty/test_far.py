"""Lesson 5's zoomed-out classification maps: the distance reading (core.labs.uncertainty.far), the pair
runner's ``mc_extent`` option that computes them, and the reliability counts the page quotes."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core.analysis.calibration import reliability
from core.analysis.mc import MCMapCache
from core.engine.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine.datasets import EXTENT
from core.labs.uncertainty.far import (CONFIDENT_ENTROPY, FAR_DISTANCE, WIDE_EXTENT, far_from_data, map_points,
                                       nearest_distance)
from core.live.pair import GRID_SIZE, LiveRunner

CFG = RunConfig(DataConfig(n_train=40, n_val=40), ModelConfig(num_hiddens=(16, 16), p_hidden=(0.5, 0.5)),
                TrainConfig(max_epochs=10_000, device="cpu"))


def test_nearest_distance_and_the_cells_of_a_map():
    axis = np.array([-1.0, 0.0, 1.0], dtype=np.float32)
    cells = map_points(axis)
    assert cells.shape == (9, 2) and cells[1].tolist() == [0.0, -1.0]  # row-major: x varies fastest
    d = nearest_distance(cells, np.array([[0.0, 0.0], [1.0, 1.0]]))
    assert d.reshape(3, 3)[1, 1] == 0 and d.reshape(3, 3)[0, 0] == pytest.approx(math.sqrt(2))
    assert nearest_distance(np.array([[3.0, 4.0, 9.0]]), np.array([[0.0, 0.0, -9.0]]))[0] == 5.0  # plane coordinates


def test_far_cells_confident_ones_and_the_boundary():
    axis = np.linspace(-3, 3, 7, dtype=np.float32)  # cells 1 apart
    cells = map_points(axis)
    X_train = np.array([[0.0, 0.0]])
    dist = np.sqrt((cells**2).sum(1))
    mean = np.where(cells[:, 0] == 0, 0.5, 0.99)  # the boundary is the column x = 0
    entropy = np.where(mean == 0.5, math.log(2), 0.05)
    entropy[dist > 2.5] = 0.3  # the outer ring is unsure
    mi = entropy / 2
    far = far_from_data(mean, entropy, mi, axis, X_train)
    assert far.far.tolist() == (dist > FAR_DISTANCE).tolist()
    assert far.far_share == pytest.approx((dist > FAR_DISTANCE).mean())
    expected = (dist > FAR_DISTANCE) & (entropy < CONFIDENT_ENTROPY)
    assert far.confident_far.tolist() == expected.tolist()
    assert far.confident_share == pytest.approx(expected.sum() / (dist > FAR_DISTANCE).sum())
    assert far.far_entropy == pytest.approx(entropy[dist > FAR_DISTANCE].mean())
    assert far.far_mutual_info == pytest.approx(far.far_entropy / 2)
    # the boundary: cells within reach (only the centre here) whose mean is in [0.3, 0.7]
    assert far.boundary_entropy == pytest.approx(math.log(2)) and not far.far.flags.writeable
    with pytest.raises(ValueError, match="one value per map cell"):
        far_from_data(mean[:-1], entropy, mi, axis, X_train)


def test_the_wide_extent_is_lesson_fives_own():
    assert WIDE_EXTENT == 2 * EXTENT == 3.5


def test_the_pair_runner_computes_zoomed_out_maps_and_probes_out_there():
    """``mc_extent`` widens the MC maps and the probe's range, and nothing else; without it the runner is as before."""
    axis = np.linspace(-WIDE_EXTENT, WIDE_EXTENT, GRID_SIZE, dtype=np.float32)
    r = LiveRunner(CFG, publish_weights=True, mc_passes=20, probe=(3.0, -3.4), mc_extent=WIDE_EXTENT)
    plain = LiveRunner(CFG, mc_passes=5)
    try:
        r.send("step", n=3)
        snap = r.wait_for(lambda s: (s["runs"][0].get("mc") or {}).get("step") == 3, timeout=20)
        np.testing.assert_array_equal(snap["mc_axis"], axis)
        assert snap["grid_axis"][-1] == pytest.approx(EXTENT), "the decision maps keep the Playground's extent"
        run = snap["runs"][0]
        expected = MCMapCache().predict(run["frozen"], map_points(axis), 20)
        np.testing.assert_allclose(run["mc"]["entropy"], expected.entropy, atol=1e-6)
        assert run["mc"]["probe"]["x"] == (3.0, -3.4)
        r.send("set_mc", probe=(3.6, 0.0))
        said = r.wait_for(lambda s: (s["message"] or "").startswith("ignored set_mc"), timeout=10)
        assert "probe must lie in [-3.5, 3.5]" in said["message"] and r.alive
        plain.send("set_mc", probe=(2.0, 0.0))
        said = plain.wait_for(lambda s: (s["message"] or "").startswith("ignored set_mc"), timeout=10)
        assert "probe must lie in [-1.75, 1.75]" in said["message"]
        np.testing.assert_array_equal(said["mc_axis"], said["grid_axis"])
    finally:
        r.close()
        plain.close()
    for bad in (0.0, -1.0, float("nan"), 11.0):
        with pytest.raises(ValueError, match="mc_extent must be in"):
            LiveRunner(CFG, mc_passes=5, mc_extent=bad)


def test_reliability_counts_filled_bins_and_confident_mistakes():
    probs = np.array([[0.95, 0.05], [0.92, 0.08], [0.3, 0.7], [0.45, 0.55], [0.02, 0.98]])
    y = np.array([0, 1, 0, 1, 1])  # wrong: the 0.92 one and the 0.7 one
    rel = reliability(probs, y)
    assert rel.count.tolist() == [0, 0, 0, 0, 0, 1, 0, 1, 0, 3] and rel.filled == 3
    assert rel.wrong_from(0.9) == 1 and rel.wrong_from(0.7) == 2 and rel.wrong_from(0.5) == 2
    assert rel.count[:5].sum() == 0, "of two classes, no confidence below 0.5"
