"""Every number lesson 7 quotes, recomputed: each experiment's default run (and the two other settings the
lesson quotes), formatted as the lesson writes it, must appear in the lesson's text. About 3 minutes."""
from __future__ import annotations

from functools import lru_cache

import pytest

from core.analysis.verdicts import FAILS, HOLDS, UNCLEAR
from core.lessons import load_lesson
from core.labs.variants.experiments import request, run_request
from tests.quotes import flat

TEXT = flat(" ".join(load_lesson("07_variants").sections.values()))


@lru_cache(maxsize=None)
def result(key: str, changes: tuple = ()):
    return run_request(request(key, dict(changes)))


def row(res, label: str) -> dict:
    return next(r for r in res.rows if r["label"] == label)


def statuses(res) -> list[str]:
    return [verdict.status for _, verdict in res.verdicts]


def says(*phrases: str) -> None:
    for phrase in phrases:
        assert phrase in TEXT, f"the lesson does not say {phrase!r}"


def test_dropconnect():
    r = result("dropconnect")
    sig = r.signature
    says(f"ratio {sig['std_ratio']:.2f}", f"noise is {sig['dropconnect_corr']:.2f}", f"against {sig['dropout_corr']:.2f} under")
    assert abs(sig["dropconnect_corr"] - sig["corr_floor"]) < 0.01  # chance level
    says(f"{row(r, 'dropconnect')['val_loss']:.3f} with DropConnect", f"{row(r, 'dropout')['val_loss']:.3f} with unit",
         f"{row(r, 'none')['val_loss']:.3f} without", f"training loss ({row(r, 'dropconnect')['train_loss']:.3f})",
         f"no dropout's ({row(r, 'none')['train_loss']:.3f})", f"unit dropout's ({row(r, 'dropout')['train_loss']:.3f})")
    assert statuses(r) == [UNCLEAR, UNCLEAR]


def test_gaussian():
    r = result("gaussian")
    sig = r.signature
    says(f"variance of {sig['gaussian_var']:.2f} against Bernoulli's {sig['bernoulli_var']:.2f}",
         f"errors of {100 * row(r, 'gaussian')['val_err']:.1f} % and {100 * row(r, 'bernoulli')['val_err']:.1f} %")
    assert statuses(r) == [HOLDS, UNCLEAR]
    r20 = result("gaussian", (("seeds", 20),))
    check = r20.verdicts[1][1].checks[0]
    assert statuses(r20) == [HOLDS, HOLDS]
    says(f"{check.difference:.3f} ± {check.se:.3f}")


def test_alpha_selu():
    r = result("alpha-selu")
    says(f"{row(r, 'alpha')['last_var']:.3f} with AlphaDropout", f"without dropout ({row(r, 'none')['last_var']:.3f})",
         f"takes it to {row(r, 'standard')['last_var']:.3f}")
    assert statuses(r) == [HOLDS, HOLDS]
    var = r.series["standard"]["var"]
    assert all(b > a for a, b in zip(var[1:], var[2:]))  # "it grows layer after layer"


def test_variational_rnn():
    r = result("variational-rnn")
    sig = r.signature
    says(f"MSE is {row(r, 'locked')['val_mse']:.3f} with locked", f"{row(r, 'naive')['val_mse']:.3f} with naive",
         f"{row(r, 'none')['val_mse']:.3f} without", f"against {sig['naive_agreement']:.2f} for the naive",
         f"= {sig['theory_naive_agreement']:.3f}", f"training MSE ({row(r, 'locked')['train_mse']:.3f})",
         f"naive one's ({row(r, 'naive')['train_mse']:.3f})")
    assert sig["locked_agreement"] == 1.0 and statuses(r)[0] == FAILS
    assert 2.5 < row(r, "locked")["train_mse"] / row(r, "naive")["train_mse"] < 3.5  # "three times"
    low = result("variational-rnn", (("p", 0.1),))
    says(f"({row(low, 'locked')['val_mse']:.3f} against {row(low, 'none')['val_mse']:.3f}, holds)",
         f"loses to naive ({row(low, 'naive')['val_mse']:.3f})")
    assert statuses(low) == [FAILS, HOLDS]


def test_droppath():
    r = result("droppath")
    sig = r.signature
    says(f"ran {sig['blocks_used']:.1f} of its {sig['depth']:.0f}", f"{100 * sig['branches_saved']:.0f} % of the branch",
         f"{row(r, 'droppath')['val_loss']:.2f} against {row(r, 'none')['val_loss']:.2f} without")
    assert statuses(r) == [HOLDS, UNCLEAR]


def test_concrete():
    r = result("concrete")
    sig = r.signature
    says(f"p = {sig['p_n20']:.2f} on 20", f"{sig['p_n100']:.2f} on 100", f"{sig['p_n500']:.2f} on 500",
         f"{sig['p_n2000']:.2f} on 2,000", f"start of {sig['p_start']:g}")
    assert statuses(r) == [HOLDS, HOLDS]


def test_early_dropout():
    r = result("early-dropout")
    says(f"training loss of {row(r, 'early')['train_loss']:.3f}", f"against {row(r, 'standard')['train_loss']:.3f} for",
         f"and {row(r, 'none')['train_loss']:.3f} for no")
    assert statuses(r) == [UNCLEAR, HOLDS]


@pytest.mark.parametrize("key", ["dropconnect", "gaussian", "alpha-selu", "variational-rnn", "droppath", "concrete",
                                 "early-dropout"])
def test_every_key_the_lesson_names_is_an_experiment(key):
    says(f"`{key}`")
