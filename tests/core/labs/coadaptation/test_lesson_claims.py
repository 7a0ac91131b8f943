"""Lesson 4's "What to notice" and its predictions quote numbers; these tests recompute them.

The defaults of the page (core/ui/labs/coadaptation.py DEFAULTS): moons, noise 0.5, 40 training and
400 validation points, one hidden layer of 16 ReLU units, p = 0.5 against p = 0, Adam, 300
epochs, seeds 0-7; each seed gives both runs the same data and initial weights. Every sentence
is checked at the rounding the lesson prints, or with a paired t-test where it claims a
difference.
"""
from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from core.analysis.coadaptation import measure
from core.engine.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine.trainer import Trainer
from core.labs.overfitting.verdicts import t_critical
from core.ui.labs.coadaptation import DEFAULTS

SEEDS = range(8)
CHECKPOINTS = (30, 300)
LESSON = (Path(__file__).resolve().parents[4] / "lessons" / "04_coadaptation.md").read_text(encoding="utf-8")
PREDICTIONS = tomllib.loads((Path(__file__).resolve().parents[4] / "lessons" / "04_coadaptation_predictions.toml")
                            .read_text(encoding="utf-8"))


def _config(seed: int, p: float) -> RunConfig:
    d = DEFAULTS
    return RunConfig(
        DataConfig(dataset=d["dataset"], noise=d["noise"], n_train=d["n_train"], n_val=400, seed=seed),
        ModelConfig(num_hiddens=(d["width"],) * d["layers"], activation=d["activation"], p_hidden=(p,)),
        TrainConfig(max_epochs=d["epochs"], device="cpu"),
    )


@pytest.fixture(scope="module")
def stats() -> dict[tuple[int, float, str], np.ndarray]:
    """(epoch, p, statistic) -> one value per seed."""
    out: dict[tuple[int, float, str], list[float]] = {}
    for seed in SEEDS:
        for p in (0.0, DEFAULTS["p"]):
            trainer = Trainer(_config(seed, p), evaluate=False)
            while not trainer.finished:
                trainer.step()
                if trainer.epoch in CHECKPOINTS and trainer.step_count % -(-trainer.n_train // 16) == 0:
                    snap = measure(trainer.model, trainer.X_val, trainer.y_val, 0)
                    values = {**snap.lead(), "mean_activation": float(snap.sparsity.unit_mean.mean()),
                              "val_acc": snap.knockout.base_acc}
                    for key, value in values.items():
                        out.setdefault((trainer.epoch, p, key), []).append(value)
    return {k: np.array(v) for k, v in out.items()}


def _pair(stats, key, epoch=300):
    return stats[(epoch, 0.0, key)], stats[(epoch, DEFAULTS["p"], key)]


def _t(diffs: np.ndarray) -> float:
    return diffs.mean() / (diffs.std(ddof=1) / math.sqrt(len(diffs)))


def test_the_defaults_are_the_ones_the_lesson_describes():
    assert (DEFAULTS["dataset"], DEFAULTS["noise"], DEFAULTS["n_train"], DEFAULTS["width"], DEFAULTS["layers"],
            DEFAULTS["p"], DEFAULTS["epochs"]) == ("moons", 0.5, 40, 16, 1, 0.5, 300)
    assert "moons, noise 0.5, 40 training points, one hidden layer of 16 ReLU units" in LESSON


def test_knockout_damage_the_worst_unit(stats):
    without, with_ = _pair(stats, "ko_max")
    assert (round(without.mean(), 2), round(with_.mean(), 2)) == (0.18, 0.02)
    assert np.all(without > with_), "the lesson says every one of the 8 seeds agrees"
    assert "costs 0.18 nats of\n  validation loss without dropout and 0.02 with it" in LESSON


def test_knockout_damage_the_mean_unit(stats):
    without, with_ = _pair(stats, "ko_mean")
    assert (round(without.mean(), 3), round(with_.mean(), 3)) == (0.011, -0.007)
    assert _t(without - with_) > t_critical(len(SEEDS)), "they differ from each other"
    assert abs(_t(without)) < t_critical(len(SEEDS)) and abs(_t(with_)) < t_critical(len(SEEDS)), \
        "neither differs from zero beyond noise"
    assert "(−0.007 nats with\n  dropout, +0.011 without; neither differs from zero beyond noise" in LESSON


def test_the_gap_opens_with_training(stats):
    without, with_ = _pair(stats, "ko_max", epoch=30)
    assert (round(without.mean(), 2), round(with_.mean(), 2)) == (0.06, 0.05)
    assert abs(_t(without - with_)) < t_critical(len(SEEDS)), "at epoch 30 the difference is within noise"


def test_correlation_does_not_fall(stats):
    without, with_ = _pair(stats, "corr_mean_abs")
    assert (round(with_.mean(), 2), round(without.mean(), 2)) == (0.60, 0.51)
    assert _t(with_ - without) > t_critical(len(SEEDS)), "on seeds 0-7 dropout's units are MORE correlated"


def test_correlation_on_the_next_eight_seeds():
    values = {p: [] for p in (0.0, DEFAULTS["p"])}
    for seed in range(8, 16):
        for p in values:
            trainer = Trainer(_config(seed, p), evaluate=False)
            while not trainer.finished:
                trainer.step()
            values[p].append(measure(trainer.model, trainer.X_val, trainer.y_val, 0).lead()["corr_mean_abs"])
    without, with_ = np.array(values[0.0]), np.array(values[DEFAULTS["p"]])
    assert (round(with_.mean(), 2), round(without.mean(), 2)) == (0.58, 0.54)
    assert abs(_t(with_ - without)) < t_critical(len(with_)), "the lesson calls it within noise"
    assert "0.58 against 0.54 on seeds 8-15 (within noise there)" in \
        {p["id"]: p for p in PREDICTIONS["prediction"]}["correlation"]["explanation"]


def test_sparsity_more_zeros_and_lower_means(stats):
    without, with_ = _pair(stats, "zero_fraction")
    assert (round(100 * with_.mean()), round(100 * without.mean())) == (55, 47)
    assert _t(with_ - without) > t_critical(len(SEEDS))
    without, with_ = _pair(stats, "mean_activation")
    assert (round(with_.mean(), 2), round(without.mean(), 2)) == (0.34, 0.44)
    assert _t(without - with_) > t_critical(len(SEEDS))


def test_the_network_without_dropout_is_more_accurate_here(stats):
    without, with_ = _pair(stats, "val_acc")
    assert (round(100 * without.mean(), 1), round(100 * with_.mean(), 1)) == (88.7, 86.6)
    assert _t(without - with_) > t_critical(len(SEEDS))


def test_the_predictions_quote_the_same_numbers():
    by_id = {p["id"]: p for p in PREDICTIONS["prediction"]}
    assert "0.18 nats of validation loss without dropout and 0.02 with it" in by_id["knockout"]["explanation"]
    assert "0.60 against 0.51" in by_id["correlation"]["explanation"]
    assert "55 % of activations are zero with dropout against 47 %" in by_id["sparsity"]["explanation"]
    assert "(0.34 against 0.44)" in by_id["sparsity"]["explanation"]


def test_the_sources_are_quoted_for_what_they_say():
    """The term's origin and Fig. 7's reading, as the papers put them (no numbers: nothing to recompute)."""
    text = " ".join(LESSON.split())
    assert 'Hinton et al. (2012) named their paper "Improving neural networks by preventing co-adaptation of feature ' \
           'detectors"' in text
    assert "the units seem to detect edges, strokes and spots in different parts of the image" in text
    assert "less noisy" not in text and "a proxy of its own that is not the paper's" in text
    assert "Fig. 7's sparser" not in text and "Fig. 8's sparser activations do reproduce" in text
