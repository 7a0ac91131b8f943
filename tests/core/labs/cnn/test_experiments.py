"""Lesson 6's spatial experiment: the verdicts on hand-made members, the settings' sentences, and a small
real run that comes back well formed."""
import json
import math

import pytest

from core.analysis.verdicts import FAILS, HOLDS, UNCLEAR
from core.engine.config import ConfigError
from core.labs.cnn.experiments import CLAIMS, KINDS, SpatialSettings, judge_spatial, run_spatial, spatial_work


def reject(constant: str):
    raise AssertionError(f"{constant} is not valid JSON")


def members(losses: dict[str, list[float]]) -> list[dict]:
    """Hand-made sweep members: kind -> final validation loss per seed."""
    return [{"label": kind, "seed": seed, "val_loss": loss, "val_acc": 0.9, "train_loss": 0.1, "train_acc": 1.0}
            for kind, values in losses.items() for seed, loss in enumerate(values)]


def statuses(table) -> dict[str, str]:
    return {name: verdict.status for name, verdict in judge_spatial(members(table))}


def test_the_claims_name_every_kind():
    assert [name for name, _ in judge_spatial(members({k: [0.1, 0.2] for k in KINDS}))] == [
        f"{w} beats {lo}" for w, lo, _ in CLAIMS]


def test_clear_paired_wins_hold_and_clear_losses_do_not():
    table = {
        "none": [0.30, 0.40, 0.35, 0.32],
        "element": [0.25, 0.35, 0.30, 0.27],   # 0.05 below none on every seed
        "channel": [0.20, 0.31, 0.24, 0.23],   # below element on every seed, by 0.04-0.06
        "block": [0.29, 0.40, 0.33, 0.31],     # above element on every seed
    }
    assert statuses(table) == {"element beats none": HOLDS, "channel beats element": HOLDS,
                               "block beats element": FAILS}


def test_pairing_matters_a_seed_spread_larger_than_the_gap_still_holds():
    # Seeds differ by 0.2 between them, the kinds by a steady 0.01: paired, that is clear.
    table = {k: [0.2, 0.4, 0.6, 0.3] for k in KINDS}
    table["channel"] = [v - 0.01 + 0.001 * i for i, v in enumerate(table["element"])]
    assert statuses(table)["channel beats element"] == HOLDS


def test_noise_and_single_seeds_are_unclear():
    table = {"none": [0.30, 0.31, 0.29], "element": [0.31, 0.29, 0.30],
             "channel": [0.28, 0.33, 0.30], "block": [0.30, 0.30, 0.31]}
    assert set(statuses(table).values()) == {UNCLEAR}
    assert set(statuses({k: [0.1 * (i + 1)] for i, k in enumerate(KINDS)}).values()) == {UNCLEAR}


def test_a_diverged_seed_is_left_out_of_the_pairs():
    table = {"none": [0.4, 0.5, 0.45], "element": [0.3, math.nan, 0.35],
             "channel": [0.2, 0.3, 0.25], "block": [0.3, 0.4, 0.35]}
    verdicts = dict(judge_spatial(members(table)))
    assert "over 2 seeds" in verdicts["element beats none"].checks[0].detail
    assert verdicts["channel beats element"].checks[0].detail.startswith("element 0.325 vs channel 0.225")


@pytest.mark.parametrize("change, says", [
    ({"p": 0.0}, "p must be in [0.01, 0.95]"),
    ({"p": 1.0}, "p must be in [0.01, 0.95]"),
    ({"seeds": 1}, "seeds must be in [2, 20]"),
    ({"seeds": 2.5}, "seeds must be a whole number"),
    ({"epochs": 0}, "epochs must be in [1, 200]"),
    ({"image_size": 24}, "image_size must be 8 or 16"),
    ({"block_size": 9}, "block_size must be in [1, 8]"),
    ({"channels": ()}, "number of conv layers must be in [1, 3]"),
    ({"channels": (8, 0)}, "channels must be in [1, 32]"),
    ({"n_train": 1000, "n_val": 1000}, "n_train must be in [20, 797]"),
    ({"batch_size": 400}, "batch_size must be in [1, 300]"),
])
def test_settings_say_what_is_wrong(change, says):
    with pytest.raises(ConfigError) as error:
        SpatialSettings(**change)
    assert says in str(error.value)


def test_settings_from_json_refuse_unknown_names_and_read_lists():
    assert SpatialSettings.from_json({"channels": [4, 4]}).channels == (4, 4)
    with pytest.raises(ConfigError, match="unknown setting"):
        SpatialSettings.from_json({"rates": [0.1]})


def test_the_work_grows_with_the_image_and_the_seeds():
    base = spatial_work(SpatialSettings())
    assert spatial_work(SpatialSettings(image_size=16)) > 3.5 * base
    assert spatial_work(SpatialSettings(seeds=4)) == pytest.approx(base / 2)


def test_a_small_real_run_is_well_formed():
    s = SpatialSettings(seeds=2, epochs=2, n_train=64, n_val=100, channels=(4, 4))
    result = run_spatial(s)
    data = json.loads(json.dumps(result.to_json()), parse_constant=reject)
    assert data["experiment"] == "spatial" and not data["cancelled"] and data["config"]["seeds"] == 2
    assert len(data["members"]) == 2 * len(KINDS)
    assert {(m["label"], m["seed"]) for m in data["members"]} == {(k, s) for k in KINDS for s in (0, 1)}
    assert all(m["kinds"] == [m["label"]] * 2 for m in data["members"])
    assert [row["label"] for row in data["summary"]] == list(KINDS)
    assert all(row["seeds"] == 2 and row["val_loss"] > 0 for row in data["summary"])
    assert [v["claim"] for v in data["verdicts"]] == [f"{w} beats {lo}" for w, lo, _ in CLAIMS]
    assert all(v["status"] in (HOLDS, UNCLEAR, FAILS) and len(v["checks"]) == 1 for v in data["verdicts"])


def test_a_cancelled_run_says_so():
    result = run_spatial(SpatialSettings(seeds=2, epochs=2), cancelled=lambda: True)
    data = result.to_json()
    assert result.cancelled and data["cancelled"] and data["verdicts"] == [] and data["summary"] == []
