"""Lesson 6's live parts: up to three small CNNs on the digits (A, B, C: the same initial weights, a
dropout kind each), trained side by side, their feature maps and keep-masks on one validation digit,
their curves and generalization gaps.

The runner is the lesson's own kind, ``cnn`` (``core.labs.cnn.runner.LiveCNN``), in the worker
processes, driven by ``core.ui.live.drive`` under this page's namespace; this module only turns
widgets into configs and commands, and snapshots into figures (``core.labs.cnn.figures``).
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from core.analysis.verdicts import FAILS, HOLDS
from core.drills import load_predictions
from core.engine.config import CNN_IMAGE_SIZES, CNN_KINDS, ConfigError, CNNConfig, DataConfig, RunConfig, TrainConfig
from core.labs.cnn import figures as viz_cnn
from core.labs.cnn.experiments import IMAGE_SIZES as SPATIAL_SIZES
from core.labs.cnn.experiments import MAX_EPOCHS as SPATIAL_EPOCHS
from core.labs.cnn.experiments import MAX_SEEDS as SPATIAL_SEEDS
from core.labs.cnn.experiments import SpatialSettings
from core.labs.cnn.rebuild import MAX_EPOCHS as REBUILD_EPOCHS
from core.labs.cnn.rebuild import UPSAMPLED_SIZES, RebuildSettings
from core.live.pool import Runner, start_runner
from core.live.snapshots import CNNSnapshot
from core.ui import drills, live
from core.ui.jobs import JobPanel
from core.ui.links import linked, reader, seed_from_link, write_link
from core.ui.session import browser_id

NS = "cnn."
RUNNER = NS + "runner"
OFF = "off"
RUN_KINDS = {"a": CNN_KINDS, "b": (*CNN_KINDS, OFF), "c": (*CNN_KINDS, OFF)}
KIND_TEXT = {"none": "none (no dropout)", "element": "element (single pixels)", "channel": "channel (whole maps)",
             "block": "block (DropBlock squares)", OFF: "off (no run)"}
LRS = (0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
SPEEDS = (3, 10, 30, "max")
MAPS = (4, 8, 16)
N_VAL = 300
"""Validation digits: the views pick one of them; the rest of the 1,797 are for training (at most 1,400)."""
BATCH_SIZE = 50
"""500 training digits in 10 steps an epoch: three runs train at 14-18 epochs/s each on one core."""
TICK_SECONDS = live.TICK_SECONDS

DEFAULTS: dict[str, Any] = {
    "p": 0.3, "kind_a": "element", "kind_b": "channel", "kind_c": "none", "image_size": 8, "block_size": 3,
    "layers": 2, "maps": 8, "n_train": 500, "seed": 0, "lr": 0.003, "epochs": 200, "speed": 10, "digit": 0,
}
"""What a newcomer sees: element, channel and no dropout at p = 0.3 on the 8x8 digits, 10 epochs per second."""
LINK_RANGES = {"p": (0.0, 0.9), "block_size": (1, 5), "layers": (1, 3), "n_train": (100, 1400),
               "seed": (0, 2**31 - 1), "epochs": (10, 5000), "digit": (0, N_VAL - 1)}
_from_link = reader({"kind_a": RUN_KINDS["a"], "kind_b": RUN_KINDS["b"], "kind_c": RUN_KINDS["c"],
                     "image_size": CNN_IMAGE_SIZES, "maps": MAPS, "lr": LRS, "speed": SPEEDS}, LINK_RANGES)


# -- the controls ------------------------------------------------------------------------------
def _value(name: str) -> Any:
    return st.session_state[NS + name]


def controls() -> list[RunConfig]:
    """The sidebar; returns the runs' configs (A first; B and C unless switched off)."""
    seed_from_link({NS + name: (name, value) for name, value in DEFAULTS.items()}, _from_link,
                   use_link=NS + "p" not in st.session_state)
    sb = st.sidebar
    sb.slider("Dropout p", 0.0, 0.9, step=0.05, key=NS + "p",
              help="The DROP probability of every run's conv layers (a run of kind 'none' has no dropout). "
                   "Takes effect at the next step, no reset.")
    labels = {"a": "Run A dropout", "b": "Run B dropout", "c": "Run C dropout"}
    for run, kinds in RUN_KINDS.items():
        sb.selectbox(labels[run], kinds, key=NS + "kind_" + run, format_func=KIND_TEXT.get,
                     help="What a dropout mask takes away from each feature map: single pixels, whole maps, or "
                          "square blocks (or nothing). All runs start from the same weights. Changing it starts "
                          "a new run." + (" 'off' leaves this run out." if run != "a" else ""))
    sb.select_slider("Learning rate", LRS, key=NS + "lr",
                     help="Adam's step size, for every run. Takes effect at the next step, no reset; far too "
                          "large and the runs diverge.")
    with sb.expander("Images and network", expanded=False):
        st.select_slider("Image size", CNN_IMAGE_SIZES, key=NS + "image_size",
                         help="The 8x8 digits, or upsampled (bilinear) to 16x16 or 24x24: neighbouring pixels then "
                              "look more alike, so a dropped pixel is easier to guess from its neighbours. Larger "
                              "images train slower. Starts a new run.")
        st.slider("Block size", 1, 5, key=NS + "block_size",
                  help="The side of DropBlock's squares, in pixels (block runs only). Starts a new run.")
        st.slider("Conv layers", 1, 3, key=NS + "layers", help="3x3 convolutions, each followed by its dropout. "
                  "Starts a new run.")
        st.select_slider("Feature maps per layer", MAPS, key=NS + "maps",
                         help="Channels of each conv layer; every one is drawn below. Starts a new run.")
        st.slider("Training digits", 100, 1400, step=100, key=NS + "n_train",
                  help=f"Out of 1,797; {N_VAL} others are the validation set. Fewer digits overfit sooner. "
                       "Starts a new run.")
        st.number_input("Seed", 0, 2**31 - 1, step=1, key=NS + "seed",
                        help="Fixes the split, the shared initial weights, the batches and the masks. "
                             "Starts a new run.")
    with sb.expander("Training", expanded=False):
        st.number_input("Epochs", 10, 5000, step=50, key=NS + "epochs",
                        help="The runs stop here; Play carries on for as many again. No reset.")
        st.select_slider("Speed (epochs per second)", SPEEDS, key=NS + "speed",
                         help="A pace you can watch; 'max' trains as fast as the server allows.")
    write_link({name: _value(name) for name in DEFAULTS}, keep=(REBUILD_LINK, SPATIAL_LINK))
    return _configs()


def _configs() -> list[RunConfig]:
    layers = int(_value("layers"))
    p = float(_value("p"))
    try:
        data = DataConfig(dataset="digits", noise=0.0, n_train=int(_value("n_train")), n_val=N_VAL,
                          seed=int(_value("seed")))
        train = TrainConfig(batch_size=BATCH_SIZE, lr=float(_value("lr")), max_epochs=int(_value("epochs")))
        return [RunConfig(data, CNNConfig(channels=(int(_value("maps")),) * layers, kinds=(kind,) * layers,
                                          p_hidden=(p,) * layers, image_size=int(_value("image_size")),
                                          block_size=int(_value("block_size"))), train)
                for kind in (_value("kind_" + run) for run in RUN_KINDS) if kind != OFF]
    except ConfigError as exc:
        st.error(f"These settings do not make a valid run: {exc}")
        st.stop()


def _speed() -> float | None:
    return None if _value("speed") == "max" else float(_value("speed"))


def sync_runner(configs: list[RunConfig]) -> tuple[Runner, CNNSnapshot]:
    """This session's ``cnn`` runner, started, restarted (a structural change, said why) or updated
    (p, lr, epochs, the pace, the digit) by the live driver; and the snapshot this page run draws."""
    digit, speed = int(_value("digit")), _speed()

    def start() -> Runner:
        return start_runner("cnn", configs, digit=digit, epochs_per_second=speed, owner=browser_id())

    kinds = {f"run {run.upper()}": None if _value("kind_" + run) == OFF else _value("kind_" + run) for run in RUN_KINDS}
    built = {**kinds, "image size": int(_value("image_size")), "block size": int(_value("block_size")),
             "conv layers": int(_value("layers")), "maps per layer": int(_value("maps")),
             "training digits": int(_value("n_train")), "seed": int(_value("seed"))}
    values = (float(_value("p")), float(_value("lr")), int(_value("epochs")), speed, digit)
    return live.drive(NS, built=built, values=values, start=start, apply=_apply)


def _apply(runner: Runner, before: CNNSnapshot, old: tuple, new: tuple) -> CNNSnapshot:
    """p, lr, epochs, the pace and the digit go to the running runs; drawn once they hold them (or one
    was refused)."""
    p, lr, epochs, speed, digit = new
    sends = (("set_p", {"p": p}), ("set_lr", {"lr": lr}), ("set_max_epochs", {"max_epochs": epochs}),
             ("set_speed", {"epochs_per_second": speed}), ("set_digit", {"digit": digit}))
    for was, wanted, (command, args) in zip(old, new, sends):
        if was != wanted:
            runner.send(command, **args)

    def applied(s: CNNSnapshot) -> bool:
        if (s["message"] or "").startswith("ignored"):
            return True
        runs_hold = all(set(run["config"].model.p_hidden) == {p} and run["config"].train.lr == lr and
                        run["config"].train.max_epochs == epochs for run in s["runs"])
        return runs_hold and s["epochs_per_second"] == speed and s["digit"] == digit
    return runner.wait_for(applied, live.FIRST_POINT_WAIT)


def digit_picker(snapshot: CNNSnapshot) -> None:
    """Which validation digit the feature maps show (no reset: the views follow at once)."""
    c1, c2 = st.columns([1, 3])
    c1.number_input("Validation digit shown", 0, N_VAL - 1, step=1, key=NS + "digit",
                    help=f"Which of the {N_VAL} validation images the feature maps below show (the networks "
                         "never train on it). Changing it keeps the runs.")
    c2.caption(f"Digit #{snapshot['digit']} is a **{snapshot['label']}**. Each row below is one run, each tile one "
               "feature map before dropout (dark = strong activation), and the grey checkerboard is what one "
               "training pass drops: a new mask at every step.")


# -- drawing ---------------------------------------------------------------------------------------
def _run_metrics(col, run: dict[str, Any], label: int) -> None:
    h = run["history"]
    col.markdown(f"**{viz_cnn.run_label(run)}**")
    c1, c2 = col.columns(2)
    if h["epoch"]:
        c1.metric("Val accuracy", f"{h['val_acc'][-1]:.1%}", help="Accuracy on the validation digits, dropout off.")
        c2.metric("Gap", f"{run['gap']:.3f}" if run["gap"] is not None else "–",
                  help="Validation loss minus training loss (nats): how much the run has memorised.")
    else:
        c1.metric("Val accuracy", "–", help="Shown after the first epoch.")
        c2.metric("Gap", "–", help="Validation loss minus training loss, after the first epoch.")
    probs = run["probs"]
    if probs is not None:
        guess = int(probs.argmax())
        verdict = "right" if guess == label else "wrong"
        col.caption(f"Says this digit is a {guess} ({float(probs[guess]):.0%}): {verdict}.")


def draw(snapshot: CNNSnapshot) -> None:
    runs = snapshot["runs"]
    lead = runs[0]
    max_epochs = lead["config"].train.max_epochs
    st.progress(min(1.0, lead["epoch"] / max_epochs),
                text=f"Epoch {lead['epoch']:.1f} of {max_epochs} · {live.status_text(snapshot)}")
    live.state_notice(snapshot)
    cols = st.columns([1, *([2] * len(runs))])
    cols[0].plotly_chart(viz_cnn.digit(snapshot["image"], snapshot["label"], f"Digit #{snapshot['digit']}",
                                       height=180), key=NS + "digit_image", config={"displayModeBar": False})
    for col, run in zip(cols[1:], runs):
        _run_metrics(col, run, snapshot["label"])
    for layer in range(len(lead["config"].model.channels)):
        st.plotly_chart(viz_cnn.feature_maps(runs, layer), key=f"{NS}maps_{layer}", config={"displayModeBar": False})
    c1, c2 = st.columns(2)
    c1.plotly_chart(viz_cnn.curves(runs, "loss"), key=NS + "loss", config={"displayModeBar": False})
    c2.plotly_chart(viz_cnn.curves(runs, "acc"), key=NS + "acc", config={"displayModeBar": False})
    st.plotly_chart(viz_cnn.gap(runs), key=NS + "gap", config={"displayModeBar": False})


def live_view(runner: Runner, snapshot: CNNSnapshot) -> None:
    live.live_view(runner, snapshot, draw, tick=TICK_SECONDS, export="cnn")


# -- check yourself ---------------------------------------------------------------------------------
def quiz(lesson_id: str) -> None:
    """Answer, check, then read the explanation: the bank's questions tagged with this lesson
    (``core.ui.drills.check_yourself``; numeric answers computed by the engine's dropout modules)."""
    drills.check_yourself(NS, lesson_id)


# -- the background runs: neighbour rebuild, and the spatial experiment ---------------------------------
REBUILD = JobPanel(NS + "rebuild.", "cnn_rebuild", cache_size=16)
REBUILD_JOB = REBUILD.job_key
SPATIAL = JobPanel(NS + "spatial.", "spatial", cache_size=16)
SPATIAL_JOB = SPATIAL.job_key
REBUILD_LINK, SPATIAL_LINK = "rebuild.", "spatial."  # the panels' names in the link (``_settings``)
STATUS_ICON = {HOLDS: "✅", FAILS: "❌"}


def _settings(prefix: str, cls: type, widgets: list[tuple[str, Any, dict[str, Any]]]) -> Any | None:
    """``cls`` made from the widgets ``(name, draw(label... key=...), link rule)`` under ``prefix``, or None
    after saying why the values make no run. Each is in the link as ``<panel>.<name>`` (``linked``, with the
    rule: ``choices`` or ``lo`` and ``hi``)."""
    defaults = cls()
    for name, _, rule in widgets:
        linked(prefix + name, getattr(defaults, name), name=prefix[len(NS):] + name, **rule)
    with st.expander("Settings of this run", expanded=False):
        cols = st.columns(3)
        for i, (name, draw, _) in enumerate(widgets):
            with cols[i % 3]:
                draw(prefix + name)
    try:
        return cls(**{name: type(getattr(defaults, name))(st.session_state[prefix + name]) for name, _, _ in widgets})
    except (ConfigError, ValueError, TypeError) as exc:
        st.error(f"These settings do not make a valid run: {exc}")
        return None


LESSON_ID = "06_cnn"


def _revealed(revealed: bool) -> bool:
    """Whether a finished result may show: only once its prediction above was made or skipped."""
    if not revealed:
        st.info("The result is ready: make your prediction above (or press **Just show me**) to see it.", icon="🔮")
    return revealed


def rebuild_panel() -> None:
    """Train an 8x8 and an upsampled network in the background; then how well neighbours predict each layer."""
    k = REBUILD.prefix
    settings = _settings(k, RebuildSettings, [
        ("image_size", lambda key: st.select_slider("Upsampled size", UPSAMPLED_SIZES, key=key,
                                                    help="The second network's images; the first reads 8x8."),
         {"choices": UPSAMPLED_SIZES}),
        ("epochs", lambda key: st.slider("Epochs", 1, REBUILD_EPOCHS, key=key,
                                         help="How long both networks train before they are measured."),
         {"lo": 1, "hi": REBUILD_EPOCHS}),
        ("neighbours", lambda key: st.radio("Neighbours", (4, 8), key=key, horizontal=True,
                                            help="Predict a pixel from its 4 (up, down, left, right) or 8 neighbours."),
         {"choices": (4, 8)}),
        ("seed", lambda key: st.number_input("Seed", 0, 2**31 - 1, step=1, key=key,
                                             help="Fixes the split, the initial weights and the batches."),
         {"lo": 0, "hi": 2**31 - 1}),
    ])
    revealed = drills.predict(NS, load_predictions(LESSON_ID)["rebuild"])
    result = REBUILD.draw("cnn_rebuild", settings, progress="Training the 8x8 and the upsampled network",
                          run_label="▶ Measure the neighbours",
                          run_help="Trains two small CNNs from the same weights in the background (a few seconds), "
                                   "then predicts each activation from its neighbours on validation digits.")
    if result is None or result.cancelled or not _revealed(revealed):
        return
    st.plotly_chart(viz_cnn.rebuild_bars(result), key=k + "bars", config={"displayModeBar": False})
    for size in result.sizes:
        corr = ", ".join(f"{name} {r.corr:.2f}" for name, r in size.layers if r.corr == r.corr)
        st.markdown(f"- **{size.image_size}x{size.image_size}**: validation accuracy {size.val_acc:.1%}; "
                    f"correlation of adjacent activations: {corr}")
    st.caption(f"Held-out R² (fitted on half the {result.settings.n_measure} validation digits, scored on the "
               f"other half); trained in {result.elapsed:.1f} s.")


def spatial_panel() -> None:
    """None, element, channel and block dropout on paired seeds, in the background; then the verdicts."""
    k = SPATIAL.prefix
    settings = _settings(k, SpatialSettings, [
        ("p", lambda key: st.slider("Dropout p", 0.05, 0.9, step=0.05, key=key,
                                    help="The DROP probability of every conv layer, for the three dropout kinds."),
         {"lo": 0.05, "hi": 0.9}),
        ("seeds", lambda key: st.slider("Seeds", 2, SPATIAL_SEEDS, key=key,
                                        help="Each seed: other digits, other initial weights, shared by the kinds."),
         {"lo": 2, "hi": SPATIAL_SEEDS}),
        ("epochs", lambda key: st.slider("Epochs", 10, SPATIAL_EPOCHS, step=10, key=key,
                                         help="How long every network trains."), {"lo": 10, "hi": SPATIAL_EPOCHS}),
        ("image_size", lambda key: st.select_slider("Image size", SPATIAL_SIZES, key=key,
                                                    help="16 upsamples the digits: neighbours correlate more."),
         {"choices": SPATIAL_SIZES}),
        ("n_train", lambda key: st.slider("Training digits", 100, 700, step=50, key=key,
                                          help="Fewer digits overfit sooner, where dropout matters most."),
         {"lo": 100, "hi": 700}),
    ])
    revealed = drills.predict(NS, load_predictions(LESSON_ID)["spatial"])
    result = SPATIAL.draw("spatial", settings, progress="Training every kind on every seed",
                          run_label="▶ Run the experiment",
                          run_help="Trains each dropout kind on each seed in the background, as one batched sweep.")
    if result is None or result.cancelled or not _revealed(revealed):
        return
    c1, c2 = st.columns(2)
    c1.plotly_chart(viz_cnn.spatial_bars(result.rows, "val_loss"), key=k + "loss", config={"displayModeBar": False})
    c2.plotly_chart(viz_cnn.spatial_bars(result.rows, "val_err"), key=k + "err", config={"displayModeBar": False})
    for name, verdict in result.verdicts:
        for check in verdict.checks:
            st.markdown(f"- {STATUS_ICON.get(check.status, '❔')} **{name}: {check.status}**. {check.text}. "
                        f"{check.detail}.")
    st.caption(f"{result.settings.seeds} seeds, {len(result.sweep.members)} networks in "
               f"{result.sweep.elapsed:.1f} s; a paired t-test at the two-sided 5 % level per claim.")
