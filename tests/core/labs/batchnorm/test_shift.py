"""Lesson 8, part 1: the variance shift measured per BatchNorm layer matches its closed form.

Each unit's gap between measured and predicted ratio comes with its standard error (mask sampling over
1,797 images x 4 masks, given the images); seeded, so a bound of 4.5 standard errors on the largest of
64 units fails by chance about once in 2,000 settings and never on a rerun."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from core.engine.config import ConfigError
from core.labs.batchnorm.shift import ShiftSettings, measure_shift

BOUND = 4.5


def _run(**kw):
    return measure_shift(ShiftSettings(train_steps=150, **kw))


@pytest.mark.parametrize("noise,p", [("dropout", 0.5), ("dropout", 0.2), ("gaussian", 0.5), ("uout", 0.0)])
def test_each_unit_s_measured_shift_matches_the_closed_form_within_its_standard_error(noise, p):
    result = _run(noise=noise, p=p, beta=0.3)
    s2 = result.settings.s2
    assert s2 > 0
    for layer in result.layers[1:]:
        assert len(layer.measured) > 32  # most units alive: the comparison is over many
        assert max(abs(z) for z in layer.z) < BOUND, layer.layer
        assert max(abs(z) for z in layer.direct_z) < BOUND, layer.layer
        # and the gap is small in itself, not only in standard errors
        assert np.allclose(layer.measured, layer.predicted, rtol=0.05)


def test_a_relu_s_output_is_not_zero_mean_so_the_shift_is_larger_than_one_over_one_minus_p():
    result = _run(p=0.5)
    for layer in result.layers[1:]:
        summary = layer.summary(result.settings.s2)
        assert summary["zero_mean_form"] == pytest.approx(2.0)
        assert min(layer.direct_predicted) > 2.0  # (1 + p mu^2 / sigma^2) / (1 - p) with mu > 0
        assert summary["direct_measured"] > 2.0


def test_the_first_batchnorm_reads_no_dropout_and_p_zero_shifts_nothing():
    result = _run(p=0.0)
    for layer in result.layers:
        assert np.allclose(layer.measured, 1.0) and np.allclose(layer.predicted, 1.0)
    first = _run(p=0.5).layers[0]
    assert not first.reads_noise and np.allclose(first.measured, 1.0)


def test_the_shift_grows_with_p_and_uout_s_is_tiny():
    means = [np.mean(_run(p=p).layers[1].direct_measured) for p in (0.1, 0.3, 0.5)]
    assert means[0] < means[1] < means[2]
    uout = _run(noise="uout", beta=0.1).layers[1]
    assert abs(np.mean(uout.direct_measured) - 1.0) < 0.01  # 1 + (0.1^2 / 3)(1 + mu^2/sigma^2)


def test_after_training_with_dropout_the_running_variance_exceeds_what_the_layer_sees_at_test_time():
    """The shift as the trained network lives it: BatchNorm 2 stored the inflated training variance."""
    with_dropout = measure_shift(ShiftSettings(p=0.5, train_steps=300))
    without = measure_shift(ShiftSettings(p=0.0, train_steps=300))
    assert np.mean(with_dropout.layers[1].stored) > 1.1
    assert abs(np.mean(without.layers[1].stored) - 1.0) < 0.1
    untrained = measure_shift(ShiftSettings(p=0.5, train_steps=0))
    assert untrained.layers[1].stored == []  # running statistics not learnt: nothing to compare


@pytest.mark.parametrize("bad", [dict(p=0.95), dict(p=math.nan), dict(width=4), dict(depth=1),
                                 dict(noise="salt"), dict(repeats=0), dict(train_steps=-1)])
def test_bad_settings_are_refused_with_a_sentence(bad):
    with pytest.raises(ConfigError):
        ShiftSettings(**bad)
    with pytest.raises(ConfigError, match="unknown"):
        ShiftSettings.from_json({"colour": 1})


def test_the_command_line_reproduces_it_headless_as_json(tmp_path):
    out = tmp_path / "shift.json"
    run = subprocess.run([sys.executable, "-m", "core", "reproduce", "bn-shift", "--set", "p=0.3",
                          "--set", "train_steps=100", "--json", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "BN 2" in run.stdout
    data = json.loads(out.read_text())
    assert data["config"]["p"] == 0.3 and data["s2"] == pytest.approx(0.3 / 0.7)
    assert [row["layer"] for row in data["summary"]] == [1, 2, 3]
    bad = subprocess.run([sys.executable, "-m", "core", "reproduce", "bn-shift", "--set", "p=2"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "p must be in" in bad.stderr and "Traceback" not in bad.stderr
