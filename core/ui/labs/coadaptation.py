"""Lesson 4's live parts: two runs (dropout on and off, the same initial weights), their
co-adaptation statistics as they train, predictions before each is revealed, and units
switched off by clicking them.

The runner is the Playground's (``core.live.pair.LiveRunner``, driven by ``core.ui.live``
under this page's namespace) with co-adaptation statistics switched on; this module only
turns widgets into configs and snapshots into figures.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import streamlit as st

from core import viz
from core.drills import Prediction, load_predictions
from core.engine.config import (ACTIVATIONS, DIGITS_SIZE, PLANE_DATASETS, ConfigError, DataConfig, ModelConfig, RunConfig,
                         TrainConfig)
from core.labs.coadaptation import figures as viz_coadaptation
from core.labs.coadaptation.features import FeatureResult, FeatureSettings
from core.live.pool import Runner
from core.live.snapshots import PairSnapshot
from core.ui import drills, live, upload
from core.ui.clicks import Clicks
from core.ui.jobs import JobPanel
from core.ui.links import reader, seed_from_link, write_link
from core.ui.live import Settings

NS = "coadaptation."
RUNNER = NS + "runner"
KNOCKED = NS + "knocked"  # the units switched off, sorted
CLICKS = Clicks(NS)  # the units' clickable charts
TICK_SECONDS = max(0.5, live.TICK_SECONDS)  # statistics are measured every 0.5 s (core.live.pair.STATS_INTERVAL)
WIDTHS = (4, 8, 12, 16, 24, 32)
DIAGRAM_UNITS = max(WIDTHS)
SPEEDS = (3, 10, 30, 100, "max")
LESSON = "04_coadaptation"  # its predictions: lessons/04_coadaptation_predictions.toml

DEFAULTS: dict[str, Any] = {
    "p": 0.5, "dataset": "moons", "noise": 0.5, "n_train": 40, "width": 16, "layers": 1, "layer": 1,
    "activation": "relu", "seed": 0, "epochs": 300, "speed": 30,
}
"""What a newcomer sees: 40 noisy moons points and one layer of 16 ReLU units. After the 300
epochs (10 s at 30 epochs per second) the worst single unit costs about 0.18 nats of validation
loss without dropout and 0.02 with p = 0.5 (8 paired seeds; tests/core/analysis/test_coadaptation.py)."""
LINK_RANGES = {"p": (0.05, 0.9), "noise": (0.0, 1.0), "n_train": (20, 1000), "layers": (1, 2), "layer": (1, 2),
               "seed": (0, 2**31 - 1), "epochs": (10, 5000)}


# -- the controls ------------------------------------------------------------------------------
_from_link = reader({"dataset": PLANE_DATASETS, "activation": ACTIVATIONS, "width": WIDTHS, "speed": SPEEDS},
                    LINK_RANGES)


def _seed_widgets() -> None:
    """Each widget's default, or the link's value the first time the page opens in this session."""
    first_visit = NS + "p" not in st.session_state
    seed_from_link({NS + name: (name, value) for name, value in DEFAULTS.items()}, _from_link, use_link=first_visit)
    if first_visit and st.session_state[NS + "layer"] > st.session_state[NS + "layers"]:
        st.warning(f"The link asks to measure hidden layer {st.session_state[NS + 'layer']} of a network with "
                   f"{st.session_state[NS + 'layers']}; measuring layer {st.session_state[NS + 'layers']}.", icon="🔗")
        st.session_state[NS + "layer"] = st.session_state[NS + "layers"]


def _write_link() -> None:
    write_link({name: st.session_state[NS + name] for name in DEFAULTS})


def controls() -> tuple[Settings, int]:
    """The sidebar; returns the two runs' settings and the hidden layer (0-based) being measured."""
    _seed_widgets()
    sb = st.sidebar
    sb.slider("Dropout p of the dropout run", 0.05, 0.9, step=0.05, key=NS + "p",
              help="Probability of DROPPING each hidden unit at a training step, in the run with dropout. "
                   "The other run is the same network with p = 0. Takes effect at the next step, no reset.")
    with sb.expander("Data", expanded=False):
        built_in, mine = st.container(), upload.uploaded(NS)  # the uploader is read first: a file disables these
        built_in.selectbox("Dataset", PLANE_DATASETS, key=NS + "dataset", disabled=mine is not None,
                           help="The 2-D problem, as in the Playground. Changing it starts a new run.")
        built_in.slider("Noise", 0.0, 1.0, step=0.05, key=NS + "noise", disabled=mine is not None,
                        help="How much the classes overlap: more noise gives the network more to memorise.")
        built_in.slider("Training points", 20, 1000, step=10, key=NS + "n_train", disabled=mine is not None,
                        help="Few points and many units is where co-adaptation shows most. (Your file, when "
                             "one is in use, sets the dataset, noise and points.)")
        built_in.number_input("Seed", 0, 2**31 - 1, step=1, key=NS + "seed",
                              help="Fixes the data, the shared initial weights, the batch order and the masks.")
    with sb.expander("Network", expanded=False):
        st.select_slider("Units per hidden layer", WIDTHS, key=NS + "width",
                         help="Every unit appears in the diagram, where a click switches it off.")
        layers = st.slider("Hidden layers", 1, 2, key=NS + "layers",
                           help="With two, choose which one the statistics measure.")
        if st.session_state[NS + "layer"] > layers:
            st.session_state[NS + "layer"] = layers
        st.radio("Measure hidden layer", list(range(1, layers + 1)), key=NS + "layer", horizontal=True,
                 disabled=layers == 1, help="The layer whose units are knocked out, correlated and counted.")
        st.selectbox("Activation", ACTIVATIONS, key=NS + "activation",
                     help="ReLU units output exact zeros, which the sparsity numbers count; tanh and sigmoid "
                          "units almost never do.")
    with sb.expander("Training", expanded=False):
        st.number_input("Epochs", 10, 5000, step=50, key=NS + "epochs",
                        help="Both runs stop here. Raise it after they finish to carry on.")
        st.select_slider("Speed (epochs per second)", SPEEDS, key=NS + "speed",
                         help="A pace you can watch; 'max' trains as fast as the CPU allows.")
    _write_link()
    value = lambda name: st.session_state[NS + name]  # noqa: E731
    layers = int(value("layers"))
    try:
        with_dropout = RunConfig(
            data=upload.data_config(mine, DataConfig(dataset=value("dataset"), noise=float(value("noise")),
                                                     n_train=int(value("n_train")), seed=int(value("seed")))),
            model=ModelConfig(num_hiddens=(int(value("width")),) * layers, activation=value("activation"),
                              p_hidden=(float(value("p")),) * layers),
            train=TrainConfig(max_epochs=int(value("epochs"))),
        )
    except ConfigError as exc:
        st.error(f"These settings do not make a valid run: {exc}")
        st.stop()
    without = RunConfig(with_dropout.data, with_dropout.model.with_p(0.0, (0.0,) * layers), with_dropout.train)
    speed = value("speed")
    return Settings(with_dropout, without, None if speed == "max" else float(speed)), int(value("layer")) - 1


def sync_runner(settings: Settings, layer: int) -> tuple[Runner, PairSnapshot]:
    """The shared live driver with the statistics on; another measured layer needs no new run."""
    runner, snapshot = live.sync_runner(settings, ns=NS, coadaptation_layer=0, diagram_units=DIAGRAM_UNITS)
    if st.session_state.get(NS + "knocked_for") is not runner:  # a new run: every unit is back on
        _forget_knocked()
        st.session_state[NS + "knocked_for"] = runner
    if snapshot["coadaptation_layer"] != layer:
        if st.session_state[KNOCKED]:
            runner.send("knockout", layer=None, units=None)  # the units were another layer's
        _forget_knocked()
        runner.send("set_coadaptation_layer", layer=layer)
        snapshot = runner.wait_for(lambda s: s["coadaptation_layer"] == layer, 0.5)
    return runner, snapshot


# -- switching units off -----------------------------------------------------------------------
def _forget_knocked() -> None:
    """Every unit on (the runner is new, or measures another layer): redraw the clickable charts."""
    st.session_state[KNOCKED] = []
    CLICKS.next()


def _set_knocked(units: list[int]) -> None:
    runner: Runner | None = st.session_state.get(RUNNER)
    st.session_state[KNOCKED] = sorted(set(units))
    if runner is None:
        return
    layer = int(st.session_state[NS + "layer"]) - 1
    runner.send("knockout", layer=layer, units=st.session_state[KNOCKED])
    wanted = st.session_state[KNOCKED]
    runner.wait_for(lambda s: (s["runs"][0].get("knockout") or {}).get("units", []) == wanted, 0.5)


def toggled(knocked: list[int], points: list[dict[str, Any]]) -> list[int]:
    """The units switched off after a click that picked ``points``: each unit picked changes state
    (a grey, unclickable dot picks none)."""
    return sorted(set(knocked).symmetric_difference(viz_coadaptation.clickable_units(points)))


def _on_pick(points: list[dict[str, Any]]) -> None:
    knocked = st.session_state.get(KNOCKED, [])
    units = toggled(knocked, points)
    if units != knocked:
        _set_knocked(units)


def restore_all() -> None:
    _set_knocked([])
    CLICKS.next()


# -- predictions ---------------------------------------------------------------------------------
def revealed(prediction_id: str) -> bool:
    return drills.revealed(NS, prediction_id)


def predict(prediction: Prediction, runs: list[dict[str, Any]] | None) -> bool:
    """Ask first; once answered (or skipped), say whether it was right, and what the two live runs
    show (``runs``, if the statistic is one of theirs). Returns whether the statistic may be shown."""
    if not drills.predict(NS, prediction):
        return False
    leads = [(run.get("coadaptation") or {}).get("lead") for run in runs or []]
    if leads and all(leads):
        with_dropout, without = (lead[prediction.statistic] for lead in leads)
        now = f"In these two runs right now: {with_dropout:.3f} with dropout, {without:.3f} without"
        if prediction.statistic == "zero_fraction" and runs[0]["config"].model.activation != "relu":
            st.caption(f"{now}. {runs[0]['config'].model.activation} units are (almost) never exactly zero, "
                       "so this statistic says nothing here: switch the activation back to relu.")
        elif with_dropout == without:
            st.caption(f"{now}: the same.")
        elif (with_dropout < without) == prediction.lower_with_dropout:
            st.caption(f"{now}, as the seeds above say.")
        else:
            st.caption(f"{now}: not what the seeds say on average. One pair of runs is one seed: let it train on, "
                       "or change the seed.")
    return True


# -- drawing ---------------------------------------------------------------------------------------
def run_labels(runs: list[dict[str, Any]]) -> list[str]:
    return [f"With dropout (p={runs[0]['config'].model.p_hidden[0]:g})", "Without dropout"]


def _accuracy(col, run: dict[str, Any], label: str) -> None:
    h = run["history"]
    knock = run.get("knockout")
    stats = run.get("coadaptation")
    c1, c2 = col.columns(2)
    if not revealed("knockout"):
        c2.metric("Worst unit costs", "?", help="Predict in section 1 below first: which network loses more?")
        stats = None
    if not h["epoch"]:
        c1.metric("Val accuracy", "–")
        if stats:
            c2.metric("Worst unit costs", "–")
        return
    if knock is None:
        c1.metric("Val accuracy", f"{h['val_acc'][-1]:.1%}", help="Accuracy on the validation points, dropout off.")
    else:
        c1.metric("Val accuracy, units off", f"{knock['val_acc']:.1%}", f"{knock['val_acc'] - h['val_acc'][-1]:+.1%}",
                  help=f"With the units you switched off; {h['val_acc'][-1]:.1%} with every unit on.")
    if stats:
        c2.metric("Worst unit costs", f"{stats['lead']['ko_max']:.3f} nats",
                  help="The largest increase of the validation loss when ONE unit of the measured layer is "
                       "switched off (cross-entropy, in nats). Low = no single unit carries the network.")


def draw(snapshot: dict[str, Any], predictions: dict[str, Prediction]) -> None:
    runs = snapshot["runs"]
    labels = run_labels(runs)
    lead = runs[0]
    max_epochs = lead["config"].train.max_epochs
    state = snapshot["state"]
    playing = state == "playing"
    st.progress(min(1.0, lead["epoch"] / max_epochs),
                text=f"Epoch {lead['epoch']:.1f} of {max_epochs} · {live.status_text(snapshot)}")
    live.state_notice(snapshot)
    knocked = st.session_state.get(KNOCKED, [])
    layer = int(st.session_state[NS + "layer"]) - 1
    off_text = ", ".join(str(u + 1) for u in knocked)
    c1, c2 = st.columns([4, 1])
    if knocked:
        c1.markdown(f"**Switched off in both networks:** hidden layer {layer + 1}, unit{'s' * (len(knocked) > 1)} "
                    f"{off_text}. Click a unit again to switch it back on.")
        c2.button("Switch all back on", key=NS + "restore.button", on_click=restore_all, use_container_width=True,
                  help="Every unit on again, in both networks.")
    else:
        c1.markdown("**Click a unit** of the measured layer (a black dot) in either diagram, or a point of the "
                    "damage chart below, to switch it off in both networks."
                    + (" Bigger dots cost more when switched off." if revealed("knockout") else ""))
    worst = [run["coadaptation"]["lead"]["ko_max"] for run in runs if run.get("coadaptation")]
    scale = max(worst) if worst else None  # one dot size for one cost in both diagrams
    cols = st.columns(2)
    for i, (col, run, label) in enumerate(zip(cols, runs, labels)):
        with col:
            st.markdown(f"**{label}**")
            _accuracy(col, run, label)
            suffix = f", unit{'s' * (len(knocked) > 1)} {off_text} off" if knocked else ""
            fig = viz.decision_map(run["grid"], snapshot["grid_axis"], snapshot["data"], f"Decision map{suffix}",
                                   height=330)
            st.plotly_chart(fig, key=f"{NS}map_{i}", config={"displayModeBar": False})
            CLICKS.chart(lambda run=run: viz_coadaptation.network(
                run, layer, knocked, f"Network: click a hidden-layer-{layer + 1} unit to switch it off",
                damage_scale=scale, show_damage=revealed("knockout")), f"net_{i}", playing=playing, on_points=_on_pick)

    st.subheader("1. Knock-out damage: can the network do without any one unit?")
    if predict(predictions["knockout"], runs):
        CLICKS.chart(lambda: viz_coadaptation.damage_ranked(runs, labels, knocked), "damage", playing=playing,
                     on_points=_on_pick)
        _series(runs, labels, ("ko_max", "ko_mean"))
    st.subheader("2. Correlation between units")
    if predict(predictions["correlation"], runs):
        cols = st.columns(2)
        for i, (col, run, label) in enumerate(zip(cols, runs, labels)):
            stats = run.get("coadaptation")
            mean_abs = f": mean |r| = {stats['lead']['corr_mean_abs']:.2f}" if stats else ""
            col.plotly_chart(viz_coadaptation.correlation_heatmap(stats, f"{label}{mean_abs}"),
                             key=f"{NS}corr_{i}", config={"displayModeBar": False})
        _series(runs, labels, ("corr_mean_abs",))
    st.subheader("3. Sparsity: how many activations are exactly zero?")
    if predict(predictions["sparsity"], runs):
        st.plotly_chart(viz_coadaptation.sparsity_histograms(runs, labels), key=NS + "sparsity",
                        config={"displayModeBar": False})
        _series(runs, labels, ("zero_fraction",))
        for run, label in zip(runs, labels):
            stats = run.get("coadaptation")
            if stats:
                lead_ = stats["lead"]
                st.markdown(f"- **{label}**: {lead_['zero_fraction']:.1%} of activations are zero, mean activation "
                            f"{float(sum(stats['unit_mean']) / len(stats['unit_mean'])):.3f}, "
                            f"{int(lead_['dead_units'])} dead unit(s) (zero on every validation point).")


def _series(runs: list[dict[str, Any]], labels: list[str], keys: tuple[str, ...]) -> None:
    st.plotly_chart(viz_coadaptation.lead_series(runs, labels, keys), key=f"{NS}series.{'.'.join(keys)}",
                    config={"displayModeBar": False})


def all_revealed() -> bool:
    """Every prediction answered or skipped: the page may show the lesson's measured numbers."""
    return all(revealed(p) for p in ("knockout", "correlation", "sparsity", "features"))


def live_view(runner: Runner, snapshot: PairSnapshot) -> None:
    predictions = load_predictions(LESSON)
    st.toggle("Show every statistic without predicting (for a projector)", key=NS + "reveal_all",
              help="Skips the predictions below. A class can predict aloud first.")
    live.live_view(runner, snapshot, lambda latest: draw(latest, predictions), tick=TICK_SECONDS,
                   export="coadaptation")


# -- learned features on digits (a background run, shared and cached like lesson 3's) ---------------
FEATURE_WIDTHS = (16, 32, 64, 128, 256)


FEATURES = JobPanel(NS + "features.", "features", cache_size=16)
FEATURES_JOB = FEATURES.job_key


def _feature_settings() -> FeatureSettings | None:
    d = FeatureSettings()
    k = NS + "features."
    for name in ("p", "p_input", "width", "n_train", "epochs", "seed"):
        st.session_state.setdefault(k + name, getattr(d, name))
    with st.expander("Settings of the digit networks", expanded=False):
        c1, c2, c3 = st.columns(3)
        c1.slider("Hidden dropout p", 0.0, 0.9, step=0.05, key=k + "p",
                  help="Drop probability of the hidden units in the dropout network (the other has 0).")
        c1.slider("Input dropout p", 0.0, 0.5, step=0.05, key=k + "p_input",
                  help="Drop probability of each pixel in the dropout network. The paper's MNIST classifiers keep "
                       "80 % of the pixels, that is p = 0.2 here. Set 0 for hidden dropout alone.")
        c2.select_slider("Hidden units", FEATURE_WIDTHS, key=k + "width", help="One tile per unit (the first 64 "
                         "are drawn).")
        c2.slider("Training images", 100, 1500, step=100, key=k + "n_train",
                  help=f"Out of the {DIGITS_SIZE} digits; the rest are the validation set.")
        c3.slider("Epochs", 10, 500, step=10, key=k + "epochs", help="Passes over the training images.")
        c3.number_input("Seed", 0, 2**31 - 1, step=1, key=k + "seed",
                        help="Fixes the split, the shared initial weights, the batches and the masks.")
    try:
        return replace(d, **{name: type(getattr(d, name))(st.session_state[k + name])
                             for name in ("p", "p_input", "width", "n_train", "epochs", "seed")})
    except (ConfigError, ValueError) as exc:
        st.error(f"These settings do not make a valid run: {exc}")
        return None


def features_panel() -> None:
    """Train two digit networks (with and without dropout) in the background, then show their tiles."""
    result = FEATURES.draw(
        "features", _feature_settings(), progress="Training the two digit networks",
        run_label="▶ Train the two digit networks",
        run_help="Trains both networks from the same initial weights, in the background: a few seconds.",
        changed="The digit networks finished, but their settings were changed while they trained. Their tiles "
                "show again if you set them back; press Train to train with the new ones.")
    if result is not None:
        show_features(result)


def features_prediction() -> bool:
    """The fourth prediction (about the digit networks), asked before the lesson's numbers show."""
    return predict(load_predictions(LESSON)["features"], None)


def show_features(result: FeatureResult) -> None:
    without, with_ = result.runs
    cols = st.columns(2)
    for i, (col, run, label) in enumerate(zip(cols, (with_, without), (
            f"With dropout (p={with_.p:g}, input p={with_.p_input:g})", "Without dropout"))):
        with col:
            st.plotly_chart(viz_coadaptation.feature_tiles(run.tiles, label), key=f"{NS}tiles_{i}",
                            config={"displayModeBar": False})
            st.markdown(
                f"- roughness of the tiles: **{run.mean_roughness:.2f}** (about 1 = noise, 0 = smooth)\n"
                f"- hidden activations at zero: **{run.sparsity.zero_fraction:.0%}**, mean activation "
                f"**{run.mean_activation:.3f}**\n"
                f"- validation accuracy **{run.val_acc:.1%}** (training {run.train_acc:.1%})\n"
                f"- worst single unit costs **{run.knockout_max:.3f}** nats")
    shown = min(len(with_.tiles), viz_coadaptation.MAX_TILES)
    st.caption(f"{result.settings.width} hidden units (the first {shown} drawn), {result.settings.n_train} training "
               f"images, {result.settings.epochs} epochs, seed {result.settings.seed}; trained in "
               f"{result.seconds:.1f} s. Roughness is over every unit, on the pixels that are not blank in every "
               "training image. One seed: the lesson's numbers are over eight.")
