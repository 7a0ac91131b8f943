"""The Playground (lesson 2): its presets and sidebar controls (widgets in, ``Settings`` out) and its
A/B drawing; the live driver itself is the shared ``core.ui.live``."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import streamlit as st

from core import viz
from core.analysis.early_stopping import best_point
from core.engine.config import (ACTIVATIONS, MAX_HIDDEN_LAYERS, MAX_NUISANCE, OPTIMIZERS, PLANE_DATASETS, DataConfig,
                                ModelConfig, RunConfig, TrainConfig)
from core.labs.playground import polls
from core.labs.playground.presets import PRESETS, preset
from core.ui.links import choice_from_link, copy_link, reader, seed_from_link, write_link
from core.ui.live import Settings, state_notice, status_text
from core.ui import upload
from core.ui.room import RoomView

NS = "playground."
RUNNER = NS + "runner"  # this page's runner in the session (core.ui.live.sync_runner keeps it there)
REASON = NS + "reset_reason"
LR_OPTIONS = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
WD_OPTIONS = (0.0, 1e-5, 1e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1)
MAX_NORM_OPTIONS = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0)
BATCH_OPTIONS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2000)
SPEED_OPTIONS = (1, 3, 10, 30, 100, "max")
P_STEP = 0.05
P_MAX = 0.95
GROUPS: dict[str, tuple[str, ...]] = {
    "Data": ("dataset", "noise", "n_train", "n_val", "nuisance", "seed"),
    "Network": ("layers", "width", "activation"),
    "Dropout": ("p_input", *(f"p_hidden_{i}" for i in range(MAX_HIDDEN_LAYERS))),
    "Training": ("optimizer", "lr", "weight_decay", "max_norm", "batch_size", "max_epochs", "speed"),
    "Comparison run B": ("compare", "b_p_hidden", "b_p_input", "b_weight_decay"),
}
"""The sidebar's control groups (by their link names): what a teacher's room locks or hides."""


def _nearest(options: tuple, value: float):
    return min(options, key=lambda o: abs(o - value))


def widget_values(cfg: RunConfig) -> dict[str, Any]:
    """Every control's value (by its link name) for ``cfg``: what a preset sets and a link may change."""
    m, d, t = cfg.model, cfg.data, cfg.train
    return {
        "dataset": d.dataset, "noise": d.noise, "n_train": d.n_train, "n_val": d.n_val, "seed": d.seed,
        "nuisance": d.nuisance, "layers": len(m.num_hiddens), "width": m.num_hiddens[0], "activation": m.activation,
        "p_input": m.p_input,
        **{f"p_hidden_{i}": m.p_hidden[min(i, len(m.p_hidden) - 1)] for i in range(MAX_HIDDEN_LAYERS)},
        "optimizer": t.optimizer, "lr": _nearest(LR_OPTIONS, t.lr),
        "weight_decay": _nearest(WD_OPTIONS, t.weight_decay), "max_norm": _nearest(MAX_NORM_OPTIONS, t.max_norm),
        "batch_size": _nearest(BATCH_OPTIONS, t.batch_size), "max_epochs": t.max_epochs,
        "speed": 30, "compare": True, "b_p_hidden": 0.0, "b_p_input": 0.0, "b_weight_decay": 0.0,
    }


def seed_widgets(cfg: RunConfig, *, force: bool = False) -> None:
    """Put ``cfg``'s values into the widgets' session-state keys (only missing ones unless ``force``)."""
    for name, value in widget_values(cfg).items():
        if force or NS + name not in st.session_state:
            st.session_state[NS + name] = value


_P_RANGE = (0.0, P_MAX)
_from_link = reader(
    {"dataset": PLANE_DATASETS, "activation": ACTIVATIONS, "optimizer": OPTIMIZERS, "lr": LR_OPTIONS,
     "weight_decay": WD_OPTIONS, "b_weight_decay": WD_OPTIONS, "max_norm": MAX_NORM_OPTIONS,
     "batch_size": BATCH_OPTIONS, "speed": SPEED_OPTIONS},
    {"noise": (0.0, 1.0), "n_train": (20, 2000), "n_val": (20, 2000), "nuisance": (0, MAX_NUISANCE),
     "seed": (0, 2**31 - 1), "layers": (1, MAX_HIDDEN_LAYERS), "width": (2, 256), "p_input": _P_RANGE,
     **{f"p_hidden_{i}": _P_RANGE for i in range(MAX_HIDDEN_LAYERS)}, "b_p_hidden": _P_RANGE, "b_p_input": _P_RANGE,
     "max_epochs": (1, 100_000)},
)


def _write_link() -> None:
    """The address bar: the preset, and each control whose value differs from the preset's."""
    name = st.session_state[NS + "preset"]
    base = widget_values(preset(name))
    write_link({"preset": name, **{k: st.session_state[NS + k] for k, v in base.items()
                                   if st.session_state.get(NS + k, v) != v}})


def _p_slider(label: str, key: str, help_text: str, *, disabled: bool = False) -> float:
    return st.slider(label, 0.0, P_MAX, step=P_STEP, key=NS + key, help=help_text, disabled=disabled)


def _hold_locked(room: RoomView) -> dict[str, Any]:
    """A room's locked and hidden groups keep the values of the preset in use (the teacher's last push): set
    here, before the controls are drawn, so that a change a student made anyway goes back."""
    held = room.locked | room.hidden
    pushed = room.room.preset if room.room is not None and room.room.preset in PRESETS else None
    values = widget_values(preset(pushed or st.session_state[NS + "preset"])) if held else {}
    for group in held:
        for name in GROUPS[group]:
            st.session_state[NS + name] = values[name]
    return values


class _Group:
    """A sidebar group as a room shows it: open, locked (its values listed, the controls out of sight) or
    hidden. A group's controls are always drawn, so that their values stay; out of sight they are inert."""

    def __init__(self, label: str, room: RoomView, values: dict[str, Any]) -> None:
        self.label, self.room, self.values = label, room, values

    def __enter__(self):
        sb = st.sidebar
        if self.label in self.room.locked and self.label not in self.room.hidden:
            with sb.expander(f"🔒 {self.label} (set by your teacher)", expanded=False):
                st.caption("Your teacher locked these for the room: " + ", ".join(
                    f"{name.replace('_', ' ')} = {self.values[name]}" for name in GROUPS[self.label]
                    if not name.startswith("p_hidden_") or int(name[-1]) < self.values["layers"]) + ".")
        if self.label in self.room.locked or self.label in self.room.hidden:
            self._inner = sb.container(key=f"playground_held_{self.label.split()[0].lower()}")
            st.html("<style>[class*='st-key-playground_held_'] {display: none;}</style>")
        else:
            self._inner = sb.expander(self.label, expanded=True)
        return self._inner.__enter__()

    def __exit__(self, *exc):
        return self._inner.__exit__(*exc)


def sidebar_controls(link_slot: Any = None, room: RoomView | None = None) -> Settings:
    """Draw every control in the sidebar and return what they describe; the address bar then links to them
    (and ``link_slot``, if given, gets the "Copy link" control). In a class room, the groups the teacher
    locked or hid keep the preset's values (``_hold_locked``)."""
    room = room or RoomView()
    held = _hold_locked(room)
    with _Group("Data", room, held):
        built_in = st.container()  # drawn above the uploader, which is read first: a file in use disables them
        mine = None if "Data" in room.locked | room.hidden else upload.uploaded(NS)
        off = mine is not None
        if off:
            built_in.caption("Your file (below) sets the dataset, noise and points while it is in use.")
        dataset = built_in.selectbox("Dataset", PLANE_DATASETS, key=NS + "dataset", disabled=off,
                                     help="The 2-D problem: two classes, orange and blue. Changing it starts a new "
                                          "run.")
        noise = built_in.slider("Noise", 0.0, 1.0, step=0.05, key=NS + "noise", disabled=off,
                                help="How much the two classes overlap. More noise = more to overfit to.")
        n_train = built_in.slider("Training points", 20, 2000, step=10, key=NS + "n_train", disabled=off,
                                  help="Few points with a big network is where dropout matters most.")
        n_val = built_in.slider("Validation points", 20, 2000, step=10, key=NS + "n_val", disabled=off,
                                help="Held-out points drawn from the same distribution, never trained on.")
        nuisance = built_in.slider("Nuisance inputs", 0, MAX_NUISANCE, key=NS + "nuisance",
                                   help="Irrelevant inputs appended to the two coordinates: pure noise, unrelated to "
                                        "the class. A network can memorise the training points through them, and "
                                        "input dropout acts on them where hidden dropout does not. The map shows "
                                        "them at 0. Changing it starts a new run.")
        seed = built_in.number_input("Seed", 0, 2**31 - 1, step=1, key=NS + "seed",
                                     help="Fixes the data, the initial weights, the batch order and the masks.")
        data = upload.data_config(mine, DataConfig(dataset=dataset, noise=noise, n_train=n_train, n_val=n_val,
                                                   seed=int(seed), nuisance=int(nuisance)))
    with _Group("Network", room, held):
        layers = st.slider("Hidden layers", 1, MAX_HIDDEN_LAYERS, key=NS + "layers",
                           help="Number of hidden layers. Changing it starts a new run.")
        width = st.slider("Units per hidden layer", 2, 256, key=NS + "width",
                          help="Width of every hidden layer. Changing it starts a new run.")
        activation = st.selectbox("Activation", ACTIVATIONS, key=NS + "activation",
                                  help="Non-linearity after each hidden layer. Changing it starts a new run.")
    with _Group("Dropout", room, held):
        selu_note = st.empty()  # filled below, once the drop probabilities are known
        p_input = _p_slider("Input dropout p", "p_input",
                            "Probability of DROPPING each input coordinate at a training step. "
                            "Takes effect at the next step, no reset.")
        p_hidden = tuple(
            _p_slider(f"Dropout p, hidden layer {i + 1}", f"p_hidden_{i}",
                      "Probability of DROPPING each unit of this layer at a training step (keep = 1 - p; "
                      "survivors are scaled by 1/(1-p)). Takes effect at the next step, no reset.")
            for i in range(layers)
        )
    if activation == "selu" and (p_input > 0 or any(p > 0 for p in p_hidden)):
        selu_note.caption("⚠️ This is standard dropout on a SELU network: a dropped unit becomes 0, which is not "
                          "where SELU rests, so the activations drift from the mean 0 and variance 1 that SELU keeps "
                          "by itself. AlphaDropout is the variant made for SELU: lesson 7 measures the difference.")
    with _Group("Training", room, held):
        optimizer = st.selectbox("Optimizer", OPTIMIZERS, key=NS + "optimizer",
                                 help="sgd+momentum uses momentum 0.9. Changing it starts a new run.")
        lr = st.select_slider("Learning rate", LR_OPTIONS, key=NS + "lr",
                              help="Step size. Takes effect at the next step, no reset.")
        weight_decay = st.select_slider("Weight decay (L2)", WD_OPTIONS, key=NS + "weight_decay",
                                        help="L2 penalty added by the optimizer. Takes effect at the next step.")
        max_norm = st.select_slider("Max-norm", MAX_NORM_OPTIONS, key=NS + "max_norm",
                                    format_func=lambda v: "off" if v == 0 else f"{v:g}",
                                    help="Clip each unit's incoming weight vector to this length after every "
                                         "step (Srivastava et al. pair it with dropout). Changing it starts a new run.")
        batch_size = st.select_slider("Batch size", BATCH_OPTIONS, key=NS + "batch_size",
                                      help="Examples per step (capped at the training-set size). "
                                           "Changing it starts a new run.")
        max_epochs = st.number_input("Max epochs", 1, 100_000, step=50, key=NS + "max_epochs",
                                     help="The run stops here. Raise it after a run finished to continue.")
        speed = st.select_slider("Speed (epochs per second)", SPEED_OPTIONS, key=NS + "speed",
                                 help="A pace you can watch; 'max' trains as fast as the CPU allows.")
    with _Group("Comparison run B", room, held):
        compare = st.toggle("Train run B alongside", key=NS + "compare",
                            help="B starts from the same seed, data and initial weights as A and sees the same "
                                 "batches, in lockstep; only the settings below differ.")
        b_p_hidden = _p_slider("B: dropout p (every hidden layer)", "b_p_hidden",
                               "B's drop probability. The default 0 is 'the same network without dropout'.",
                               disabled=not compare)
        b_p_input = _p_slider("B: input dropout p", "b_p_input", "B's drop probability on the inputs.",
                              disabled=not compare)
        b_weight_decay = st.select_slider("B: weight decay (L2)", WD_OPTIONS, key=NS + "b_weight_decay",
                                          help="Compare dropout in A with L2 in B, for example.",
                                          disabled=not compare)

    _write_link()
    copy_link(link_slot)
    a = RunConfig(
        data=data,
        model=ModelConfig(num_hiddens=(width,) * layers, activation=activation, p_input=p_input, p_hidden=p_hidden),
        train=TrainConfig(optimizer=optimizer, lr=lr, weight_decay=weight_decay, max_norm=max_norm,
                          batch_size=min(batch_size, data.n_train), max_epochs=int(max_epochs)),
    )
    b = None
    if compare:
        b = replace(a, model=a.model.with_p(b_p_input, (b_p_hidden,) * layers),
                    train=replace(a.train, weight_decay=b_weight_decay))
    return Settings(a, b, None if speed == "max" else float(speed))


def choose_preset(name: str) -> None:
    """Callback: load preset ``name`` into every control; the address bar then links to it."""
    st.session_state[NS + "preset"] = name
    seed_widgets(preset(name), force=True)
    write_link({"preset": name})


def current_preset() -> str | None:
    """The preset the controls were last loaded from (None before the page drew them)."""
    return st.session_state.get(NS + "preset")


def preset_buttons(names: list[str]) -> None:
    """One button per preset a lesson refers to, in the page itself (links would open a new tab)."""
    cols = st.columns(len(names))
    for col, name in zip(cols, names):
        col.button(f"Load `{name}`", key=f"{NS}load_{name}.button", on_click=choose_preset, args=(name,),
                   use_container_width=True, help=f"Set every control to the preset '{name}' (starts a new run).")


def preset_picker() -> Any:
    """A preset selector at the top of the sidebar; choosing one loads it into every control. Returns the
    place above it where ``sidebar_controls`` puts the "Copy link" control.

    The first run of a session takes the preset from the link (``?preset=NAME``) if there is one, or from
    ``playground.preset`` if a test or a lesson set it, and then each control the link names
    (``?preset=spirals&p_hidden_0=0.3``); a name or value that cannot be used is reported and the preset's
    value used.
    """
    key, names = NS + "preset", tuple(PRESETS)
    first_visit = NS + "dataset" not in st.session_state
    if key not in st.session_state:
        st.session_state[key] = choice_from_link("preset", names, "a preset")
    elif st.session_state[key] not in names:
        st.session_state[key] = names[0]
    values = widget_values(preset(st.session_state[key]))
    seed_from_link({NS + name: (name, value) for name, value in values.items()}, _from_link, use_link=first_visit)

    slot = st.sidebar.container()
    st.sidebar.selectbox(
        "Preset", names, key=key, on_change=lambda: choose_preset(st.session_state[key]),
        help="A ready-made experiment. Choosing one sets every control below (and starts a new run). "
             "The address bar then links to it.",
    )
    return slot


def run_label(cfg: RunConfig, name: str) -> str:
    ps = [str(p) for p in cfg.model.p_hidden]
    label = f"{name}: p={ps[0]}" if len(set(ps)) == 1 else f"{name}: p={'/'.join(ps)}"
    if cfg.model.p_input > 0:
        label += f", input p={cfg.model.p_input}"
    if cfg.train.weight_decay > 0:
        label += f", L2={cfg.train.weight_decay:g}"
    return label


def draw(snapshot: dict[str, Any]) -> None:
    """Everything that changes while training: status, gap, maps, diagrams, curves."""
    runs = snapshot["runs"]
    labels = [run_label(r["config"], name) for r, name in zip(runs, "AB")]
    lead = runs[0]
    max_epochs = lead["config"].train.max_epochs
    st.progress(min(1.0, lead["epoch"] / max_epochs),
                text=f"Epoch {lead['epoch']:.1f} of {max_epochs} · {status_text(snapshot)}")
    state_notice(snapshot)

    cols = st.columns(len(runs))
    for col, run, label in zip(cols, runs, labels):
        _gap_metrics(col, run, label)
    cols = st.columns(len(runs))
    for i, (col, run, label) in enumerate(zip(cols, runs, labels)):
        with col:
            fig = viz.decision_map(run["grid"], snapshot["grid_axis"], snapshot["data"], f"Decision map, {label}")
            st.plotly_chart(fig, key=f"{NS}map_{i}", config={"displayModeBar": False})
            fig = viz.network_diagram(run, f"Network, {label}: grey = dropped at this step")
            st.plotly_chart(fig, key=f"{NS}net_{i}", config={"displayModeBar": False})
    left, right = st.columns(2)
    with left:
        st.plotly_chart(viz.curves(runs, labels, "loss"), key=NS + "loss", config={"displayModeBar": False})
    with right:
        st.plotly_chart(viz.curves(runs, labels, "acc"), key=NS + "acc", config={"displayModeBar": False})
    early_stopping_note(runs, labels)


def early_stopping_note(runs: list[dict[str, Any]], labels: list[str]) -> None:
    """Early stopping, the rival: each run at its best epoch (the stars) against where it is now."""
    parts = []
    for run, label in zip(runs, labels):
        h, best = run["history"], best_point(run["history"])
        if best is None or not h["epoch"]:
            continue
        parts.append(f"**{label}** was best at epoch {best['epoch']:.0f} (validation loss {best['val_loss']:.3f}, "
                     f"accuracy {best['val_acc']:.1%}); now {h['val_loss'][-1]:.3f} and {h['val_acc'][-1]:.1%}")
    if parts:
        st.caption("★ marks each run's lowest validation loss: where **early stopping**, dropout's rival, would "
                   "have kept the weights. " + "; ".join(parts) + ". Is the run without dropout, stopped at its "
                   "star, as good as the one with dropout? (The star is picked on the validation points it is "
                   "scored on, which flatters it a little.)")


def _gap_metrics(col, run: dict[str, Any], label: str) -> None:
    h = run["history"]
    with col:
        st.markdown(f"**{label}**")
        c1, c2, c3 = st.columns(3)
        if not h["epoch"]:
            c1.metric("Val accuracy", "–")
            c2.metric("Loss gap", "–")
            c3.metric("Accuracy gap", "–")
            return
        c1.metric("Val accuracy", f"{h['val_acc'][-1]:.1%}", help="Accuracy on the validation points, dropout off.")
        c2.metric("Loss gap", f"{h['val_loss'][-1] - h['train_loss'][-1]:+.3f}",
                  help="Validation loss − training loss, both measured with dropout off. Grows as a model overfits.")
        c3.metric("Accuracy gap", f"{h['train_acc'][-1] - h['val_acc'][-1]:+.1%}",
                  help="Training accuracy − validation accuracy, both with dropout off.")


def room_bank() -> dict[str, tuple[str, tuple[str, ...]]]:
    """The class predictions a teacher can ask on this page: key -> (question, answers)."""
    return {key: (q.text, q.options) for key, q in polls.QUESTIONS.items()}


def settle(snapshot: dict[str, Any]):
    """How the teacher's run settles a question (``core.labs.playground.polls.settle``)."""
    return lambda key: polls.settle(key, snapshot)
