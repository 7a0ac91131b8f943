"""Concrete dropout's experiment: the learned p stays in (0, 1), moves from its start and is larger on less
data; the paired verdicts on crafted inputs, settings refused with sentences, cancel, and a strict-JSON,
deterministic result."""
from __future__ import annotations

import json
import math

import pytest

from core.analysis.verdicts import FAILS, HOLDS, UNCLEAR
from core.engine.config import ConfigError
from core.engine.variants import ConcreteDropout
from core.labs.variants import concrete
from core.labs.variants.common import Clock

SMALL = concrete.Settings(sizes=(20, 500), seeds=2, steps=150, width=16)


@pytest.fixture(scope="module")
def small():
    return concrete.run(SMALL)


def test_the_learned_p_is_a_probability_that_moves_from_its_start(small):
    sig = small.signature
    assert sig["p_start"] == SMALL.p_start
    for row in small.rows:
        for key in ("p", "p_layer1", "p_layer2"):
            assert 0 < row[key] < 1, (row["label"], key)
            assert abs(row[key] - SMALL.p_start) > 0.01, (row["label"], key)  # it learned something
    # 20 points: the regularizer's 2K/N pull towards 0.5 dominates; 500: the data's pull keeps p far lower.
    assert sig["p_n20"] > SMALL.p_start + 0.1
    assert sig["p_n20"] > sig["p_n500"]
    assert [verdict.status for _, verdict in small.verdicts] == [HOLDS, HOLDS]


def test_the_trajectory_starts_at_p_start_and_ends_at_the_learned_p(small):
    trajectories = small.series["p trajectory"]
    assert set(trajectories) == {f"n={n}" for n in SMALL.sizes}
    for n in SMALL.sizes:
        t = trajectories[f"n={n}"]
        assert len(t["step"]) == len(t["p"]) <= concrete.MAX_POINTS
        assert t["step"][0] == 0 and t["step"][-1] == SMALL.steps
        assert t["p"][0] == pytest.approx(SMALL.p_start, abs=1e-6)
        assert t["p"][-1] == pytest.approx(small.signature[f"p_n{n}"], abs=1e-6)  # mean over seeds of the final p
    final = small.series["learned p"]["mean over seeds"]
    assert final["n_train"] == [float(n) for n in SMALL.sizes]
    assert final["p"] == [small.signature[f"p_n{n}"] for n in SMALL.sizes]


@pytest.mark.parametrize("n_train", [20, 500])
def test_the_trainer_gives_each_layers_regularizer_the_training_set_size(monkeypatch, n_train):
    seen = []
    original = ConcreteDropout.regularizer

    def spy(self, weight, n):
        seen.append((self, weight.shape[1], n))
        return original(self, weight, n)

    monkeypatch.setattr(ConcreteDropout, "regularizer", spy)
    clock = Clock(20, None, None)
    concrete.train_one(concrete.Settings(steps=20, width=16), n_train, 0, clock)
    assert len(seen) == 2 * 20  # both hidden layers, every step
    assert {n for _, _, n in seen} == {n_train}
    assert {k for _, k, _ in seen} == {16}  # K: the width the reading Linear takes in


@pytest.mark.parametrize("steps", [20, 150, 1000, 20_000])
def test_a_trajectory_keeps_at_most_max_points_from_the_start_to_the_end(steps):
    marks = concrete.record_steps(steps)
    assert marks[0] == 0 and marks[-1] == steps and marks == sorted(set(marks))
    assert len(marks) == min(steps + 1, concrete.MAX_POINTS)


def test_the_verdicts_are_paired_checks_over_every_adjacent_pair_of_sizes():
    seeds = range(8)
    falling = {20: {s: 0.45 + 0.001 * s for s in seeds}, 100: {s: 0.30 + 0.001 * s for s in seeds},
               500: {s: 0.15 + 0.001 * s for s in seeds}}
    assert [v.status for _, v in concrete.judge(falling)] == [HOLDS, HOLDS]
    assert len(concrete.judge(falling)[1][1].checks) == 2  # 20 vs 100, 100 vs 500
    bump = {**falling, 100: {s: 0.50 + 0.001 * s for s in seeds}}  # rises from 20 to 100, then falls
    assert [v.status for _, v in concrete.judge(bump)] == [HOLDS, FAILS]
    noisy = {20: {s: 0.3 + (0.05 if s % 2 else -0.05) for s in seeds}, 500: {s: 0.3 for s in seeds}}
    assert [v.status for _, v in concrete.judge(noisy)] == [UNCLEAR, UNCLEAR]


@pytest.mark.parametrize("bad, says", [
    ({"sizes": (100, 20)}, "sizes must increase"), ({"sizes": (20, 20)}, "sizes must increase"),
    ({"sizes": (20,)}, "sizes needs 2 to 6"), ({"sizes": (20, 40, 60, 80, 100, 120, 140)}, "sizes needs 2 to 6"),
    ({"sizes": (10, 100)}, "sizes"), ({"sizes": (20, 5000)}, "sizes"), ({"sizes": "20,100"}, "list"),
    ({"p_start": 0.0}, "p_start"), ({"p_start": 0.9}, "p_start"), ({"seeds": 1}, "seeds"),
    ({"steps": 10}, "steps"), ({"steps": 100.5}, "steps"), ({"width": 1000}, "width"), ({"lr": 1.0}, "lr"),
])
def test_bad_settings_are_refused_with_a_sentence(bad, says):
    with pytest.raises(ConfigError, match=says):
        concrete.Settings(**bad)


def test_settings_round_trip_through_json():
    with pytest.raises(ConfigError, match="unknown setting"):
        concrete.Settings.from_json({"colour": 1})
    again = concrete.Settings.from_json(json.loads(json.dumps(SMALL.to_json())))  # sizes come back as a list
    assert again == SMALL and again.sizes == (20, 500)


def test_the_work_estimate_grows_with_the_run():
    assert 0 < concrete.work(SMALL) < concrete.work(concrete.Settings())
    assert concrete.work(concrete.Settings(seeds=16)) == pytest.approx(2 * concrete.work(concrete.Settings()))


def test_the_result_is_strict_json_and_deterministic(small):
    assert [name for name, _ in small.verdicts] == ["p is larger at the smallest size", "p falls at every step up in size"]
    out = json.loads(json.dumps(small.to_json(), allow_nan=False))
    assert out["experiment"] == "concrete" and not out["cancelled"]
    assert all(isinstance(v, float) and math.isfinite(v) for v in small.signature.values())
    again = concrete.run(SMALL)
    assert again.rows == small.rows and again.series == small.series and again.signature == small.signature


def test_cancel_returns_a_cancelled_result():
    # A run of minutes if it were not cancelled: the clock polls ``cancelled`` after its first 0.2 s.
    long = concrete.Settings(sizes=(20, 2000), seeds=2, steps=20_000, width=16)
    result = concrete.run(long, cancelled=lambda: True)
    assert result.cancelled and not result.verdicts and "cancelled" in result.note
    assert json.dumps(result.to_json(), allow_nan=False)
