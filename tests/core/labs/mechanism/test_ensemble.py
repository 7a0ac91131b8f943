"""The ensemble view: K sampled thinned networks combined, against the weight-scaled full network."""
import json
import math

import numpy as np
import pytest
import torch

from core.analysis.mc import deterministic_predict, mc_predict
from core.engine.config import ConfigError
from core.labs.mechanism import compute
from core.labs.mechanism import ensemble as e
from core.labs.mechanism import figures


@pytest.fixture(scope="module")
def trainer():
    return e.train(e.run_config(e.EnsembleRequest()))


@pytest.fixture(scope="module")
def small():
    """A cheap run: the defaults with K up to 16."""
    return e.ensemble_view(e.EnsembleRequest(k_max=16))


def _mean_probs(logits: torch.Tensor, k: int, kind: str) -> torch.Tensor:
    log_p = torch.log_softmax(logits[:k], -1)
    mean = e.arithmetic_log_mean(log_p) if kind == "arithmetic" else e.geometric_log_mean(log_p)
    return mean.exp()


# -- the request -----------------------------------------------------------------------------------
def test_the_request_refuses_what_no_control_sends_and_round_trips_as_json():
    request = e.EnsembleRequest()
    assert (request.p, request.seed, request.k_max) == (0.5, 0, 256)
    assert request.ks == (1, 2, 4, 8, 16, 32, 64, 128, 256)
    assert e.EnsembleRequest.from_json(json.loads(json.dumps(request.to_json()))) == request
    for bad in ({"p": 0.0}, {"p": 0.55}, {"p": float("nan")}, {"p": True}, {"seed": -1}, {"seed": 100},
                {"seed": 1.5}, {"k_max": 100}, {"k_max": True}):
        with pytest.raises(ConfigError):
            e.EnsembleRequest(**bad)
    with pytest.raises(ConfigError, match="unknown"):
        e.EnsembleRequest.from_json({"p": 0.5, "T": 3})


# -- the sampled thinned networks are the MC code's ------------------------------------------------
def test_the_thinned_networks_are_mc_predicts_passes(trainer):
    X = trainer.X_val
    logits, full = e.thinned_logits(trainer.model, X, 32, seed=3)
    mc = mc_predict(trainer.model, X, 32, seed=3)
    assert logits.shape == (32, 400, 2) and logits.dtype == torch.float64
    assert np.allclose(torch.softmax(logits, -1).numpy(), mc.probs, atol=1e-6), "the same 32 masks"
    assert np.allclose(_mean_probs(logits, 32, "arithmetic").numpy(), mc.mean, atol=1e-6)
    assert np.allclose(torch.softmax(full, -1).numpy(), deterministic_predict(trainer.model, X), atol=1e-6)
    first, _ = e.thinned_logits(trainer.model, X, 8, seed=3)
    assert torch.equal(first, logits[:8]), "a larger K keeps the networks of the smaller ones"
    other, _ = e.thinned_logits(trainer.model, X, 8, seed=4)
    assert not torch.equal(other, first)


def test_the_arithmetic_mean_settles_as_k_grows(trainer):
    """Its distance to the mean of 4,096 networks shrinks like 1/sqrt(K) (expected ratio 0.22 from K = 64
    to 1,024 for nested samples): it approaches something stable."""
    logits, _ = e.thinned_logits(trainer.model, trainer.X_val, 4096, seed=0)
    limit = _mean_probs(logits, 4096, "arithmetic")
    distance = {k: float((_mean_probs(logits, k, "arithmetic") - limit).abs().mean()) for k in (4, 64, 1024)}
    assert distance[1024] < 0.5 * distance[64] < 0.5 * distance[4]


def test_with_relu_layers_the_geometric_mean_comes_close_to_the_full_network_but_not_onto_it(trainer):
    logits, full = e.thinned_logits(trainer.model, trainer.X_val, 4096, seed=0)
    full_p = torch.softmax(full, -1)
    gap = {k: float((_mean_probs(logits, k, "geometric") - full_p).abs().mean()) for k in (1, 256, 4096)}
    assert gap[256] < 0.02 and gap[4096] < gap[1]
    # noise alone would shrink by 4 from K = 256 to 4,096; what stays is the approximation
    assert gap[4096] > 1e-3 and gap[4096] > 0.5 * gap[256]
    arith = float((_mean_probs(logits, 4096, "arithmetic") - full_p).abs().mean())
    assert arith > 2 * gap[4096], "the full network is much nearer the geometric mean than the arithmetic one"


# -- the exact case: one linear layer and a softmax ------------------------------------------------
@pytest.mark.parametrize("p", [0.2, 0.5, 0.7])
def test_linear_softmax_weight_scaling_is_the_geometric_mean_of_all_masks(p):
    rng = np.random.default_rng(1)
    h, weight, bias = rng.normal(size=(50, 10)) ** 2, rng.normal(size=(3, 10)), rng.normal(size=3)
    means = e.exact_means(h, weight, bias, p)
    assert np.abs(means["geometric"] - means["full"]).max() < 1e-12
    assert np.abs(means["arithmetic"] - means["full"]).max() > 1e-3, "the arithmetic mean is another thing"
    assert np.allclose(means["arithmetic"].sum(1), 1.0) and np.allclose(means["geometric"].sum(1), 1.0)


def test_all_masks_enumerates_each_keep_pattern_once():
    masks = e.all_masks(4)
    assert masks.shape == (16, 4) and len({tuple(m) for m in masks}) == 16
    with pytest.raises(ValueError):
        e.all_masks(17)


def test_the_exact_check_of_a_trained_one_hidden_layer_network(small):
    exact = small.exact
    assert (exact.n_units, exact.n_masks) == (12, 4096)
    assert exact.geometric_gap_max < 1e-12 < 1e-3 < exact.arithmetic_gap_mean <= exact.arithmetic_gap_max


# -- the result ------------------------------------------------------------------------------------
def test_the_result_states_n_and_two_to_the_n_and_is_plain_json(small):
    assert small.n_units == 64 and small.n_thinned == 2**64 and small.n_val == 400
    assert small.ks == (1, 2, 4, 8, 16) and len(small.arithmetic) == len(small.geometric) == 5
    assert small.full.gap == 0 and small.full.flips == 0
    one_a, one_g = small.at(1)
    assert one_a == one_g, "one network: both means are that network"
    data = json.loads(json.dumps(small.to_json(), allow_nan=False))
    assert data["n_thinned"] == str(2**64) and data["request"] == {"p": 0.5, "seed": 0, "k_max": 16}
    for scores in (*small.arithmetic, *small.geometric, small.full):
        assert 0 <= scores.gap <= 1 and 0 <= scores.flips <= 1 and 0.5 <= scores.confidence <= 1
        assert 0.5 < scores.accuracy <= 1 and math.isfinite(scores.log_loss) and scores.log_loss > 0


def test_equal_requests_give_equal_results_and_the_seed_matters(small):
    again = e.ensemble_view(e.EnsembleRequest(k_max=16))
    assert again.to_json() == small.to_json()
    other = e.ensemble_view(e.EnsembleRequest(seed=1, k_max=16))
    assert other.to_json() != small.to_json()


def test_the_lessons_job_answers_an_ensemble_request(small, monkeypatch):
    monkeypatch.setattr(compute, "ensemble_view", lambda request: ("answered", request))
    request = e.EnsembleRequest(k_max=16)
    assert compute.demos(request) == ("answered", request)
    assert 0 < compute.demos_work(request) < compute.demos_work(e.EnsembleRequest(k_max=1024))


def test_the_figure_draws_both_means_against_k_with_the_full_network_dashed(small):
    fig = figures.ensemble_view(small).to_plotly_json()
    layout = fig["layout"]
    assert layout["title"]["text"].startswith("K of the 2^64 thinned networks")
    assert layout["xaxis"]["type"] == layout["xaxis2"]["type"] == "log"
    lines = [t for t in fig["data"] if t["x"][0] is not None]
    assert len(lines) == 4 and all(list(t["x"]) == [1, 2, 4, 8, 16] for t in lines)
    assert [s["y0"] for s in layout["shapes"]] == [0.0, small.full.log_loss]
    assert all(s["line"]["dash"] == "dash" for s in layout["shapes"])
    names = {t["name"] for t in fig["data"]}
    assert "full network (weight scaling)" in names and "normalized geometric mean" in names
