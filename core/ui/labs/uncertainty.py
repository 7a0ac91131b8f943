"""Lesson 5's live parts: MC dropout bands on a 1-D regression, uncertainty maps and calibration on a
2-D classification, and a digit moved away from the data.

The runners do the work, in the worker processes: ``core.labs.uncertainty.regression_runner`` trains
the regression and samples its bands; ``core.live.pair.LiveRunner`` trains the classifier and samples
its MC maps and probe (``set_mc``); background jobs train the digit network and move a digit
(``core.labs.uncertainty.shift``) and, once the run is paused, sample Fig. 11 and the reliability
diagram (``core.analysis.calibration``) from the copy of the weights the runner publishes. This
module turns widgets into commands and snapshots into figures.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import streamlit as st

from core.analysis.calibration import CalibrationRequest
from core.engine.config import PLANE_DATASETS, ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
from core.labs.uncertainty import figures as vu
from core.labs.uncertainty.far import CONFIDENT_ENTROPY, FAR_DISTANCE, WIDE_EXTENT, far_from_data
from core.labs.uncertainty.bands import MAX_PASSES
from core.labs.uncertainty.regression import DATASETS as REGRESSION_DATASETS
from core.labs.uncertainty.regression import RegressionConfig
from core.live.pool import Runner, start_runner
from core.live.snapshots import PairSnapshot, RegressionSnapshot
from core.ui import live, upload
from core.ui.clicks import Clicks
from core.ui.session import browser_id
from core.ui.jobs import JobPanel, run_now
from core.ui.links import linked
from core.ui.live import Settings

NS = "uncertainty."
REG = NS + "reg."
REG_RUNNER = REG + "runner"
CLS = NS + "cls."
CLS_RUNNER = CLS + "runner"
TICK_SECONDS = max(1.0, live.TICK_SECONDS)
"""Two live views of several large figures each share this page: at two redraws a second each, a headless
browser on a 2-core machine fell 11-15 s behind the server, and a click waited that long. With the figures
made smaller (``core.labs.uncertainty.figures``) it was still 5-6 s behind at that rate; one redraw a
second halves what it draws."""
SPEEDS = (10, 30, 100, 300, "max")
CLICKS = Clicks(REG)  # the clicks that add points: on the plot, and the two Add buttons

# -- 1-D regression -----------------------------------------------------------------------------
REG_DEFAULTS: dict[str, Any] = {"dataset": "x_sin_x", "activation": "relu", "p": 0.2, "T": 50, "noise": False,
                                "seed": 0, "speed": 100}
STRUCTURAL = ("dataset", "activation", "seed")
"""Changing one of these starts a new run; p and T apply to the running one."""


def _reg_widgets() -> dict[str, Any]:
    rules = {"dataset": {"choices": tuple(REGRESSION_DATASETS)}, "activation": {"choices": ("relu", "tanh")},
             "p": {"lo": 0.0, "hi": 0.9}, "T": {"lo": 1, "hi": MAX_PASSES}, "noise": {"choices": (False, True)},
             "seed": {"lo": 0, "hi": 2**31 - 1}, "speed": {"choices": SPEEDS}}
    for name, value in REG_DEFAULTS.items():
        linked(REG + name, value, name="reg." + name, **rules[name])
    c1, c2, c3, c4 = st.columns([2, 2, 3, 3])
    c1.selectbox("Data", list(REGRESSION_DATASETS), key=REG + "dataset",
                 format_func=lambda k: {"x_sin_x": "y = x sin x", "sine": "noisy sine"}.get(k, k),
                 help="Points on a few intervals, with gaps between them; the plot reaches far beyond them.")
    c2.radio("Activation", ("relu", "tanh"), key=REG + "activation", horizontal=True,
             help="The band's width far from the data depends on it: measured here, ReLU bands widen far out, "
                  "tanh bands barely do. Changing it starts a new run.")
    c3.slider("Dropout p", 0.0, 0.9, step=0.05, key=REG + "p",
              help="The DROP probability after the hidden layer, in training and in every pass. "
                   "Applies at once, no new run.")
    c4.slider("T, passes", 1, MAX_PASSES, key=REG + "T",
              help="How many stochastic passes (dropout on) the band is made of. More passes: a steadier band.")
    c1, c2, c3 = st.columns([3, 2, 2])
    c1.toggle("Add the observation noise τ⁻¹ to the variance", key=REG + "noise",
              help="The model's own spread (the passes) plus the noise the data is assumed to have: "
                   "Gal and Ghahramani's predictive variance.")
    c2.number_input("Seed", 0, 2**31 - 1, step=1, key=REG + "seed",
                    help="Fixes the points, the initial weights and the masks. Changing it starts a new run.")
    c3.select_slider("Speed (epochs/s)", SPEEDS, key=REG + "speed", help="A pace you can watch.")
    return {name: st.session_state[REG + name] for name in REG_DEFAULTS}


def _reg_config(values: dict[str, Any]) -> RegressionConfig:
    return RegressionConfig(dataset=values["dataset"], activation=values["activation"], p=float(values["p"]),
                            seed=int(values["seed"]))


def regression_runner() -> tuple[Runner, RegressionSnapshot]:
    """This session's regression run, created, restarted or updated to match the widgets (by the live
    driver, as every live run), and the snapshot this page run draws from."""
    values = _reg_widgets()
    speed = None if values["speed"] == "max" else float(values["speed"])
    try:
        cfg = _reg_config(values)
    except ConfigError as exc:
        st.error(f"These settings do not make a valid run: {exc}")
        st.stop()

    def start() -> Runner:
        return start_runner("regression", cfg, n_passes=int(values["T"]), epochs_per_second=speed,
                            owner=browser_id())

    return live.drive(REG, built={name: values[name] for name in STRUCTURAL},
                      values=(float(values["p"]), int(values["T"]), speed), start=start, apply=_apply_reg)


def _apply_reg(runner: Runner, before: RegressionSnapshot, old: tuple, new: tuple) -> RegressionSnapshot:
    """p, T and the pace apply to the running run; drawn only once it holds them (or refused one)."""
    for (name, arg), was, wanted in zip((("set_p", "p"), ("set_passes", "n_passes"),
                                          ("set_speed", "epochs_per_second")), old, new):
        if was != wanted:
            runner.send(name, **{arg: wanted})

    def applied(s: RegressionSnapshot) -> bool:
        return (s["config"]["p"], s["n_passes"], s["epochs_per_second"]) == new or \
            (s["message"] or "").startswith("ignored")
    return runner.wait_for(applied, 1.0)


def _add_points(x: list[float], y: list[float]) -> None:
    """Add training points; a run that had stopped trains on, so the band can close around them.

    A refused point is reported by the runner in the status line under the controls."""
    runner: Runner | None = st.session_state.get(REG_RUNNER)
    if runner is None:
        return
    before = runner.snapshot()["data"]["n"]
    runner.send("add_points", x=x, y=y)
    # Wait for the points (or the refusal), so the redraw that follows already shows them.
    snap = runner.wait_for(lambda s: s["data"]["n"] > before or (s["message"] or "").startswith("ignored add_points"),
                           1.0)
    if snap["data"]["n"] > before and snap["state"] in ("finished", "paused", "ready"):
        live.command("play", REG)


def _on_plot_click(points: list[dict[str, Any]]) -> None:
    """A click on the regression plot adds a point there."""
    points = [p for p in points if "x" in p and "y" in p]
    if points:
        # the click layer is float32: -6.6 arrives as -6.5999999
        _add_points([round(float(points[0]["x"]), 3)], [round(float(points[0]["y"]), 3)])


def _add_from_controls(generation: int) -> None:
    if not CLICKS.first(generation):
        return
    x, y = float(st.session_state[REG + "add_x"]), float(st.session_state[REG + "add_y"])
    _add_points([x], [y])


def _add_on_truth(lo: float, hi: float, generation: int, n: int = 3) -> None:
    """n points on the true function, evenly between lo and hi: a region the data did not cover."""
    runner: Runner | None = st.session_state.get(REG_RUNNER)
    if runner is None or not CLICKS.first(generation):
        return
    snap = runner.snapshot()
    xs = np.linspace(lo, hi, n)
    ys = np.interp(xs, snap["grid"], snap["truth"])
    _add_points(xs.tolist(), ys.tolist())


def regression_buttons(snapshot: RegressionSnapshot) -> None:
    live.buttons(snapshot, ns=REG, steps=10, finished_plays_on=True,
                 play_help="Start or pause training. p and T can change while it runs.")


def add_point_controls() -> None:
    st.session_state.setdefault(REG + "add_x", -5.5)
    st.session_state.setdefault(REG + "add_y", 0.0)
    c1, c2, c3, c4 = st.columns([2, 2, 2, 4])
    c1.number_input("x", -8.0, 8.0, step=0.5, key=REG + "add_x", help="Where the new training point goes.")
    c2.number_input("y", -8.0, 8.0, step=0.5, key=REG + "add_y", help="Its value.")
    generation = CLICKS.generation
    c3.button("Add this point", key=REG + "add.button", on_click=_add_from_controls, args=(generation,),
              use_container_width=True, help="Or pause and click anywhere on the plot.")
    c4.button("Add 3 points on the true curve at x = −6…−5", key=REG + "add3.button", on_click=_add_on_truth,
              args=(-6.0, -5.0, generation), use_container_width=True,
              help="Data where there was none: watch the band there over the next steps.")


def draw_regression(snapshot: dict[str, Any]) -> None:
    noise = bool(st.session_state.get(REG + "noise"))
    cfg = snapshot["config"]
    state = snapshot["state"]
    st.caption(f"Epoch {snapshot['epoch']:.0f} · {live.status_text(snapshot)} · {cfg['activation']}, "
               f"p = {float(cfg['p']):g}, T = {snapshot['n_passes']} passes, {snapshot['data']['n']} training points")
    live.state_notice(snapshot)
    if state == "playing":
        # Streamlit mounts a chart that reports clicks afresh whenever its figure changes, and this one
        # changes at every redraw: while training it is a plain chart, which updates in place.
        st.plotly_chart(vu.regression(snapshot, noise=noise, title="Pause to add points by clicking on the plot, "
                                      "or use the controls below"), key=REG + "plot_live",
                        config={"displayModeBar": False})
    else:
        CLICKS.chart(lambda: vu.regression(snapshot, noise=noise, title="Click anywhere on the plot to add a "
                                           "training point (training then goes on)"),
                     "plot", playing=False, on_points=_on_plot_click)
    tau = snapshot["tau"]
    regions = snapshot["regions"]
    c1, c2, c3 = st.columns(3)
    c1.metric("Band (std) inside the data", f"{regions['in_data']:.3f}",
              help="Mean MC standard deviation over the grid points within the data's intervals.")
    c2.metric("Far from the data (|x| ≥ 5)", f"{regions['far']:.3f}",
              f"{regions['far_ratio']:.1f}× inside" if regions["far_ratio"] is not None else None, delta_color="off",
              help="Mean MC standard deviation where there are no training points at all.")
    c3.metric("In the widest gap", f"{regions['gap']:.3f}",
              f"{regions['gap_ratio']:.1f}× inside" if regions["gap_ratio"] is not None else None, delta_color="off",
              help="Mean MC standard deviation in the middle half of the widest gap between the intervals.")
    heldout = snapshot.get("heldout") or {}
    if heldout:
        k1, k2 = heldout["k1"], heldout["k2"]
        c1, c2 = st.columns(2)
        c1.metric("Held-out observations inside ±2 std, with τ⁻¹", f"{k2['with_noise']:.0%}",
                  f"{k2['passes']:.0%} with the passes alone", delta_color="off",
                  help=f"{k2['n']} new noisy observations drawn like the training points (same intervals, same "
                       "noise), never trained on. A Gaussian ±2 std band holds 95 % of its draws.")
        c2.metric("Inside ±1 std, with τ⁻¹", f"{k1['with_noise']:.0%}",
                  f"{k1['passes']:.0%} with the passes alone", delta_color="off",
                  help="The same observations. A Gaussian ±1 std band holds 68 % of its draws.")
    st.markdown(f"**Observation noise** {'(added to the bands)' if noise else '(not added)'}: {tau['text']}. "
                f"Here l = {tau['length_scale']:g} is the prior length-scale, 1 − p = {tau['keep']:g} the keep "
                f"probability, N = {tau['n']} the training points and λ = {tau['lam']:g} the paper's weight "
                f"penalty: a quarter of the optimizer's weight decay {tau['weight_decay']:g}, because the "
                "optimizer's weight decay is the gradient of a penalty ½·wd·‖w‖² and the loss here is the mean "
                "squared error, twice the paper's ½(y − ŷ)².")


# -- 2-D classification ---------------------------------------------------------------------------
CLS_DEFAULTS: dict[str, Any] = {"dataset": "moons", "p": 0.5, "seed": 0, "T": 50, "probe_x": 1.5, "probe_y": 1.5}
FIG11_T = (1, 2, 5, 10, 20, 50, 100)
FIG11_REPEATS = 10


def classification_runner() -> tuple[Runner, PairSnapshot]:
    rules = {"dataset": {"choices": PLANE_DATASETS}, "p": {"lo": 0.0, "hi": 0.9}, "seed": {"lo": 0, "hi": 2**31 - 1},
             "T": {"lo": 1, "hi": MAX_PASSES}, "probe_x": {"lo": -WIDE_EXTENT, "hi": WIDE_EXTENT},
             "probe_y": {"lo": -WIDE_EXTENT, "hi": WIDE_EXTENT}}
    for name, value in CLS_DEFAULTS.items():
        linked(CLS + name, value, name="cls." + name, **rules[name])
    row, mine = st.container(), upload.uploaded(CLS, label="Or train on your own data (CSV)")  # read first
    c1, c2, c3, c4 = row.columns([2, 3, 3, 2])
    c1.selectbox("Dataset", PLANE_DATASETS, key=CLS + "dataset", help="The Playground's 2-D problems (your file, "
                 "below, replaces them while it is in use).", disabled=mine is not None)
    c2.slider("Dropout p", 0.0, 0.9, step=0.05, key=CLS + "p",
              help="The DROP probability after each hidden layer, in training and in every pass.")
    c3.slider("T, passes", 1, MAX_PASSES, key=CLS + "T", help="Stochastic passes behind every map and the probe.")
    c4.number_input("Seed", 0, 2**31 - 1, step=1, key=CLS + "seed", help="Fixes the data, weights and masks.")
    value = lambda name: st.session_state[CLS + name]  # noqa: E731
    cfg = RunConfig(data=upload.data_config(mine, DataConfig(dataset=value("dataset"), seed=int(value("seed")))),
                    model=ModelConfig(p_hidden=(float(value("p")),) * 2), train=TrainConfig())
    runner, snapshot = live.sync_runner(Settings(cfg, None, 30.0), ns=CLS, publish_weights=True,
                                        mc_passes=CLS_DEFAULTS["T"], mc_extent=WIDE_EXTENT)
    T, probe = int(value("T")), (float(value("probe_x")), float(value("probe_y")))
    if snapshot["mc_passes"] != T or tuple(snapshot["probe"]) != probe:  # the worker computes the maps
        runner.send("set_mc", passes=T, probe=probe)
        snapshot = runner.wait_for(lambda s: (s["mc_passes"], tuple(s["probe"])) == (T, probe) or
                                   (s["message"] or "").startswith("ignored set_mc"), 1.0)
    return runner, snapshot


def draw_classification(snapshot: dict[str, Any]) -> None:
    run = snapshot["runs"][0]
    st.caption(f"Epoch {run['epoch']:.1f} of {run['config'].train.max_epochs} · {live.status_text(snapshot)} · "
               f"two hidden layers of 128 ReLU units, p = {run['config'].model.p_hidden[0]}")
    live.state_notice(snapshot)
    mc = run.get("mc")
    if mc is None:
        st.caption("The Monte-Carlo maps appear after the first training step.")
        return
    T, point = mc["T"], mc["probe"]
    axis, probe = snapshot.get("mc_axis", snapshot["grid_axis"]), point["x"]
    far = far_from_data(mc["mean"], mc["entropy"], mc["mutual_info"], axis, snapshot["data"]["X_train"])
    cols = st.columns(3)
    for col, kind in zip(cols, ("mean", "entropy", "mutual_info")):
        col.plotly_chart(vu.uncertainty_map(kind, mc[kind], axis, snapshot["data"], probe,
                                            confident_far=far.confident_far),
                         key=f"{CLS}map_{kind}", config={"displayModeBar": False})
    st.caption(
        f"The maps reach ±{float(axis[-1]):g}, twice the Playground's, to look far from the data. Dotted outline: "
        f"cells farther than {FAR_DISTANCE:g} from every training point where the MC mean is nevertheless confident "
        f"(entropy below {CONFIDENT_ENTROPY:g} nats): {far.confident_share:.0%} of the far cells. Far from the data "
        f"the entropy is {far.far_entropy:.2f} nats on average (mutual information {far.far_mutual_info:.2f}); on the "
        f"class boundary {far.boundary_entropy:.2f} ({far.boundary_mutual_info:.2f}).")
    c1, c2 = st.columns([3, 2])
    c1.plotly_chart(vu.probe_histogram(point["probs"], point["deterministic"]), key=CLS + "probe",
                    config={"displayModeBar": False})
    c2.markdown(
        f"**At the probe ({probe[0]:.2f}, {probe[1]:.2f})**, {T} passes:\n\n"
        f"- mean P(blue) **{point['mean']:.3f}** ± {point['std']:.3f} (std over passes)\n"
        f"- dropout off (weight scaling): P(blue) **{point['deterministic']:.3f}**\n"
        f"- predictive entropy **{point['entropy']:.3f}** nats, of which mutual information "
        f"**{point['mutual_info']:.3f}** (the rest, {point['entropy'] - point['mutual_info']:.3f}, is the passes' "
        "own average entropy)")


def probe_controls() -> None:
    c1, c2 = st.columns(2)
    c1.slider("Probe x", -WIDE_EXTENT, WIDE_EXTENT, step=0.05, key=CLS + "probe_x",
              help="Where the probe (the red cross on the maps) looks. Try a point far from every training point.")
    c2.slider("Probe y", -WIDE_EXTENT, WIDE_EXTENT, step=0.05, key=CLS + "probe_y",
              help="The probe's second coordinate.")


def calibration(snapshot: PairSnapshot) -> None:
    """Fig. 11 and the reliability diagram, on the validation set, once the run is not training."""
    if snapshot["state"] == "playing":
        st.info("These are computed on the validation set when the run is paused or finished (they take a "
                "moment and would change at every step).")
        return
    run = snapshot["runs"][0]
    frozen = run.get("frozen")
    if frozen is None:
        return
    T = int(st.session_state[CLS + "T"])
    key = (frozen.fingerprint, T)
    held = st.session_state.get(CLS + "calibration")
    if held is None or held[0] != key:  # sampled in a worker, once per weights and T
        X, y = snapshot["data"]["X_val"], snapshot["data"]["y_val"]
        result = run_now("calibration", "calibration",
                         CalibrationRequest(frozen, X, y, T, tuple(FIG11_T), FIG11_REPEATS),
                         what="Sampling the validation set…")
        if result is None:
            return
        held = st.session_state[CLS + "calibration"] = (key, result)
    calibrated = held[1]
    avg, rel_det, rel_mc = calibrated.averaging, calibrated.deterministic, calibrated.mc
    c1, c2 = st.columns([3, 2])
    c1.plotly_chart(vu.mc_vs_weight_scaling(avg), key=CLS + "fig11", config={"displayModeBar": False})
    c2.plotly_chart(vu.reliability_diagram([("dropout off", rel_det), (f"MC, T = {T}", rel_mc)]),
                    key=CLS + "reliability", config={"displayModeBar": False})
    best = int(np.argmin(avg.loss_mean))
    st.markdown(
        f"On the {len(snapshot['data']['y_val'])} validation points at epoch {run['epoch']:.0f}: weight scaling "
        f"gives accuracy {avg.ws_acc:.1%} and log-loss {avg.ws_loss:.3f}; the MC average of {int(avg.T[-1])} passes "
        f"{avg.acc_mean[-1]:.1%} and {avg.loss_mean[-1]:.3f} (± {avg.loss_se[-1]:.3f} over {avg.repeats} repeats; "
        f"lowest log-loss at T = {int(avg.T[best])}). ECE: {rel_det.ece:.3f} with dropout off, {rel_mc.ece:.3f} "
        f"for MC with T = {T} ({rel_mc.filled} of the {len(rel_mc.count)} equal-width bins hold points; of two "
        f"classes, confidence is never below 0.5). Confidently wrong: {rel_mc.wrong_from(0.9)} points are "
        f"misclassified by the MC mean with confidence 0.9 or more, {rel_det.wrong_from(0.9)} with dropout off.")


# -- a digit leaving the data ---------------------------------------------------------------------
DIGITS = JobPanel(NS + "digits.", "digits", cache_size=8)
DIGIT_JOB = DIGITS.job_key


def digit_model() -> Any | None:
    """The shared digit network (trained once per server for the defaults), or None with a button."""
    from core.labs.uncertainty.shift import DigitSettings  # noqa: PLC0415

    return DIGITS.draw("digits", DigitSettings(), progress="Training the digit network",
                       run_label="▶ Train the digit network",
                       run_help="One MLP with dropout on the 8x8 digits, in the background: a few seconds. "
                                "Trained once per server, then shared.")


PATHS = {"shift right": ("right", 4), "shift left": ("left", 4), "shift up": ("up", 4), "shift down": ("down", 4),
         "rotate": ("rotate", 6)}


def digit_path(model: Any) -> None:
    """Move one validation digit and draw the uncertainty along its path, computed in a worker."""
    from core.labs.uncertainty.shift import PathRequest  # noqa: PLC0415

    n_val = len(model.val_labels)
    linked(NS + "digits.index", 0, name="digit.index", lo=0, hi=n_val - 1)
    linked(NS + "digits.path", "shift right", name="digit.path", choices=tuple(PATHS))
    linked(NS + "digits.T", 100, name="digit.T", lo=10, hi=MAX_PASSES)
    c1, c2, c3 = st.columns(3)
    index = int(c1.number_input("Validation digit", 0, n_val - 1, step=1, key=NS + "digits.index",
                                help=f"Which of the {n_val} validation images to move."))
    kind, steps = PATHS[c2.selectbox("Move it", list(PATHS), key=NS + "digits.path",
                                     help="Shift it pixel by pixel (the freed pixels are blank), or turn it by "
                                          "up to 90 degrees.")]
    T = c3.slider("T, passes", 10, MAX_PASSES, key=NS + "digits.T", help="Stochastic passes at each step.")
    asked = (model.settings, index, kind, steps, int(T))
    held = st.session_state.get(NS + "digits.shown")
    if held is None or held[0] != asked:  # a rerun with nothing changed asks the worker nothing
        result = run_now("digit_path", "digits", PathRequest(model, index, kind, steps, int(T)),
                         what="Moving the digit…")
        if result is None:
            return
        held = st.session_state[NS + "digits.shown"] = (asked, result)
    shown = held[1]
    path, amounts = shown.path, shown.amounts
    unit = "°" if kind == "rotate" else " px"
    st.plotly_chart(vu.digit_strip(path.images, [f"{a:g}{unit}<br>MC {p} · off {d}" for a, p, d in
                                                 zip(amounts, path.predicted, path.det_predicted)]),
                    key=NS + "strip", config={"displayModeBar": False})
    st.plotly_chart(vu.path_uncertainty(amounts, path.entropy, path.mutual_info, path.det_confidence,
                                        "degrees turned" if kind == "rotate" else "pixels shifted"),
                    key=NS + "path", config={"displayModeBar": False})
    st.caption(f"The digit is a {int(model.val_labels[index])}. Under each image: the class the MC average predicts "
               "(MC) and the one predicted with dropout off (off). "
               f"The network: {model.settings.layers} hidden layers of {model.settings.width} units, p = "
               f"{model.settings.p:g}, validation accuracy {model.val_acc:.1%}.")
