import numpy as np
import pytest

from core.engine.config import DataConfig
from core.engine.datasets import DATASETS, EXTENT, generate, make_split


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("noise", [0.0, 0.5, 1.0])
def test_every_dataset_builds_balanced_2d_points(name, noise):
    X, y = generate(name, 101, noise, seed=3)
    assert X.shape == (101, 2) and X.dtype == np.float32
    assert y.shape == (101,) and y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1}
    assert abs(int(y.sum()) - 50) <= 1
    assert np.isfinite(X).all()
    if noise == 0.0:
        assert np.abs(X).max() <= EXTENT, "noise-free points must lie inside the decision map"


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_same_seed_same_points_other_seed_other_points(name):
    a, b, c = generate(name, 50, 0.3, 1), generate(name, 50, 0.3, 1), generate(name, 50, 0.3, 2)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_noise_free_classes_are_separable_by_their_nearest_neighbours(name):
    """With no noise, a 1-nearest-neighbour rule on fresh points is almost always right."""
    X, y = generate(name, 400, 0.0, 0)
    Xq, yq = generate(name, 200, 0.0, 1)
    nearest = np.argmin(((Xq[:, None, :] - X[None]) ** 2).sum(-1), axis=1)
    assert (y[nearest] == yq).mean() > 0.95


def test_training_points_do_not_depend_on_the_validation_size():
    a = make_split(DataConfig(n_val=50))
    b = make_split(DataConfig(n_val=500))
    assert np.array_equal(a.X_train, b.X_train)
    assert len(a.X_val) == 50 and len(b.X_val) == 500
    assert not np.array_equal(a.X_val[:20], a.X_train[:20])
