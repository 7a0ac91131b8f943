"""Early dropout's experiment: every dropout p is p for the first E epochs and 0 after them (on the early side
only); the cosine schedule; the paired verdicts on crafted inputs; settings refused with sentences; cancel;
a strict-JSON, deterministic result."""
from __future__ import annotations

import json
import math

import pytest

from core.analysis.verdicts import FAILS, HOLDS, UNCLEAR
from core.engine.config import ConfigError
from core.labs.variants import early
from core.labs.variants.common import Clock
from core.labs.variants.mlp_runs import steps_of, train_sides

SMALL = early.Settings(seeds=2, epochs=6, early_epochs=3, n_train=200, width=8, p=0.2)


@pytest.fixture(scope="module")
def small():
    return early.run(SMALL)


def rates_by_epoch(s: early.Settings, seeds: int = 2) -> dict[tuple[str, int], list[tuple[int, list[float], float]]]:
    """(side, seed) -> for each epoch: (epoch, every dropout's p in force during it, the lr during it)."""
    seen: dict[tuple[str, int], list[tuple[int, list[float], float]]] = {}
    hook = early.schedule(s)

    def on_epoch(side, seed, trainer):
        seen.setdefault((side, seed), []).append(
            (trainer.epoch, [d.p for d in trainer.model.dropouts], trainer.optimizer.param_groups[0]["lr"]))
        hook(side, seed, trainer)

    clock = Clock(len(early.SIDES) * seeds * steps_of(s.run_config("none", 0)), None, None)
    train_sides(early.SIDES, seeds, s.run_config, clock, on_epoch)
    return seen


def test_every_dropout_is_p_for_the_early_epochs_then_zero():
    seen = rates_by_epoch(SMALL)
    e = SMALL.early_epochs
    for seed in range(2):
        assert [epoch for epoch, _, _ in seen[("early", seed)]] == list(range(1, SMALL.epochs + 1))
        for epoch, ps, _ in seen[("early", seed)]:
            assert ps == ([0.0, SMALL.p, SMALL.p] if epoch <= e else [0.0, 0.0, 0.0]), epoch  # input first
        assert all(ps == [0.0, SMALL.p, SMALL.p] for _, ps, _ in seen[("standard", seed)])
        assert all(ps == [0.0, 0.0, 0.0] for _, ps, _ in seen[("none", seed)])
        assert all(lr == early.LR for _, _, lr in seen[("early", seed)])  # no cosine: a constant lr


def test_the_result_records_the_schedule_and_the_switch_off_epoch(small):
    schedule = small.series["p_schedule"]
    assert schedule["epoch"] == [float(e) for e in range(1, SMALL.epochs + 1)]
    assert schedule["p"] == [SMALL.p] * SMALL.early_epochs + [0.0] * (SMALL.epochs - SMALL.early_epochs)
    assert small.signature["switch_off_epoch"] == SMALL.early_epochs == small.series["switch_off_epoch"]
    for side in early.SIDES:
        curves = small.series[side]
        assert curves["epoch"] == [float(e) for e in range(1, SMALL.epochs + 1)]
        assert len(curves["train_loss"]) == len(curves["val_loss"]) == SMALL.epochs
        row = next(r for r in small.rows if r["label"] == side)
        assert small.signature[f"train_loss_{side}"] == row["train_loss"]
        assert 0 < row["train_loss"] < math.log(2) + 0.2  # better than chance-ish, finite


def test_the_cosine_schedule_decays_the_lr_on_every_side():
    assert early.cosine_lr(0, 10) == pytest.approx(early.LR)
    assert early.cosine_lr(5, 10) == pytest.approx(early.LR / 2)
    assert early.cosine_lr(10, 10) == early.MIN_LR
    s = early.Settings(seeds=2, epochs=4, early_epochs=2, n_train=100, width=4, cosine=True)
    seen = rates_by_epoch(s, seeds=1)
    for side in early.SIDES:
        assert [lr for _, _, lr in seen[(side, 0)]] == pytest.approx([early.cosine_lr(e, 4) for e in range(4)])


def test_the_verdicts_are_paired_checks_against_each_other_side():
    seeds = range(8)
    none = {s: 0.30 + 0.01 * s for s in seeds}
    standard = {s: 0.40 + 0.01 * s for s in seeds}
    lower = {s: 0.20 + 0.01 * s for s in seeds}
    assert [v.status for _, v in early.judge({"none": none, "standard": standard, "early": lower})] == [HOLDS, HOLDS]
    between = {s: 0.35 + 0.01 * s for s in seeds}  # worse than none, better than standard
    assert [v.status for _, v in early.judge({"none": none, "standard": standard, "early": between})] == [FAILS, HOLDS]
    noisy = {s: v + (0.05 if s % 2 else -0.05) for s, v in none.items()}
    assert early.judge({"none": none, "standard": standard, "early": noisy})[0][1].status == UNCLEAR


@pytest.mark.parametrize("bad, says", [
    ({"p": 0.0}, "p"), ({"p": 0.95}, "p"), ({"seeds": 1}, "seeds"), ({"epochs": 2}, "epochs"),
    ({"early_epochs": 0}, "early_epochs"), ({"early_epochs": 60}, "fewer than epochs"),
    ({"early_epochs": 2.5}, "early_epochs"), ({"n_train": 50}, "n_train"), ({"width": 1}, "width"),
    ({"width": 100}, "width"), ({"cosine": "yes"}, "cosine"),
])
def test_bad_settings_are_refused_with_a_sentence(bad, says):
    with pytest.raises(ConfigError, match=says):
        early.Settings(**bad)
    with pytest.raises(ConfigError, match="unknown setting"):
        early.Settings.from_json({"colour": 1})


def test_the_work_estimate_grows_with_the_run():
    assert 0 < early.work(SMALL) < early.work(early.Settings())
    assert early.work(early.Settings(seeds=16)) == pytest.approx(2 * early.work(early.Settings()))


def test_the_claims_and_a_strict_deterministic_result(small):
    assert [name for name, _ in small.verdicts] == ["early beats none on training loss",
                                                   "early beats standard on training loss"]
    assert {row["label"] for row in small.rows} == set(early.SIDES)
    out = json.loads(json.dumps(small.to_json(), allow_nan=False))
    assert out["experiment"] == "early-dropout" and not out["cancelled"]
    again = early.run(SMALL)
    assert again.rows == small.rows and again.series == small.series and again.signature == small.signature


def test_cancel_returns_a_cancelled_result():
    # A run of minutes if it were not cancelled: the clock polls ``cancelled`` after its first 0.2 s.
    long = early.Settings(seeds=2, epochs=500, early_epochs=3, n_train=2000, width=8)
    result = early.run(long, cancelled=lambda: True)
    assert result.cancelled and not result.verdicts and "cancelled" in result.note
    assert json.dumps(result.to_json(), allow_nan=False)
