"""Lesson 8, part 4: the learning-rate x p and batch-size x p sweep (core.labs.batchnorm.lr).

The runs here are tiny (a few dozen steps, two seeds): they check the shape of the result, its numbers,
progress, cancelling and divergence, not the lesson's verdicts (those need the default run)."""
import json
import math

import pytest

from core.analysis.verdicts import FAILS, HOLDS, UNCLEAR
from core.engine.config import ConfigError
from core.labs.batchnorm.lr import KEY, LRSettings, best_lr, best_score, judge, lines, run_lr, work

TINY = dict(steps=20, seeds=2, sgd_lrs=(0.1, 0.3), momentum_lrs=(0.01, 0.03), adam_lrs=(0.001, 0.003),
            batch_sizes=(8, 32), batch_lr=0.3)


@pytest.fixture(scope="module")
def tiny():
    reports = []
    result = run_lr(LRSettings(**TINY), progress=reports.append)
    return result, reports


@pytest.mark.parametrize("setting,value", [
    ("dataset", "mnist"), ("noise", 1.5), ("n_train", 10), ("width", 0), ("depth", 9), ("depth", 2.0),
    ("ps", (0.5, 0.8)), ("ps", (0.0,)), ("ps", (0.0, 0.95)), ("ps", 0.5), ("optimizers", ("rmsprop",)),
    ("optimizers", ()), ("sgd_lrs", (0.1,)), ("momentum_lrs", (0.0, 0.1)), ("adam_lrs", (0.001, 20.0)),
    ("sgd_lrs", ("fast", 0.1)), ("batch_size", 0), ("batch_sizes", (8, 5000)), ("batch_sizes", (8.5, 32)),
    ("batch_lr", -1.0), ("steps", 5), ("seeds", 1), ("seeds", True), ("metric", "accuracy"),
])
def test_a_bad_setting_is_refused_with_its_name(setting, value):
    with pytest.raises(ConfigError, match=setting):
        LRSettings(**{setting: value})


def test_digits_must_hold_the_training_and_validation_sets():
    with pytest.raises(ConfigError, match="digits"):
        LRSettings(n_train=1000, n_val=1000)


def test_settings_survive_a_json_round_trip_and_unknown_keys_are_refused():
    settings = LRSettings(ps=(0.5, 0.0, 0.2), sgd_lrs=(0.3, 0.1, 0.1), optimizers=("adam", "sgd"))
    assert settings.ps == (0.0, 0.2, 0.5) and settings.sgd_lrs == (0.1, 0.3)  # sorted, no repeats
    assert settings.optimizers == ("sgd", "adam")
    data = json.loads(json.dumps(settings.to_json()))
    assert LRSettings.from_json(data) == settings
    with pytest.raises(ConfigError, match="learning_rate"):
        LRSettings.from_json({**data, "learning_rate": 0.1})


def test_one_sweep_per_optimizer_lr_and_batch_size_each_holding_every_p_and_seed():
    settings = LRSettings(**TINY)
    plan = settings.sweeps()
    cells = [cell for cell, _ in plan]
    assert len(cells) == len(set(cells)) == 2 + 2 + 2 + 1  # (sgd, 0.3, 32) is in both grids, trained once
    for (opt, lr, batch), sweep in plan:
        assert len(sweep.members) == len(settings.ps) * settings.seeds
        assert {(m.train.optimizer, m.train.lr, m.train.batch_size) for m in sweep.members} == {(opt, lr, batch)}
    assert work(settings) > 0 and work(LRSettings(**{**TINY, "steps": 40})) == pytest.approx(2 * work(settings))


def test_a_small_run_gives_both_grids_with_finite_numbers(tiny):
    result, _ = tiny
    s = result.settings
    assert not result.cancelled
    lr_rows = [r for r in result.grid if r["grid"] == "lr"]
    batch_rows = [r for r in result.grid if r["grid"] == "batch"]
    assert len(lr_rows) == 3 * 2 * len(s.ps) and len(batch_rows) == 2 * len(s.ps)
    assert [(r["batch_size"], r["p"]) for r in batch_rows] == [(8, 0.0), (8, 0.5), (32, 0.0), (32, 0.5)]
    for row in result.grid:
        assert row["seeds"] == 2 and row["diverged"] == 0
        for metric in ("val_loss", "val_err", "train_loss", "train_err"):
            assert math.isfinite(row[metric]) and math.isfinite(row[metric + "_se"])
        assert 0.0 <= row["val_err"] <= 1.0
    assert [(b["optimizer"], b["p"]) for b in result.best] == [(o, p) for o in s.optimizers for p in s.ps]
    for b in result.best:
        assert set(b["best_lr"]) <= set(s.lrs(b["optimizer"])) and len(b["best_lr"]) == 2
    assert [name for name, _ in result.verdicts] == ["higher lr", "momentum", "batch"]
    for _, verdict in result.verdicts:
        assert verdict.status in (HOLDS, UNCLEAR, FAILS) and verdict.checks


def test_progress_is_monotone_over_all_sweeps_and_ends_at_the_total(tiny):
    result, reports = tiny
    total = sum(sweep.total_steps() for _, sweep in result.settings.sweeps())
    done = [r.steps_done for r in reports]
    assert done == sorted(done) and done[-1] == total
    assert {r.steps_total for r in reports} == {total}
    assert all(b.elapsed >= a.elapsed for a, b in zip(reports, reports[1:]))


def test_the_json_is_strict_and_lines_print_it(tiny):
    out = json.loads(json.dumps(tiny[0].to_json(), allow_nan=False))
    assert out["experiment"] == KEY and not out["cancelled"] and out["elapsed_s"] >= 0
    assert {v["claim"] for v in out["verdicts"]} == {"higher lr", "momentum", "batch"}
    assert all(v["status"] in (HOLDS, UNCLEAR, FAILS) and v["checks"] for v in out["verdicts"])
    text = "\n".join(lines(out))
    assert "learning rate x p" in text and "batch size x p" in text and "sgd+momentum" in text
    assert text.count("[") >= 3 and "done in" in text


def test_cancelling_after_the_first_report_stops_promptly():
    reports = []
    settings = LRSettings(**{**TINY, "steps": 400})
    result = run_lr(settings, progress=reports.append, cancelled=lambda: bool(reports))
    total = sum(sweep.total_steps() for _, sweep in settings.sweeps())
    assert result.cancelled and result.grid == [] and result.verdicts == ()
    assert reports and reports[-1].steps_done < total / 2
    out = json.loads(json.dumps(result.to_json(), allow_nan=False))
    assert out["cancelled"] and "cancelled" in lines(out)[-1]


def test_a_diverging_learning_rate_is_reported_not_raised():
    result = run_lr(LRSettings(steps=10, seeds=2, optimizers=("adam",), adam_lrs=(0.001, 10.0), batch_sizes=(8, 32)))
    wild = [r for r in result.grid if r["lr"] == 10.0]
    assert len(wild) == 2 and sum(r["diverged"] for r in wild) >= 2  # how many exactly varies with the threads
    for r in wild:
        assert math.isnan(r["val_loss"]) if r["diverged"] == 2 else math.isfinite(r["val_loss"])
    assert all(b["best_lr"] == [0.001, 0.001] for b in result.best)  # a diverged run is never the best
    out = json.loads(json.dumps(result.to_json(), allow_nan=False))
    table = "\n".join(lines(out))
    assert "diverged" in table or "*" in table


def test_best_lr_takes_the_lowest_score_counts_divergence_as_worst_and_breaks_ties_low():
    nan = math.nan
    scores = {0.01: {0: 0.5, 1: 0.3, 2: nan, 3: 0.2},
              0.1: {0: 0.2, 1: 0.3, 2: nan, 3: nan},
              1.0: {0: nan, 1: 0.4, 2: nan, 3: 0.1}}
    best = best_lr(scores)
    assert best[0] == 0.1 and best[1] == 0.01 and best[3] == 1.0
    assert math.isnan(best[2])  # every lr diverged: no best
    values = best_score(scores)
    assert values[0] == 0.2 and values[1] == 0.3 and values[3] == 0.1 and math.isnan(values[2])


def _member(opt, lr, batch, p, seed, val_loss):
    return {"optimizer": opt, "lr": lr, "batch_size": batch, "p": p, "seed": seed, "val_loss": val_loss,
            "val_acc": 0.9, "train_loss": 0.1, "train_acc": 1.0, "diverged": not math.isfinite(val_loss)}


def test_the_verdicts_on_a_hand_made_table():
    settings = LRSettings(seeds=4, optimizers=("sgd", "sgd+momentum"), sgd_lrs=(0.1, 1.0),
                          momentum_lrs=(0.01, 0.1), batch_sizes=(8, 128), batch_lr=0.1, batch_size=32)
    members = []
    for seed in range(4):
        jitter = 0.001 * seed
        # plain SGD: without dropout 0.1 is best, with dropout 1.0 (ten times higher); the large lr diverges at p = 0
        members += [_member("sgd", 0.1, 32, 0.0, seed, 0.30 + jitter), _member("sgd", 1.0, 32, 0.0, seed, math.nan),
                    _member("sgd", 0.1, 32, 0.5, seed, 0.40), _member("sgd", 1.0, 32, 0.5, seed, 0.25 - jitter)]
        # momentum: 0.01 best on both sides; it helps dropout (0.25 -> 0.20), not the plain network (0.30 -> 0.31)
        members += [_member("sgd+momentum", 0.01, 32, 0.0, seed, 0.31 + jitter),
                    _member("sgd+momentum", 0.1, 32, 0.0, seed, 0.50),
                    _member("sgd+momentum", 0.01, 32, 0.5, seed, 0.20 - jitter),
                    _member("sgd+momentum", 0.1, 32, 0.5, seed, 0.60)]
        # batch: dropout costs 0.05 at batch 8 and gains 0.05 at batch 128
        members += [_member("sgd", 0.1, 8, 0.0, seed, 0.30), _member("sgd", 0.1, 8, 0.5, seed, 0.35 + jitter),
                    _member("sgd", 0.1, 128, 0.0, seed, 0.30), _member("sgd", 0.1, 128, 0.5, seed, 0.25 - jitter)]
    verdicts = dict(judge(members, settings))
    higher = verdicts["higher lr"]
    assert [c.status for c in higher.checks] == [HOLDS, UNCLEAR]  # momentum: the same lr on both sides
    assert higher.checks[0].difference == pytest.approx(1.0)  # one decade higher
    assert higher.status == UNCLEAR
    assert verdicts["momentum"].status == HOLDS
    assert verdicts["batch"].status == HOLDS and verdicts["batch"].checks[0].difference == pytest.approx(0.1, abs=0.01)
    flipped = [{**m, "batch_size": {8: 128, 128: 8}.get(m["batch_size"], m["batch_size"])} for m in members]
    assert dict(judge(flipped, settings))["batch"].status == FAILS


def test_without_both_sgd_kinds_there_is_no_momentum_verdict():
    result = run_lr(LRSettings(**{**TINY, "optimizers": ("sgd", "adam")}))
    assert [name for name, _ in result.verdicts] == ["higher lr", "batch"]
