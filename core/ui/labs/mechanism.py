"""Lesson 1's live parts: one mask, why scale, keep vs drop, the mode switch, the ensemble view, the bugs, the quiz."""
from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import streamlit as st

from core.labs.mechanism import compute as mechanism
from core.labs.mechanism import figures as viz_mechanism
from core.labs.mechanism import ensemble as ensemble_lab
from core.labs.mechanism.compute import DemoRequest, Demos
from core.live.jobs import ResultCache
from core.lessons import Lesson
from core.ui.jobs import run_now
from core.ui import drills
from core.ui.links import linked

NS = "mechanism."
CHART = {"displayModeBar": False}
POINTS = {
    "deep in the orange class (-0.9, 0.6)": (-0.9, 0.6),
    "near the boundary (0.0, 0.25)": (0.0, 0.25),
    "deep in the blue class (1.4, -0.6)": (1.4, -0.6),
}
CONVENTIONS = {
    "PyTorch / Keras p (drop probability)": "drop",
    "2014 paper p (retain probability)": "keep",
    "TensorFlow 1 keep_prob": "keep",
}


_ENSEMBLE = ensemble_lab.EnsembleRequest()
DEFAULTS = {"point": next(iter(POINTS)), "p": 0.5, "auto": False, "n_masks": 10_000,
            "convention": next(iter(CONVENTIONS)), "convention_value": 0.8, "passes": 50, "mask_seed": 0,
            "modes": list(mechanism.MODES), "ensemble.p": _ENSEMBLE.p, "ensemble.seed": _ENSEMBLE.seed,
            "ensemble.k_max": _ENSEMBLE.k_max}


LINK_RULES: dict[str, dict[str, Any]] = {
    "point": {"choices": tuple(POINTS)}, "p": {"lo": 0.0, "hi": 0.95}, "auto": {"choices": (False, True)},
    "n_masks": {"choices": (10, 100, 1000, 10_000)}, "convention": {"choices": tuple(CONVENTIONS)},
    "convention_value": {"lo": 0.0, "hi": 1.0}, "passes": {"lo": 10, "hi": 200}, "mask_seed": {"lo": 0, "hi": 2**31 - 1},
    "modes": {"choices": mechanism.MODES}, "ensemble.p": {"choices": ensemble_lab.P_CHOICES},
    "ensemble.seed": {"lo": 0, "hi": ensemble_lab.MAX_SEED}, "ensemble.k_max": {"choices": ensemble_lab.K_MAX_CHOICES},
}
"""How the link's value of each control is read (``core.ui.links.linked``): its choices, or its range."""

ANSWERS = ResultCache(size=32)  # the workers' answers, for every session: they are seeded


def warm_up() -> Demos | None:
    """Set the controls' starting values (kept across pages by the router) and ask a worker for what
    the lesson's small trained networks show at the chosen number of passes (the first question of
    a server trains them: a few seconds). None, after saying why, when no answer came."""
    for name, value in DEFAULTS.items():
        linked(NS + name, value, name=name, **LINK_RULES.get(name, {}))
    request = DemoRequest(tuple(POINTS.values()), st.session_state[NS + "passes"])
    token = repr(request)
    answer = ANSWERS.get(token)
    if answer is None:
        answer = run_now("mechanism", "mechanism." + token, request,
                         what="Training the lesson's small networks in a worker (a few seconds, once)…")
        if answer is not None:
            ANSWERS.put(token, answer)
    return answer


def one_mask(demos: Demos | None) -> tuple[np.ndarray | None, float, int]:
    """Section 1: the mask over one layer, and a batch of masks. Returns (h, p, mask seed); h is None
    when the trained network's answer did not come (``warm_up`` said why)."""
    c1, c2 = st.columns([2, 1])
    name = c1.selectbox("Input to the trained network", tuple(POINTS), key=NS + "point",
                        help="The bars are hidden layer 1 of a small network trained on moons, for this input.")
    p = c2.slider("p (drop probability)", 0.0, 0.95, step=0.05, key=NS + "p",
                  help="Each unit is dropped with probability p; survivors are multiplied by 1/(1-p).")
    seed_key = NS + "mask_seed"
    b1, b2 = st.columns([1, 3])
    if b1.button("🎲 Sample a new mask", key=NS + "resample.button", help="Draw a fresh Bernoulli mask."):
        st.session_state[seed_key] += 1
        linked(seed_key, 0, name="mask_seed", **LINK_RULES["mask_seed"])  # the link shows the new mask
    auto = b2.toggle("Resample every second", key=NS + "auto", help="Keep drawing new masks, once a second.")
    if demos is None:
        return None, p, st.session_state[seed_key]
    h = demos.hidden[list(POINTS).index(name)]

    @st.fragment(run_every=1.0 if auto else None)
    def _draw() -> None:
        # New mask at most once a second, whether the timer or another control reran this.
        if auto and time.monotonic() - st.session_state.get(NS + "last_auto", 0.0) >= 0.9:
            st.session_state[NS + "last_auto"] = time.monotonic()
            st.session_state[seed_key] += 1
            linked(seed_key, 0, name="mask_seed", **LINK_RULES["mask_seed"])
        seed = st.session_state[seed_key]
        draw = mechanism.draw_mask(h, p, seed)
        st.plotly_chart(viz_mechanism.mask_bars(draw, p), key=NS + "bars", config=CHART)
        st.plotly_chart(viz_mechanism.batch_heatmap(mechanism.batch_masks(len(h), 32, p, seed)),
                        key=NS + "batch", config=CHART)

    _draw()
    return h, p, st.session_state[seed_key]


def why_scale(h: np.ndarray | None, p: float, seed: int) -> None:
    """Section 2: inverted vs classic, and the running mean converging to the evaluation output."""
    if h is None:
        return
    n_masks = st.select_slider("Masks to average", (10, 100, 1000, 10_000), key=NS + "n_masks",
                               help="How many independent masks the running mean goes up to.")
    inverted = mechanism.running_mean(h, p, n_masks, seed)
    classic = mechanism.running_mean(h, p, n_masks, seed, classic=True)
    mean_h = float(np.mean(h))
    c1, c2 = st.columns(2)
    c1.markdown(
        f"**Inverted** (PyTorch): training output `h·m/(1−p)`, evaluation output `h`.  \n"
        f"Evaluation mean = **{mean_h:.4f}**; average of {n_masks:,} masks = **{inverted['running_mean'][-1]:.4f}**."
    )
    c2.markdown(
        f"**Classic** (2014 paper): training output `h·m`, evaluation output `h·(1−p)`.  \n"
        f"Evaluation mean = **{classic['target']:.4f}**; average of {n_masks:,} masks = "
        f"**{classic['running_mean'][-1]:.4f}**."
    )
    st.plotly_chart(viz_mechanism.convergence(inverted, classic), key=NS + "convergence", config=CHART)


def keep_or_drop() -> None:
    """Section 3: a converter between the conventions."""
    c1, c2 = st.columns([2, 1])
    convention = c1.selectbox("I have a value in this convention", tuple(CONVENTIONS), key=NS + "convention",
                              help="Libraries and papers disagree on what 'p' means.")
    value = c2.number_input("Value", 0.0, 1.0, step=0.05, key=NS + "convention_value",
                            help="A probability between 0 and 1.")
    drop = value if CONVENTIONS[convention] == "drop" else mechanism.drop_from_keep(value)
    keep = mechanism.keep_from_drop(drop)
    d1, d2, d3 = st.columns(3)
    d1.metric("nn.Dropout(p=…)", f"{drop:g}", help="PyTorch's and Keras's p: the DROP probability.")
    d2.metric("paper's p", f"{keep:g}", help="Srivastava et al. 2014: the probability of RETAINING a unit.")
    d3.metric("keep_prob", f"{keep:g}", help="TensorFlow 1's tf.nn.dropout argument: also the retain probability.")
    if CONVENTIONS[convention] == "keep" and value != drop:
        st.warning(f"The classic confusion: nn.Dropout(p={value:g}) would DROP {value:.0%} of the units. "
                   f"To keep {value:.0%} of them, pass p = {drop:g}.")


def modes(demos: Demos | None) -> None:
    """Section 4: eval vs train vs MC on a trained network with BatchNorm."""
    c1, c2 = st.columns([3, 2])
    shown = c1.segmented_control(
        "Modes", mechanism.MODES, selection_mode="multi", key=NS + "modes",
        format_func=lambda m: f"{m}_mode", help="Which modes to run the passes in: eval_mode (dropout off), "
        "train_mode (what forgetting model.eval() gives) and mc_mode (only dropout on).",
    ) or []
    c2.slider("Forward passes per input", 10, 200, step=10, key=NS + "passes",
              help="Each pass is one forward call on the same five inputs.")
    if not shown:
        st.info("Choose at least one mode above.")
        return
    if demos is None:
        return
    results = {mode: result for mode, result in demos.modes.items() if mode in shown}
    st.plotly_chart(viz_mechanism.mode_spread({m: r["probs"] for m, r in results.items()},
                                              list(mechanism.EXAMPLE_POINTS)),
                    key=NS + "modes_chart", config=CHART)
    cols = st.columns(len(results))
    for col, (mode, result) in zip(cols, results.items()):
        spread = float(result["probs"].std(0).mean())
        col.metric(viz_mechanism.MODE_LABELS[mode], f"spread {spread:.3f}",
                   help="Mean over the five inputs of the standard deviation of P(blue) across passes.")
        col.caption(f"BatchNorm running mean moved by {result['bn_drift']:.3g} during these passes.")


def ensemble() -> None:
    """Section 5: K sampled thinned networks of a trained network, combined, against the full network
    (asked of a worker: it trains two small networks, about two seconds; answers are kept for everyone)."""
    c1, c2, c3 = st.columns(3)
    p = c1.select_slider("p (drop probability)", ensemble_lab.P_CHOICES, key=NS + "ensemble.p",
                         help="The drop probability the network is trained with, after each of its two hidden "
                         "layers; the thinned networks are sampled at the same p.")
    seed = c2.number_input("Seed", 0, ensemble_lab.MAX_SEED, step=1, key=NS + "ensemble.seed",
                           help="Chooses the data, the initial weights, the training masks and the sampled "
                           "thinned networks. Equal settings give equal numbers.")
    k_max = c3.select_slider("Largest K", ensemble_lab.K_MAX_CHOICES, key=NS + "ensemble.k_max",
                             help="The most thinned networks averaged; K doubles from 1 up to this, and each K "
                             "keeps the networks of the smaller ones.")
    try:
        request = ensemble_lab.EnsembleRequest(p, int(seed), k_max)
    except (ValueError, TypeError) as exc:
        st.error(f"These settings make no run: {exc}")
        return
    token = "ensemble." + repr(request)
    result = ANSWERS.get(token)
    if result is None:
        result = run_now("mechanism", "mechanism." + token, request,
                         what="Training a small network and sampling its thinned networks (a few seconds)…")
        if result is None:  # run_now said why
            return
        ANSWERS.put(token, result)
    st.plotly_chart(viz_mechanism.ensemble_view(result), key=NS + "ensemble_chart", config=CHART)
    st.caption(_ensemble_caption(result))


def _ensemble_caption(r: ensemble_lab.EnsembleResult) -> str:
    k = r.ks[-1]
    arithmetic, geometric = r.at(k)
    n_val = r.n_val
    exponent = int(math.floor(math.log10(r.n_thinned)))
    return (
        f"{r.n_units} droppable units, so 2^{r.n_units} ≈ {r.n_thinned / 10**exponent:.1f} × 10^{exponent} thinned "
        f"networks share these weights. With K = {k}, P(class) differs from the full network's by "
        f"{arithmetic.gap:.4f} on average for the arithmetic mean and by {geometric.gap:.4f} for the geometric "
        f"mean; the predicted class differs on {round(arithmetic.flips * n_val)} (arithmetic) and "
        f"{round(geometric.flips * n_val)} (geometric) of the {n_val} validation points. Accuracy: full network "
        f"{r.full.accuracy:.2%}, arithmetic {arithmetic.accuracy:.2%}, geometric "
        f"{geometric.accuracy:.2%}. Log loss: {r.full.log_loss:.3f}, {arithmetic.log_loss:.3f}, "
        f"{geometric.log_loss:.3f}. The exact case, one hidden layer of {r.exact.n_units} units and all "
        f"{r.exact.n_masks:,} of its masks: the geometric mean is the full network to within "
        f"{max(r.exact.geometric_gap_max, 1e-16):.0e}; the arithmetic mean is off by {r.exact.arithmetic_gap_mean:.3f} "
        "on average."
    )


def bugs(demos: Demos | None) -> None:
    """Section 6: the two classic bugs as switches, with their measured damage."""
    if demos is None:
        return
    left_on, scale = demos.left_on, demos.scale
    st.markdown("**(a) Dropout left on at inference**")
    st.code("model.train()          # ...or model.eval() was never called\npreds = model(X_val)   # dropout is still on",
            language="python")
    on = st.toggle("Forget model.eval()", key=NS + "bug_a",
                   help="Evaluate the trained network with dropout still sampling masks.")
    _scores(left_on["buggy"] if on else left_on["correct"], left_on["correct"] if on else None)
    if on:
        st.caption(f"{left_on['changed_between_calls']:.1%} of the validation points got a different predicted "
                   f"class in at least one of {len(left_on['buggy_per_call'])} calls; accuracy per call: "
                   + ", ".join(f"{a:.1%}" for a in left_on["buggy_per_call"]) + ".")
    st.markdown("**(b) Scaling forgotten**")
    st.code("h = h * mask               # hand-written dropout: should be h * mask / (1 - p)\n"
            "...\npreds = model.eval()(X_val)  # and nothing rescales at test time", language="python")
    on = st.toggle("Forget the scaling", key=NS + "bug_b",
                   help="Train with unscaled masks, then evaluate with no factor (p = 0.5, two dropout layers).")
    _scores(scale["buggy"] if on else scale["correct"], scale["correct"] if on else None)
    if on:
        st.caption(f"The last hidden layer's activations are {scale['activation_ratio']:.2f}x what the next layer "
                   "saw in training: each of the two dropout layers contributes a factor 1/(1-p) = 2.")


def _scores(shown: dict, reference: dict | None) -> None:
    c1, c2, c3, c4 = st.columns(4)
    specs = (("accuracy", "Accuracy", "{:.1%}", "normal"), ("log_loss", "Log loss", "{:.3f}", "inverse"),
             ("confidence", "Mean confidence", "{:.1%}", "off"), ("ece", "ECE", "{:.3f}", "inverse"))
    for col, (key, label, fmt, colour) in zip((c1, c2, c3, c4), specs):
        delta = None if reference is None else shown[key] - reference[key]
        col.metric(label, fmt.format(shown[key]), None if delta is None else fmt.replace(":", ":+").format(delta),
                   delta_color=colour, help=_HELP[key])


_HELP = {
    "accuracy": "Share of the 400 validation points classified correctly.",
    "log_loss": "Cross-entropy on the validation points: punishes confident mistakes.",
    "confidence": "Average probability the network gives to the class it predicts.",
    "ece": "Expected calibration error: |accuracy − confidence| averaged over 10 confidence bins.",
}


def quiz(lesson_id: str) -> None:
    """Section 7: answer, check, then read the explanation: the bank's questions tagged with this lesson
    (``core.ui.drills.check_yourself``; numeric answers computed by ``core.analysis.answers``)."""
    drills.check_yourself(NS, lesson_id)


def section(lesson: Lesson, name: str) -> None:
    st.header(name)
    st.markdown(lesson.section(name))
