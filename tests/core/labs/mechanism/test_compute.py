import math

import numpy as np
import pytest

from core.analysis.calibration import expected_calibration_error
from core.labs.mechanism import compute as m


def test_the_convention_widget_reads_p_both_ways():
    assert m.drop_from_keep(0.8) == pytest.approx(0.2) and m.keep_from_drop(0.2) == pytest.approx(0.8)


def test_one_mask_drops_to_zero_and_scales_the_survivors():
    h = np.linspace(0.1, 2.0, 40).astype(np.float32)
    d = m.draw_mask(h, 0.25, seed=3)
    kept = d["kept"]
    assert 0 < kept.sum() < len(h)
    assert np.allclose(d["inverted_train"][kept], h[kept] / 0.75) and (d["inverted_train"][~kept] == 0).all()
    assert np.allclose(d["classic_train"][kept], h[kept]) and (d["classic_train"][~kept] == 0).all()
    assert np.allclose(d["inverted_eval"], h) and np.allclose(d["classic_eval"], h * 0.75)
    assert np.array_equal(m.draw_mask(h, 0.25, seed=3)["kept"], kept), "same seed, same mask"


def test_batch_masks_are_independent_per_example_at_rate_p():
    p, units, samples = 0.3, 64, 500
    mask = m.batch_masks(units, samples, p, seed=0)
    assert mask.shape == (units, samples)
    n = mask.size
    assert abs((~mask).mean() - p) < 5 * math.sqrt(p * (1 - p) / n)
    assert len({tuple(col) for col in mask.T}) > samples * 0.99, "columns are different masks"
    assert m.batch_masks(8, 4, 0.0, seed=0).all()


@pytest.mark.parametrize("classic", [False, True])
@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_running_mean_converges_to_the_evaluation_output_within_its_band(p, classic):
    h = np.abs(np.random.default_rng(0).normal(size=32)).astype(np.float32)
    r = m.running_mean(h, p, 20_000, seed=1, classic=classic)
    expected = (1 - p) * h.mean() if classic else h.mean()
    assert r["target"] == pytest.approx(expected, rel=1e-6)
    # the band is 2 sd of the running mean; allow 2.5 bands (5 sd) at a few checkpoints
    for k in (10, 1_000, 20_000):
        assert abs(r["running_mean"][k - 1] - r["target"]) < 2.5 * r["band"][k - 1]


def test_the_band_is_the_sampling_error_of_the_mean():
    """Over many seeds, the 1-mask value falls outside the 2-sd band about 5 % of the time."""
    h = np.linspace(0.2, 1.0, 16).astype(np.float32)
    firsts = [m.running_mean(h, 0.5, 1, seed=s) for s in range(400)]
    sd = firsts[0]["band"][0] / 2
    values = np.array([f["running_mean"][0] for f in firsts])
    assert values.mean() == pytest.approx(firsts[0]["target"], abs=5 * sd / math.sqrt(400))
    assert values.std() == pytest.approx(sd, rel=0.15)


def test_modes_eval_is_deterministic_train_and_mc_spread_and_only_train_moves_batchnorm():
    points = m.example_points()
    res = {mode: m.mode_spread(points, mode, passes=40) for mode in m.MODES}
    assert (res["eval"]["probs"] == res["eval"]["probs"][0]).all(), "every eval pass gives the same output"
    assert res["train"]["probs"].std(0).mean() > 0.01 and res["mc"]["probs"].std(0).mean() > 0.01
    assert res["eval"]["bn_drift"] == 0 and res["mc"]["bn_drift"] == 0 and res["train"]["bn_drift"] > 0
    again = m.mode_spread(points, "eval", passes=2)
    assert np.array_equal(again["probs"][0], res["eval"]["probs"][0]), "running statistics were restored"
    with pytest.raises(ValueError, match="mode must be one of"):
        m.mode_spread(points, "test", passes=1)


def test_bug_a_dropout_left_on_changes_predictions_and_costs_accuracy():
    r = m.bug_left_on()
    assert r["changed_between_calls"] > 0.01
    assert r["buggy"]["accuracy"] < r["correct"]["accuracy"]
    assert r["buggy"]["log_loss"] > r["correct"]["log_loss"]
    assert len(set(r["buggy_per_call"])) > 1


def test_bug_b_forgotten_scale_inflates_activations_and_confidence():
    p = 0.5
    r = m.bug_scale_forgotten(p)
    assert r["activation_ratio"] == pytest.approx((1 / (1 - p)) ** 2, rel=0.15), "two layers, each x 1/(1-p)"
    assert r["buggy"]["confidence"] > r["correct"]["confidence"]
    assert r["buggy"]["log_loss"] > 2 * r["correct"]["log_loss"], "the lesson says the log loss more than doubles"
    assert abs(r["buggy"]["accuracy"] - r["correct"]["accuracy"]) < 0.02, "the lesson says accuracy barely moves"
    # the lesson: ECE hardly shows it, the correct network is slightly under-confident, the buggy one over-confident
    assert r["correct"]["confidence"] < r["correct"]["accuracy"] and r["buggy"]["confidence"] > r["buggy"]["accuracy"]
    assert abs(r["buggy"]["ece"] - r["correct"]["ece"]) < 0.01


def test_the_lessons_ece_is_the_one_of_core_analysis_on_hand_made_predictions():
    confidence = np.array([0.9, 0.9, 0.9, 0.9, 0.6, 0.6])
    probs = np.stack([1 - confidence, confidence], axis=1)  # class 1 predicted everywhere
    y = np.array([1, 1, 1, 0, 1, 0])
    # bin 0.9: accuracy 0.75, |0.75 - 0.9| = 0.15, weight 4/6; bin 0.6: accuracy 0.5, 0.1, weight 2/6
    assert expected_calibration_error(probs, y) == pytest.approx(0.15 * 4 / 6 + 0.1 * 2 / 6)
    assert m.expected_calibration_error is expected_calibration_error  # one ECE, not a copy


def test_hidden_activations_are_relu_outputs_of_the_trained_network():
    h = m.hidden_activations((0.0, 0.25))
    assert h.shape == (32,) and (h >= 0).all() and (h > 0).any()


def test_inputs_deep_in_a_class_spread_least_in_mc_mode():
    """The lesson: inputs 1 and 2 (deep) spread least, inputs 3 to 5 (boundary) most."""
    spread = m.mode_spread(m.example_points(), "mc", passes=100)["probs"].std(0)
    assert max(spread[:2]) < min(spread[2:])
    assert len(m.EXAMPLE_POINTS) == 5 and list(m.EXAMPLE_POINTS)[0].startswith("1: deep")


@pytest.mark.parametrize("passes, points", [
    (0, ((0.0, 0.0),)), (201, ((0.0, 0.0),)), (2.5, ((0.0, 0.0),)), (True, ((0.0, 0.0),)), ("50", ((0.0, 0.0),)),
    (50, ()), (50, ((float("nan"), 0.0),)), (50, ((11.0, 0.0),)), (50, ((0.0, 0.0),) * 9), (50, ((0.0,),)),
])
def test_a_worker_refuses_a_question_no_control_could_ask(passes, points):
    request = m.DemoRequest(points, passes)
    with pytest.raises(ValueError, match="passes must be|inputs must be"):
        m.demos(request)
    with pytest.raises(ValueError):
        m.demos_work(request)  # refused before it starts, too


def test_the_answer_holds_each_input_s_layer_and_the_passes_asked_for():
    points = ((0.0, 0.25), (1.4, -0.6))
    answer = m.demos(m.DemoRequest(points, 20))
    np.testing.assert_array_equal(answer.hidden[1], m.hidden_activations(points[1]))
    assert {mode: r["probs"].shape for mode, r in answer.modes.items()} == {mode: (20, 5) for mode in m.MODES}
    assert answer.left_on["correct"]["accuracy"] > answer.left_on["buggy"]["accuracy"]
