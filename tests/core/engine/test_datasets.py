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


def test_nuisance_inputs_are_appended_noise_that_leaves_the_real_points_alone():
    from core.engine.datasets import NUISANCE_STD, embed

    plain = make_split(DataConfig(n_train=400, n_val=400))
    noisy = make_split(DataConfig(n_train=400, n_val=400, nuisance=5))
    assert noisy.X_train.shape == (400, 7) and noisy.X_val.shape == (400, 7) and noisy.num_inputs == 7
    assert np.array_equal(noisy.X_train[:, :2], plain.X_train) and np.array_equal(noisy.y_train, plain.y_train)
    extra = np.concatenate([noisy.X_train[:, 2:], noisy.X_val[:, 2:]])  # 800 draws per column
    n = len(extra)
    assert np.abs(extra.mean(0)).max() < 5 * NUISANCE_STD / np.sqrt(n)
    assert np.abs(extra.std(0) / NUISANCE_STD - 1).max() < 5 / np.sqrt(2 * n)
    # unrelated to the label: the class means differ by no more than noise would make them
    y = np.concatenate([noisy.y_train, noisy.y_val])
    gap = extra[y == 1].mean(0) - extra[y == 0].mean(0)
    assert np.abs(gap).max() < 5 * NUISANCE_STD * np.sqrt(1 / (y == 1).sum() + 1 / (y == 0).sum())
    assert not np.array_equal(noisy.X_train[:, 2:4], noisy.X_val[:400, 2:4])  # train and validation draw apart
    grid = np.zeros((3, 2), dtype=np.float32)
    assert embed(grid, 7).shape == (3, 7) and not embed(grid, 7)[:, 2:].any() and embed(grid, 2) is grid


@pytest.mark.parametrize("change, message", [({"nuisance": 51}, "nuisance"), ({"nuisance": -1}, "nuisance"),
                                             ({"dataset": "digits", "nuisance": 1}, "2-D sets only")])
def test_bad_nuisance_settings_are_refused(change, message):
    from core.engine.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        DataConfig(**change)
