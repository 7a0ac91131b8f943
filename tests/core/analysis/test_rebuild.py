"""The neighbour-rebuild measure on maps whose answer is known: noise, smooth fields, harmonic maps."""
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core.analysis.rebuild import measure, neighbour_design


def noise(n=200, c=3, side=8, seed=0):
    return np.random.default_rng(seed).normal(size=(n, c, side, side))


def smooth(n=100, c=3, side=24, seed=0):
    """Noise on an 8x8 grid, upsampled bilinearly (as the CNN upsamples the digits)."""
    coarse = torch.as_tensor(noise(n, c, 8, seed))
    return F.interpolate(coarse, size=(side, side), mode="bilinear", align_corners=False).numpy()


def planes(n=50, c=2, side=8, seed=0):
    """a*i + b*j + c per image and channel: every pixel is exactly the mean of its 4 (and of its 8) neighbours."""
    rng = np.random.default_rng(seed)
    i, j = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    a, b, c0 = (rng.normal(size=(n, c, 1, 1)) for _ in range(3))
    return a * i + b * j + c0


def harmonic(n=20, side=8, seed=0):
    """Random boundary values, interior solved so that each interior pixel is the mean of its 4 neighbours."""
    rng = np.random.default_rng(seed)
    inner = side - 2
    index = np.arange(inner * inner).reshape(inner, inner)
    maps = np.zeros((n, 1, side, side))
    for image in maps[:, 0]:
        image[:] = rng.normal(size=(side, side))
        A, rhs = np.zeros((inner * inner, inner * inner)), np.zeros(inner * inner)
        for r in range(inner):
            for s in range(inner):
                row = index[r, s]
                A[row, row] = 4.0
                for dr, ds in ((-1, 0), (1, 0), (0, -1), (0, 1)):
                    rr, ss = r + dr, s + ds
                    if 0 <= rr < inner and 0 <= ss < inner:
                        A[row, index[rr, ss]] -= 1.0
                    else:
                        rhs[row] += image[rr + 1, ss + 1]
        image[1:-1, 1:-1] = np.linalg.solve(A, rhs).reshape(inner, inner)
    return maps


def test_the_design_lines_up_each_pixel_with_its_neighbours():
    x = np.arange(25.0).reshape(1, 5, 5)
    target, design = neighbour_design(x, 4)
    assert target.shape == (1, 9) and design.shape == (1, 9, 5)
    # The first interior pixel is (1, 1), value 6: intercept, then up, down, left, right.
    assert target[0, 0] == 6 and list(design[0, 0]) == [1, 1, 11, 5, 7]


@pytest.mark.parametrize("neighbours", [4, 8])
def test_iid_noise_cannot_be_rebuilt(neighbours):
    r = measure(noise(), neighbours)
    k, m = neighbours, r.samples
    assert m == 100 * 36
    assert abs(r.r2) < 10 * (k + 1) / m  # held-out R^2 of noise: 0 up to the fitting noise (about k/m)
    assert abs(r.corr_h) < 4 / math.sqrt(200 * 8 * 7) and abs(r.corr_v) < 4 / math.sqrt(200 * 8 * 7)
    assert r.dead_channels == 0 and len(r.per_channel_r2) == 3


def test_a_smooth_field_is_mostly_rebuilt():
    r = measure(smooth())
    assert r.r2 > 0.9 and r.corr_h > 0.8 and r.corr_v > 0.8
    assert abs(r.r2 - r.r2_in_sample) < 0.02  # thousands of samples, 5 weights: held out or not, the same
    assert measure(smooth(side=8)).r2 < 0.5 < r.r2  # the same noise, not upsampled, is not


@pytest.mark.parametrize("neighbours", [4, 8])
def test_a_map_that_is_the_mean_of_its_neighbours_is_rebuilt_exactly(neighbours):
    assert measure(planes(), neighbours).r2 == pytest.approx(1.0, abs=1e-9)


def test_a_harmonic_map_with_random_boundary_is_rebuilt_exactly():
    r = measure(harmonic())
    assert r.r2 == pytest.approx(1.0, abs=1e-9) and 0 < r.corr < 1


def test_dead_and_constant_channels_are_left_out_not_nan_crashes():
    x = noise(c=4)
    x[:, 1] = 0.0  # a ReLU channel that never fires
    x[:, 3] = 3.0  # a constant one
    r = measure(x)
    assert r.dead_channels == 2 and math.isnan(r.per_channel_r2[1]) and math.isnan(r.per_channel_r2[3])
    assert math.isfinite(r.r2) and math.isfinite(r.corr)
    all_dead = measure(np.zeros((10, 2, 8, 8)))
    assert all_dead.dead_channels == 2 and math.isnan(all_dead.r2)
    data = all_dead.to_json()
    assert data["r2"] is None and data["corr"] is None
    json.dumps(data, allow_nan=False)


def test_a_channel_alive_only_in_one_half_has_no_r2_but_no_crash():
    x = np.zeros((6, 1, 8, 8))
    x[0] = np.random.default_rng(0).normal(size=(8, 8))  # only image 0 (a fitting image) is non-zero
    r = measure(x)
    assert math.isnan(r.r2) and math.isfinite(r.corr_h) and r.dead_channels == 0


def test_torch_tensors_and_bad_shapes():
    r = measure(torch.as_tensor(noise(n=20), dtype=torch.float32))
    assert math.isfinite(r.r2)
    with pytest.raises(ValueError, match=r"\[n, C, H, W\]"):
        measure(np.zeros((3, 8, 8)))
    with pytest.raises(ValueError, match="3x3"):
        measure(np.zeros((3, 1, 2, 8)))
    with pytest.raises(ValueError, match="4 or 8"):
        measure(noise(n=4), neighbours=6)
