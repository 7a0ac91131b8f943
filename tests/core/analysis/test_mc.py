import math
import pickle

import numpy as np
import pytest
import torch
from scipy import stats

from core.analysis import mc, thinned
from core.analysis.calibration import expected_calibration_error, mc_vs_weight_scaling, point_probe, reliability
from core.analysis.mc import (MCMapCache, deterministic_predict, entropy, mc_predict, mc_predict_reference,
                              mutual_information)
from core.analysis.thinned import freeze
from core.engine.config import ModelConfig, RunConfig, TrainConfig
from core.engine.dropout import dropout_modules, eval_mode, mc_mode, train_mode
from core.engine.models import build_mlp
from core.engine.trainer import Trainer

ALPHA = 1e-3
"""Family-wise false-alarm rate of each statistical comparison (over all points of a check)."""


def model_of(hidden=(16, 16), *, activation="relu", p_input=0.0, p=0.5, classic=False, batchnorm=False, inputs=2,
             classes=2, seed=3, sharpen=3.0):
    """A random MLP; ``p``: one drop probability for every hidden layer, or one each. ``sharpen``
    scales the output layer so that predictions are far from uniform."""
    p_hidden = tuple(p) if isinstance(p, tuple) else (p,) * len(hidden)
    cfg = ModelConfig(num_hiddens=hidden, activation=activation, p_input=p_input, p_hidden=p_hidden,
                      classic=classic, batchnorm=batchnorm)
    model = build_mlp(cfg, seed=seed, num_inputs=inputs, num_classes=classes)
    with torch.no_grad():
        model.out.weight.mul_(sharpen)
        if batchnorm:  # running statistics other than (0, 1)
            train_mode(model)
            for i in range(5):
                model(torch.randn(64, inputs, generator=torch.Generator().manual_seed(i)) * 2 + 1)
    eval_mode(model)
    return model


def points(n=300, inputs=2, seed=0):
    return (np.random.default_rng(seed).uniform(-1.75, 1.75, (n, inputs))).astype(np.float32)


def modes(model):
    return ([m.training for m in model.modules()], [d.mc for d in dropout_modules(model)],
            [d.generator for d in dropout_modules(model)], [d.last_mask for d in dropout_modules(model)])


@pytest.fixture(scope="module")
def trained():
    """The default Playground network (2-128-128-2, p 0.5), trained 60 epochs on the noisy moons."""
    trainer = Trainer(RunConfig(train=TrainConfig(max_epochs=60, device="cpu")), evaluate=False)
    while not trainer.finished:
        trainer.step()
    return trainer


# -- entropy and mutual information, by hand -----------------------------------------------------
def test_entropy_against_hand_values():
    np.testing.assert_allclose(entropy([0.5, 0.5]), math.log(2), rtol=1e-15)
    np.testing.assert_allclose(entropy([0.25] * 4), math.log(4), rtol=1e-15)
    hand = -(0.2 * math.log(0.2) + 0.3 * math.log(0.3) + 0.5 * math.log(0.5))
    np.testing.assert_allclose(entropy([0.2, 0.3, 0.5]), hand, rtol=1e-15)
    assert entropy([1.0, 0.0]) == 0.0  # 0 log 0 = 0, no NaN
    np.testing.assert_allclose(entropy([[0.5, 0.5], [1.0, 0.0]]), [math.log(2), 0.0], rtol=1e-15)


def test_mutual_information_against_hand_values():
    # Two confident passes that disagree: H[mean] = ln 2, each pass H = 0, so MI = ln 2.
    np.testing.assert_allclose(mutual_information([[[1.0, 0.0]], [[0.0, 1.0]]]), [math.log(2)], rtol=1e-15)
    # Passes that agree: MI = 0 (up to float64 rounding of the mean), whatever their entropy.
    assert mutual_information([[[0.3, 0.7]], [[0.3, 0.7]], [[0.3, 0.7]]])[0] == pytest.approx(0.0, abs=1e-15)
    assert mutual_information([[[0.5, 0.5]], [[0.5, 0.5]]])[0] == 0.0
    # [0.9, 0.1] and [0.5, 0.5]: mean [0.7, 0.3].
    h = lambda *p: -sum(x * math.log(x) for x in p)  # noqa: E731
    hand = h(0.7, 0.3) - (h(0.9, 0.1) + h(0.5, 0.5)) / 2
    np.testing.assert_allclose(mutual_information([[[0.9, 0.1]], [[0.5, 0.5]]]), [hand], rtol=1e-13)


def test_prediction_summaries_are_the_formulas_applied_to_its_passes():
    model = model_of(classes=3)
    pred = mc_predict(model, points(200), 40, seed=1)
    P = pred.probs.astype(np.float64)
    assert pred.probs.shape == (40, 200, 3) and pred.probs.dtype == np.float32 and not pred.probs.flags.writeable
    np.testing.assert_allclose(pred.probs.sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(pred.mean, P.mean(0), atol=1e-6)
    np.testing.assert_allclose(pred.std, P.std(0), atol=1e-6)
    np.testing.assert_allclose(pred.entropy, entropy(P.mean(0)), atol=1e-6)
    np.testing.assert_allclose(pred.expected_entropy, entropy(P).mean(0), atol=1e-6)
    np.testing.assert_allclose(pred.mutual_info, mutual_information(P), atol=1e-6)
    np.testing.assert_allclose(pred.deterministic, deterministic_predict(model, points(200)))


# -- p = 0, weight scaling, and leaving the model alone -------------------------------------------
@pytest.mark.parametrize("classic", [False, True])
def test_p_zero_has_no_spread_and_is_the_deterministic_prediction(classic):
    model = model_of(p=0.0, classic=classic)
    X = points()
    pred = mc_predict(model, X, 20)
    assert np.all(pred.std == 0) and np.all(pred.mutual_info == 0)
    assert np.all(pred.probs == pred.deterministic[None]) and np.all(pred.mean == pred.deterministic)
    eval_mode(model)
    with torch.no_grad():
        eval_probs = model(torch.from_numpy(X)).softmax(-1).numpy()
    np.testing.assert_allclose(pred.deterministic, eval_probs, atol=1e-6)


def test_the_thinned_passes_at_a_vanishing_p_are_the_deterministic_network():
    """p = 1e-12 keeps every unit but goes through the sampling path: thinning and scaling are exact."""
    model = model_of(hidden=(16, 8, 8), p_input=1e-12, p=1e-12, batchnorm=True)
    pred = mc_predict(model, points(), 10)
    np.testing.assert_allclose(pred.probs, np.broadcast_to(pred.deterministic, pred.probs.shape), atol=1e-6)
    assert pred.std.max() < 1e-6 and pred.mutual_info.max() < 1e-6


@pytest.mark.parametrize("variant", [
    {}, {"classic": True}, {"batchnorm": True}, {"activation": "tanh"}, {"activation": "sigmoid"},
    {"p_input": 0.3, "classic": True, "batchnorm": True},
])
def test_deterministic_prediction_is_eval_mode_and_nothing_is_changed(variant):
    model = model_of(hidden=(16, 8, 8), **variant)
    X = points(100)
    train_mode(model)
    dropout_modules(model)[1].generator = torch.Generator().manual_seed(5)
    state = dropout_modules(model)[1].generator.get_state()
    before = modes(model)
    det = deterministic_predict(model, X)
    mc_predict(model, X, 5)
    MCMapCache().predict(model, X, 5)
    point_probe(model, X[0], 5)
    assert modes(model) == before, "the fast path must not touch modes, generators or masks"
    assert torch.equal(dropout_modules(model)[1].generator.get_state(), state)
    eval_mode(model)
    with torch.no_grad():
        np.testing.assert_allclose(det, model(torch.from_numpy(X)).softmax(-1).numpy(), atol=2e-6)


def test_the_reference_restores_modes_and_does_not_advance_a_trainers_mask_generator(trained):
    model = trained.model
    before, state = modes(model), trained.mask_generator.get_state()
    mc_predict_reference(model, points(50), 5)
    assert modes(model) == before and model.training
    assert torch.equal(trained.mask_generator.get_state(), state)


def test_freeze_is_a_copy():
    model = model_of()
    X = points(50)
    frozen = freeze(model)
    first = mc_predict(frozen, X, 10).probs.copy()
    with torch.no_grad():
        model.out.bias.add_(1.0)
    np.testing.assert_array_equal(mc_predict(frozen, X, 10).probs, first)
    assert freeze(model).fingerprint != frozen.fingerprint


def test_a_frozen_network_crosses_processes_as_plain_arrays_and_predicts_the_same():
    frozen = freeze(model_of())
    data = pickle.dumps(frozen, protocol=pickle.HIGHEST_PROTOCOL)
    assert b"torch" not in data  # numpy arrays and plain values only, no torch storages
    back = pickle.loads(data)
    assert back.fingerprint == frozen.fingerprint and back.widths == frozen.widths
    X = points(50)
    np.testing.assert_array_equal(mc_predict(back, X, 10, seed=3).probs, mc_predict(frozen, X, 10, seed=3).probs)


# -- the fast map against the textbook loop, in distribution ---------------------------------------
def passes(fn, model, X, T, seeds):
    """[R, T, N, C]: R independent runs of T passes."""
    return np.stack([fn(model, X, T, seed=s).probs for s in seeds]).astype(np.float64)


def compare(fast, ref):
    """Do two sets of passes [R, T, N, C] have the same per-point distribution?

    - mean: per point, the two means of class 1 over R*T passes (iid draws for one point on
      both sides) differ by a z-score below the Bonferroni bound for N points;
    - KS: per point, a two-sample Kolmogorov-Smirnov test of the R*T class-1 probabilities;
    - MI and std: per run, the average over the points -> R independent values per side;
      Welch's t-test. Each check's false-alarm rate is at most ALPHA.
    """
    R, T, N, _ = fast.shape
    a, b = fast[..., 1].reshape(R * T, N), ref[..., 1].reshape(R * T, N)
    z = (a.mean(0) - b.mean(0)) / np.sqrt((a.var(0, ddof=1) + b.var(0, ddof=1)) / (R * T) + 1e-18)
    ks = np.array([stats.ks_2samp(a[:, i], b[:, i], method="asymp").pvalue for i in range(N)])
    out = {"max_z": float(np.abs(z).max()), "z_bound": float(stats.norm.isf(ALPHA / (2 * N))),
           "ks_min_p": float(ks.min()), "ks_bound": ALPHA / N}
    per_run = {
        "mi": lambda P: mutual_information(P.swapaxes(0, 1)).mean(-1),  # [R]
        "std": lambda P: P.std(1).mean((-2, -1)),
    }
    for name, fn in per_run.items():
        out[f"{name}_p"] = float(stats.ttest_ind(fn(fast), fn(ref), equal_var=False).pvalue)
    out["ok"] = (out["max_z"] < out["z_bound"] and out["ks_min_p"] > out["ks_bound"]
                 and out["mi_p"] > ALPHA and out["std_p"] > ALPHA)
    return out


def test_fast_map_matches_the_textbook_loop_in_distribution(trained):
    X = points(300)
    fast = passes(mc_predict, trained.model, X, 200, range(10))
    ref = passes(mc_predict_reference, trained.model, X, 200, range(100, 110))
    result = compare(fast, ref)
    assert result["ok"], result


def test_the_comparison_detects_planted_bugs(trained, monkeypatch):
    X = points(300)
    ref = passes(mc_predict_reference, trained.model, X, 200, range(100, 110))
    with monkeypatch.context() as m:  # survivors not rescaled by 1 / keep
        m.setattr(thinned, "keep_scale", lambda net, i: 1.0)
        unscaled = compare(passes(mc_predict, trained.model, X, 200, range(10)), ref)
    assert not unscaled["ok"] and unscaled["max_z"] > 3 * unscaled["z_bound"], unscaled
    with monkeypatch.context() as m:  # every pass draws the same masks
        real = thinned.thinned_pass
        m.setattr(mc, "thinned_pass", lambda net, first, seed, t: real(net, first, seed, 0))
        frozen_masks = compare(passes(mc_predict, trained.model, X, 200, range(10)), ref)
    assert not frozen_masks["ok"] and frozen_masks["ks_min_p"] < 1e-6, frozen_masks


@pytest.mark.parametrize("variant", [
    {"p_input": 0.2},
    {"classic": True},
    {"activation": "tanh"},
    {"batchnorm": True},
    {"hidden": (16, 12, 8)},
    {"hidden": (2, 3), "p": 0.7},  # whole layers are often dropped
    {"hidden": (16, 12, 8), "p": (0.0, 0.5, 0.0)},  # two deterministic layers before the first dropout
    {"hidden": (12, 12, 12), "p_input": 0.3, "classic": True, "batchnorm": True, "activation": "sigmoid",
     "inputs": 4, "classes": 3},
])
def test_every_kind_of_model_matches_the_textbook_loop(variant):
    variant = {"hidden": (16, 16), **variant}
    model = model_of(**variant)
    X = points(100, inputs=variant.get("inputs", 2))
    result = compare(passes(mc_predict, model, X, 100, range(8)), passes(mc_predict_reference, model, X, 100,
                                                                            range(100, 108)))
    assert result["ok"], result


def test_spread_grows_with_p(trained):
    """Mean per-point std of P(class 1), 6 independent runs per p; each step up clears 4 standard errors."""
    X = points(300)
    spread = {}
    for p in (0.1, 0.3, 0.6):
        trained.model.set_p(0.0, (p, p))
        runs = [mc_predict(trained.model, X, 50, seed=s).std[:, 1].mean() for s in range(6)]
        spread[p] = (np.mean(runs), np.std(runs, ddof=1) / math.sqrt(len(runs)))
    trained.model.set_p(0.0, (0.5, 0.5))
    for lo, hi in ((0.1, 0.3), (0.3, 0.6)):
        (m_lo, se_lo), (m_hi, se_hi) = spread[lo], spread[hi]
        assert m_hi - m_lo > 4 * math.hypot(se_lo, se_hi), spread


# -- the cache ----------------------------------------------------------------------------------
def test_cache_returns_the_same_map_when_nothing_changed_and_runs_only_new_passes():
    model, X = model_of(hidden=(32, 32)), points(500)
    cache = MCMapCache()
    first = cache.predict(model, X, 50)
    assert cache.passes_computed == 50 and cache.hits == 0
    assert cache.predict(model, X.copy(), 50) is first, "equal inputs, equal weights: the same object"
    assert cache.passes_computed == 50 and cache.hits == 1
    more = cache.predict(model, X, 60)
    assert cache.passes_computed == 60, "T 50 -> 60 runs only the 10 new passes"
    np.testing.assert_array_equal(more.probs[:50], first.probs)
    fresh = mc_predict(model, X, 60)
    np.testing.assert_allclose(more.probs, fresh.probs, atol=1e-6)
    for name in ("mean", "std", "entropy", "expected_entropy", "mutual_info"):
        np.testing.assert_allclose(getattr(more, name), getattr(fresh, name), atol=2e-6, err_msg=name)
    fewer = cache.predict(model, X, 30)
    assert cache.passes_computed == 60
    np.testing.assert_array_equal(fewer.probs, first.probs[:30])
    np.testing.assert_allclose(fewer.mutual_info, mc_predict(model, X, 30).mutual_info, atol=2e-6)


def test_cache_recomputes_when_weights_p_inputs_or_seed_change():
    model, X = model_of(), points(200)
    cache = MCMapCache()
    cache.predict(model, X, 20)
    with torch.no_grad():
        model.hidden[0].weight[0, 0] += 0.1
    cache.predict(model, X, 20)
    assert cache.passes_computed == 40, "a changed weight changes the fingerprint"
    model.set_p(0.0, (0.3, 0.5))
    cache.predict(model, X, 20)
    X2 = X.copy()
    X2[0, 0] += 1e-3
    cache.predict(model, X2, 20)
    cache.predict(model, X2, 20, seed=1)
    assert cache.passes_computed == 100 and cache.hits == 0


def test_a_caller_version_replaces_reading_the_weights():
    model, X = model_of(), points(200)
    cache = MCMapCache()
    first = cache.predict(model, X, 20, version=7)
    with torch.no_grad():
        model.out.bias.add_(1.0)  # the caller promised version 7 means these weights: not looked at
    assert cache.predict(model, X, 20, version=7) is first
    assert cache.predict(model, X, 20, version=8) is not first and cache.passes_computed == 40
    model.set_p(0.0, (0.2, 0.2))  # p is always compared
    cache.predict(model, X, 20, version=8)
    assert cache.passes_computed == 60


# -- MC averaging against weight scaling -------------------------------------------------------
def test_mc_averaging_is_the_mean_of_the_right_passes(trained):
    X, y = trained.split.X_val, trained.split.y_val
    Ts, R = (1, 3, 10), 4
    curve = mc_vs_weight_scaling(trained.model, X, y, Ts, repeats=R, seed=2)
    P = mc_predict(trained.model, X, R * 10, seed=2).probs.astype(np.float64)  # the same masks, in order
    for r in range(R):
        for k, T in enumerate(Ts):
            mean = P[r * 10 : r * 10 + T].mean(0)
            assert curve.acc[r, k] == pytest.approx(np.mean(mean.argmax(1) == y), abs=1e-12)
            assert curve.loss[r, k] == pytest.approx(-np.log(mean[np.arange(len(y)), y]).mean(), rel=1e-5)
    det = deterministic_predict(trained.model, X)
    assert curve.ws_acc == pytest.approx(np.mean(det.argmax(1) == y))
    assert curve.ws_loss == pytest.approx(-np.log(det[np.arange(len(y)), y]).mean(), rel=1e-5)
    assert curve.acc_mean.shape == curve.acc_se.shape == (3,) and np.all(curve.loss_se > 0)
    # Figure 11's point: with enough passes the MC average is at least as good as weight scaling.
    assert curve.loss_mean[-1] < curve.loss_mean[0]


def test_mc_averaging_without_dropout_is_weight_scaling():
    model = model_of(p=0.0)
    X = points(100)
    y = (X[:, 0] > 0).astype(np.int64)
    curve = mc_vs_weight_scaling(model, X, y, (1, 5), repeats=3)
    np.testing.assert_allclose(curve.acc, curve.ws_acc)
    np.testing.assert_allclose(curve.loss, curve.ws_loss)
    assert np.all(curve.acc_se == 0)


# -- calibration -------------------------------------------------------------------------------
def confident(conf, n_right, n):
    """n predictions of class 1 with probability ``conf``; the first ``n_right`` are right."""
    probs = np.tile([1 - conf, conf], (n, 1))
    return probs, np.r_[np.ones(n_right, int), np.zeros(n - n_right, int)]


def test_ece_on_hand_made_predictions():
    assert expected_calibration_error(*confident(0.8, 8, 10)) == pytest.approx(0.0, abs=1e-12)
    assert expected_calibration_error(*confident(0.9, 6, 10)) == pytest.approx(0.3, abs=1e-12)
    # Two bins: 0.95 and all right (gap 0.05), 0.65 and 1 of 4 right (gap 0.4): ECE = 6/10 * 0.05 + 4/10 * 0.4.
    a, b = confident(0.95, 6, 6), confident(0.65, 1, 4)
    rel = reliability(np.vstack([a[0], b[0]]), np.r_[a[1], b[1]])
    assert rel.ece == pytest.approx(0.6 * 0.05 + 0.4 * 0.4, abs=1e-12)
    assert rel.count.tolist() == [0, 0, 0, 0, 0, 0, 4, 0, 0, 6]
    assert rel.confidence[9] == pytest.approx(0.95) and rel.accuracy[6] == pytest.approx(0.25)
    assert np.isnan(rel.accuracy[:6]).all() and np.isnan(rel.confidence[7])  # empty bins: skipped
    np.testing.assert_allclose(rel.edges, np.linspace(0, 1, 11))


def test_reliability_bins_edges_and_many_classes():
    rel = reliability([[0.0, 1.0], [0.5, 0.5]], [1, 0], bins=4)
    assert rel.count.tolist() == [0, 0, 1, 1]  # 0.5 opens bin [0.5, 0.75); 1.0 closes the last bin
    three = reliability([[0.2, 0.3, 0.5], [0.1, 0.7, 0.2]], [2, 0])
    assert three.count[5] == 1 and three.count[7] == 1 and three.ece == pytest.approx(0.5 * 0.5 + 0.5 * 0.7)


# -- one point --------------------------------------------------------------------------------
def test_point_probe_is_the_map_at_that_point(trained):
    X = points(50)
    pred = mc_predict(trained.model, X, 64, seed=4)
    probe = point_probe(trained.model, X[17], 64, seed=4)
    np.testing.assert_allclose(probe.probs, pred.probs[:, 17], atol=1e-6)
    np.testing.assert_allclose(probe.deterministic, pred.deterministic[17], atol=1e-6)
    assert probe.mutual_info == pytest.approx(float(pred.mutual_info[17]), abs=1e-6)
    counts = probe.histogram(1)
    assert counts.sum() == 64 and counts.shape == (20,)


def test_mc_mode_model_gives_the_same_passes():
    """The fast path reads weights, not modes: a model left in mc_mode or train mode predicts the same."""
    model, X = model_of(batchnorm=True), points(50)
    a = mc_predict(model, X, 10).probs
    mc_mode(model)
    b = mc_predict(model, X, 10).probs
    train_mode(model)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, mc_predict(model, X, 10).probs)


def test_calibrate_is_fig11_and_both_reliability_diagrams_in_one_job(trained):
    """What lesson 5 asks a worker for once a run is paused: the same numbers as the three calls."""
    from core.analysis.calibration import CalibrationRequest, calibrate, calibration_work  # noqa: PLC0415

    X, y = trained.X_val.numpy(), trained.y_val.numpy()
    frozen = freeze(trained.model)
    got = calibrate(CalibrationRequest(frozen, X, y, 20, (1, 5, 20), repeats=3))
    avg = mc_vs_weight_scaling(frozen, X, y, (1, 5, 20), repeats=3)
    pred = mc_predict(frozen, X, 20)
    np.testing.assert_array_equal(got.averaging.loss, avg.loss)
    assert got.deterministic.ece == reliability(pred.deterministic, y).ece and got.mc.ece == reliability(pred.mean, y).ece
    weights = 2 * 128 + 128 * 128 + 128 * 2
    assert calibration_work(CalibrationRequest(frozen, X, y, 20, (1, 5, 20), repeats=3)) == (3 * 20 + 20) * len(X) * weights


@pytest.mark.parametrize("T", [0, -3, 2.5, True, float("nan"), float("inf"), 10**6, 10**400, "50"])
def test_a_number_of_passes_no_control_could_send_is_refused_with_a_sentence(T):
    model = model_of()
    with pytest.raises(ValueError, match="T must be a whole number of passes from 1 to"):
        mc_predict(model, points(5), T)
    with pytest.raises(ValueError, match="T must be a whole number of passes"):
        MCMapCache().predict(model, points(5), T)
