"""DropConnect's experiment: the signature (the same per-unit noise variance as unit dropout on the layer's
input, but independent noise across units), where each side's masks go, settings refused with sentences,
the verdicts on a small run, cancel, determinism and a strict-JSON result."""
from __future__ import annotations

import json
import math

import pytest
import torch

from core.analysis.verdicts import FAILS, HOLDS, UNCLEAR
from core.engine.config import ConfigError
from core.labs.variants import dropconnect

SMALL = dropconnect.Settings(seeds=2, epochs=10, width=16)
DRAWS, POINTS = dropconnect.SIGNATURE_DRAWS, 8


def _layer(out_f: int = 24, in_f: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(out_f, in_f, generator=g) / math.sqrt(in_f), torch.randn(POINTS, in_f, generator=g)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_dropconnect_and_unit_dropout_give_the_same_noise_variance(p):
    weight, h = _layer()
    sig = dropconnect.noise_signature(weight, h, p, draws=DRAWS, seed=1)
    theory = math.sqrt(float((p / (1 - p) * (weight.pow(2) @ h.pow(2).T)).mean()))
    assert sig["theory_std"] == pytest.approx(theory, rel=1e-5)
    # A sample variance over n draws of a near-normal noise has a relative se of sqrt(2 / n); each unit's is
    # estimated on DRAWS draws at POINTS points (ignoring the averaging over units: conservative); the std's
    # relative se is half the variance's.
    rel = 5 * 0.5 * math.sqrt(2 / (DRAWS * POINTS))
    for side in ("dropconnect", "dropout"):
        assert sig[f"{side}_std"] == pytest.approx(theory, rel=rel), side
    assert sig["std_ratio"] == pytest.approx(1.0, abs=2 * rel)


def test_dropconnect_noise_is_uncorrelated_across_units_and_unit_dropouts_is_not():
    weight, h = _layer()
    sig = dropconnect.noise_signature(weight, h, 0.5, draws=DRAWS, seed=2)
    floor = sig["corr_floor"]
    assert floor == pytest.approx(math.sqrt(2 / (math.pi * (DRAWS - 1))))
    # Independent noise: each pair's r is about N(0, 1 / DRAWS), so the mean |r| sits at its chance level.
    assert abs(sig["dropconnect_corr"] - floor) < 0.2 * floor
    assert sig["dropout_corr"] > 4 * floor
    # Crafted: every unit reads h through the same weights, so unit dropout moves them all alike (r = 1)
    # while DropConnect still draws each unit's mask on its own.
    same = dropconnect.noise_signature(weight[:1].expand(6, -1).contiguous(), h, 0.5, draws=DRAWS, seed=3)
    assert same["dropout_corr"] == pytest.approx(1.0, abs=1e-6)
    assert abs(same["dropconnect_corr"] - floor) < 0.5 * floor
    assert same["std_ratio"] == pytest.approx(1.0, abs=0.1)


def test_the_two_placements_put_the_masks_where_they_say():
    matched, both = SMALL, dropconnect.Settings(seeds=2, epochs=10, width=16, placement="both")
    assert matched.run_config("none", 0).model.p_hidden == (0.0, 0.0)
    assert matched.run_config("dropout", 0).model.p_hidden == (0.5, 0.0)  # unit dropout on h1 ...
    dc = matched.run_config("dropconnect", 0).model  # ... against DropConnect on the weights that read h1
    assert dc.p_hidden == (0.0, 0.5) and dc.layer_variants() == ("standard", "dropconnect")
    assert both.run_config("dropout", 0).model.p_hidden == (0.5, 0.5)
    assert both.run_config("dropout", 0).model.variants == ()
    assert both.run_config("dropconnect", 0).model.variants == ("dropconnect", "dropconnect")
    # Paired: every side of a seed trains on the same data.
    assert len({matched.run_config(side, 3).data for side in dropconnect.SIDES}) == 1


@pytest.mark.parametrize("bad", [{"p": 0.0}, {"p": 0.95}, {"seeds": 1}, {"epochs": 2.5}, {"width": 1000},
                                 {"n_train": 5}, {"placement": "everywhere"}])
def test_bad_settings_are_refused_with_a_sentence(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        dropconnect.Settings(**bad)
    with pytest.raises(ConfigError, match="unknown setting"):
        dropconnect.Settings.from_json({"colour": 1})
    assert dropconnect.Settings.from_json(SMALL.to_json()) == SMALL


def test_work_grows_with_the_settings():
    base = dropconnect.work(SMALL)
    assert base > 0
    assert dropconnect.work(dropconnect.Settings(seeds=4, epochs=10, width=16)) > base
    assert dropconnect.work(dropconnect.Settings(seeds=2, epochs=10, width=64)) > base


def test_a_small_run_judges_both_claims_and_is_strict_json_and_deterministic():
    first = dropconnect.run(SMALL)
    assert not first.cancelled
    assert [name for name, _ in first.verdicts] == ["dropconnect beats none", "dropconnect agrees with dropout"]
    assert all(v.status in (HOLDS, UNCLEAR, FAILS) for _, v in first.verdicts)
    assert {row["label"] for row in first.rows} == set(dropconnect.SIDES)
    assert all(row["seeds"] == SMALL.seeds for row in first.rows)
    assert all(len(first.series[side]["epoch"]) == SMALL.epochs for side in dropconnect.SIDES)
    assert all(len(first.series[side]["val_loss"]) == SMALL.epochs for side in dropconnect.SIDES)
    sig = first.signature
    assert sig["mask"] == "per example"
    assert all(isinstance(v, float) for k, v in sig.items() if k != "mask")
    assert sig["std_ratio"] == pytest.approx(1.0, abs=0.1)  # the trained network's layer 2, real inputs
    assert sig["dropconnect_corr"] < 2 * sig["corr_floor"] < sig["dropout_corr"]
    text = json.dumps(first.to_json(), allow_nan=False)
    assert json.loads(text)["experiment"] == "dropconnect"
    again = dropconnect.run(SMALL)
    assert again.rows == first.rows and again.signature == first.signature


def test_the_unmatched_placement_runs_too():
    result = dropconnect.run(dropconnect.Settings(seeds=2, epochs=10, width=16, placement="both"))
    assert not result.cancelled and len(result.verdicts) == 2
    json.dumps(result.to_json(), allow_nan=False)


def test_cancel_returns_a_cancelled_result_without_verdicts():
    result = dropconnect.run(SMALL, cancelled=lambda: True)
    assert result.cancelled and not result.verdicts and "cancelled" in result.note
    json.dumps(result.to_json(), allow_nan=False)
