"""Serving: the determinism check passes on a model exported after eval() and fails on one exported without it;
the cost rows carry every method and what the passes buy; the AUROC is right on known cases."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.engine.config import ConfigError
from core.labs.production.serving import (METHODS, ServingSettings, auroc, check_deterministic, export, lines,
                                          run_serving)
from core.labs.production.task import LeakTrainer, RunSpec


@pytest.fixture(scope="module")
def trainer():
    return LeakTrainer(RunSpec(p=0.8, steps=100, n_train=500, n_test=300)).run()


def test_the_check_passes_after_eval_and_fails_without_it(trainer):
    x, c = trainer.task.serve.x[:100], trainer.task.serve.context[:100]
    trainer.model.eval()
    served = export(trainer.model)
    assert not served.training
    check_deterministic(served, x, c)
    trainer.model.train()
    forgot = export(trainer.model)
    with pytest.raises(AssertionError, match="training mode"):
        check_deterministic(forgot, x, c)
    forgot.eval()  # a scripted module can still be switched at load time, and then it passes
    check_deterministic(forgot, x, c)


def test_a_model_in_eval_mode_that_still_samples_is_caught():
    class Noisy(torch.nn.Module):
        def forward(self, x, context):
            return x + torch.rand_like(x)

    model = Noisy().eval()
    with pytest.raises(AssertionError, match="different answers"):
        check_deterministic(model, torch.zeros(5, 3), torch.zeros(5, 4))


def test_auroc_on_known_cases():
    y = np.array([True, True, False, False])
    assert auroc(np.array([0.9, 0.8, 0.1, 0.2]), y) == 1.0
    assert auroc(np.array([0.1, 0.2, 0.9, 0.8]), y) == 0.0
    assert auroc(np.array([0.5, 0.5, 0.5, 0.5]), y) == 0.5
    assert np.isnan(auroc(np.array([0.1, 0.2]), np.array([True, True])))


def test_a_small_run_checks_both_exports_and_times_every_method():
    out = run_serving(ServingSettings(steps=50, passes=(1, 8), repeats=5, requests=50)).to_json()
    assert out["exports"]["eval()"]["passes"] and not out["exports"]["no eval()"]["passes"]
    assert out["exports"]["no eval()"]["changed_share"] > 0 and out["exports"]["eval()"]["changed_share"] == 0
    assert [r["T"] for r in out["cost"]] == [1, 8]
    for row in out["cost"]:
        for method in METHODS:
            assert 0 < row[method]["ms_q25"] <= row[method]["ms"] <= row[method]["ms_q75"]
        assert 0.5 < row["mc_acc"] <= 1.0 and 0.5 < row["entropy_auroc"] <= 1.0 and row["jitter"] > 0
    assert out["cost"][1]["jitter"] < out["cost"][0]["jitter"]  # more passes, a steadier estimate
    assert "check passes" in "\n".join(lines(out))


@pytest.mark.parametrize("change", [{"passes": ()}, {"passes": (0,)}, {"passes": (1000,)}, {"repeats": 1},
                                    {"p": 1.0}, {"requests": 0}])
def test_bad_settings_are_refused(change):
    with pytest.raises(ConfigError):
        ServingSettings(**change)
