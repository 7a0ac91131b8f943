"""Stochastic depth on a residual MLP: blocks used per step against depth (1 - p), the compute saved, the
verdicts on crafted numbers, settings refused with sentences, cancel, strict JSON and determinism."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from core.analysis.verdicts import FAILS, HOLDS, UNCLEAR
from core.engine.config import ConfigError
from core.engine.dropout import train_mode
from core.engine.variant_models import build_residual
from core.labs.variants import droppath

SMALL = droppath.Settings(seeds=2, epochs=3, depth=4, width=8)


@pytest.mark.parametrize("bad", [{"p": 0.0}, {"p": 0.95}, {"seeds": 1}, {"epochs": 2.5}, {"depth": 1},
                                 {"width": 1000}, {"n_train": 5}])
def test_bad_settings_are_refused_with_a_sentence(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        droppath.Settings(**bad)
    with pytest.raises(ConfigError, match="unknown setting"):
        droppath.Settings.from_json({"colour": 1})


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_a_training_pass_runs_depth_times_one_minus_p_blocks_per_example(p):
    depth, n, passes = 16, 256, 10
    model = train_mode(build_residual(0, depth=depth, width=8, p=p))
    model.set_generator(torch.Generator().manual_seed(2))
    used = []
    with torch.no_grad():
        for _ in range(passes):
            model(torch.randn(n, 2))
            assert model.path_masks().shape == (depth, n)
            used.append(model.blocks_used())
    # each pass: the mean over n examples of a Binomial(depth, 1 - p) count
    se = math.sqrt(depth * p * (1 - p) / (n * passes))
    assert abs(float(np.mean(used)) - depth * (1 - p)) < 5 * se
    plain = train_mode(build_residual(0, depth=depth, width=8, p=0.0))
    plain(torch.randn(n, 2))
    assert plain.blocks_used() == depth and plain.path_masks() is None


def test_the_compute_saved_is_the_dropped_branches_share_of_the_multiply_adds():
    s = droppath.Settings(p=0.25, depth=16, width=32)
    sig = droppath.signature(s, {0: s.theory_blocks, 1: s.theory_blocks})
    assert sig["blocks_used"] == sig["theory_blocks"] == 12.0 and sig["branches_saved"] == pytest.approx(0.25)
    branch = 16 * 2 * 32**2
    assert sig["compute_saved"] == pytest.approx(0.25 * branch / (branch + 4 * 32))


def test_the_verdicts_follow_the_paired_differences():
    s = droppath.Settings()
    near = {seed: s.theory_blocks + 0.01 * (seed % 3 - 1) for seed in range(6)}
    far = {seed: s.theory_blocks - 1.0 + 0.01 * (seed % 3) for seed in range(6)}
    loss = {seed: 1.0 + 0.1 * seed for seed in range(6)}
    lower = {seed: v - 0.3 for seed, v in loss.items()}
    noisy = {seed: v + (0.5 if seed % 2 else -0.5) for seed, v in loss.items()}
    good = dict(droppath.judge(s, near, {"none": loss, "droppath": lower}))
    assert good["blocks used match depth (1 - p)"].status == HOLDS and good["droppath beats none"].status == HOLDS
    bad = dict(droppath.judge(s, far, {"none": lower, "droppath": loss}))
    assert bad["blocks used match depth (1 - p)"].status == FAILS and bad["droppath beats none"].status == FAILS
    assert dict(droppath.judge(s, near, {"none": loss, "droppath": noisy}))["droppath beats none"].status == UNCLEAR


def test_a_small_run_records_blocks_every_step_and_is_strict_json_and_deterministic():
    first = droppath.run(SMALL)
    assert not first.cancelled
    assert [name for name, _ in first.verdicts] == ["blocks used match depth (1 - p)", "droppath beats none"]
    assert {row["label"] for row in first.rows} == set(droppath.SIDES)
    assert all(first.series[side]["epoch"] == [1.0, 2.0, 3.0] for side in droppath.SIDES)
    blocks = first.series["blocks_used"]
    n_steps = SMALL.epochs * SMALL.steps_per_epoch
    assert blocks["droppath"]["step"] == [float(i) for i in range(1, n_steps + 1)]
    assert blocks["none"]["blocks_used"] == [float(SMALL.depth)] * n_steps
    # per step, the mean over its examples of Binomial(depth, 1 - p); the 40 points go 16, 16, 8 per epoch
    sizes = [16, 16, 8] * SMALL.epochs
    var_mean = sum(SMALL.depth * SMALL.p * (1 - SMALL.p) / n for n in sizes) / len(sizes) ** 2 / SMALL.seeds
    assert abs(first.signature["blocks_used"] - SMALL.theory_blocks) < 5 * math.sqrt(var_mean)
    mask = first.signature["branch_mask"]  # the last step's branches, drawn on the page: block x example
    assert len(mask) == SMALL.depth and all(set(row) <= {0, 1} for row in mask)
    assert all(isinstance(v, float) for k, v in first.signature.items() if k != "branch_mask")
    text = json.dumps(first.to_json(), allow_nan=False)
    assert json.loads(text)["experiment"] == "droppath"
    again = droppath.run(SMALL)
    assert again.rows == first.rows and again.series == first.series


def test_the_blocks_series_is_thinned_to_at_most_300_points():
    s = droppath.Settings(seeds=2, epochs=120, depth=2, width=4)  # 360 steps
    runs = {side: {seed: {"curve": {"epoch": [1.0], "val_loss": [0.5]}, "blocks": [1.5] * 360} for seed in range(2)}
            for side in droppath.SIDES}
    blocks = droppath.series_of(s, runs)["blocks_used"]
    steps = blocks["droppath"]["step"]
    assert len(steps) <= droppath.MAX_POINTS and steps[0] == 1.0 and steps[-1] == 360.0


def test_cancel_returns_a_cancelled_result_without_verdicts():
    result = droppath.run(SMALL, cancelled=lambda: True)
    assert result.cancelled and not result.verdicts and "cancelled" in result.note
    assert droppath.work(SMALL) > 0
