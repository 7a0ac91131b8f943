"""Lesson 7's page parts: a live network whose layers switch between dropout variants, next to the same
network with standard dropout, the mask each variant draws, and each variant's experiment with its verdict."""
from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

import streamlit as st

from core import viz
from core.analysis.verdicts import FAILS, HOLDS
from core.engine.config import ConfigError, DataConfig, ModelConfig, PLANE_DATASETS, RunConfig, TrainConfig
from core.engine.variants import VARIANTS
from core.labs.variants import figures
from core.labs.variants.experiments import KEYS, MODULES, Request, request
from core.ui.jobs import JobPanel
from core.ui.links import choice_from_link, linked
from core.ui.live import Settings, state_notice, status_text

NS = "variants."
RUNNER = NS + "runner"  # this page's live runner in the session (core.ui.live keeps it there)
LESSON_ID = "07_variants"
LIVE_VARIANTS = ("standard", "gaussian", "alpha", "dropconnect")
"""The variants the live network offers per layer (concrete dropout learns p: its experiment shows it)."""
WIDTH = 64
LAYERS = 2
DEFAULTS = {"dataset": "moons", "p": 0.5, "variant_0": "gaussian", "variant_1": "dropconnect",
            "activation": "relu", "speed": "20"}
SPEEDS = ("5", "20", "60", "max")
STATUS_ICON = {HOLDS: "✅", FAILS: "❌"}
VARIANT_HELP = {name: v.words for name, v in VARIANTS.items()}


def controls() -> Settings:
    """The live network's controls: data, p, each layer's variant, activation, pace. Run B is the same
    network with standard dropout at the same p, from the same initial weights."""
    rules = {"dataset": {"choices": PLANE_DATASETS}, "p": {"lo": 0.0, "hi": 0.8},
             "activation": {"choices": ("relu", "selu", "tanh")}, "speed": {"choices": SPEEDS},
             **{f"variant_{i}": {"choices": LIVE_VARIANTS} for i in range(LAYERS)}}
    for name, value in DEFAULTS.items():
        linked(NS + name, value, name=name, **rules[name])
    c1, c2, c3, c4 = st.columns(4)
    dataset = c1.selectbox("Dataset", PLANE_DATASETS, key=NS + "dataset",
                           help="The 2-D problem (40 noisy training points). Changing it starts both runs again.")
    p = c2.slider("Dropout p", 0.0, 0.8, step=0.05, key=NS + "p",
                  help="The DROP probability of both hidden layers, in A and in B (for Gaussian dropout: noise of "
                       "variance p/(1-p); for DropConnect: of each weight). Takes effect at the next step.")
    activation = c3.selectbox("Activation", ("relu", "selu", "tanh"), key=NS + "activation",
                              help="SELU is what AlphaDropout is made for. Changing it starts both runs again.")
    speed = c4.select_slider("Speed (epochs per second)", SPEEDS, key=NS + "speed",
                             help="A pace you can watch; 'max' trains as fast as the CPU allows.")
    cols = st.columns(LAYERS)
    variants = tuple(
        cols[i].selectbox(f"A: hidden layer {i + 1}", LIVE_VARIANTS, key=NS + f"variant_{i}",
                          format_func=lambda v: f"{v}: {VARIANT_HELP[v]}",
                          help="How this layer of run A drops. Switching starts A and B again from the same initial "
                               "weights, so that the comparison stays fair.")
        for i in range(LAYERS))
    if "alpha" in variants and activation != "selu":
        st.warning("AlphaDropout is built for SELU: it sends dropped units to SELU's floor and rescales for mean 0 "
                   "and variance 1. With this activation it is just a shifted, rescaled dropout. Pick **selu**.")
    a = RunConfig(DataConfig(dataset=dataset, noise=0.5, n_train=40, n_val=400, seed=0),
                  ModelConfig((WIDTH,) * LAYERS, activation=activation, p_hidden=(p,) * LAYERS, variants=variants),
                  TrainConfig(max_epochs=300))
    b = replace(a, model=replace(a.model, variants=()))
    return Settings(a, b, None if speed == "max" else float(speed))


def _label(cfg: RunConfig, name: str) -> str:
    kinds = cfg.model.layer_variants()
    kind = kinds[0] if len(set(kinds)) == 1 else "/".join(kinds)
    return f"{name}: {kind}, p={cfg.model.p_hidden[0]:g}"


def draw(snapshot: dict[str, Any]) -> None:
    """Status, both runs' decision maps and masks with their live signature, and the curves."""
    runs = snapshot["runs"]
    labels = [_label(r["config"], name) for r, name in zip(runs, "AB")]
    lead = runs[0]
    max_epochs = lead["config"].train.max_epochs
    st.progress(min(1.0, lead["epoch"] / max_epochs),
                text=f"Epoch {lead['epoch']:.1f} of {max_epochs} · {status_text(snapshot)}")
    state_notice(snapshot)
    cols = st.columns(len(runs))
    for i, (col, run, label) in enumerate(zip(cols, runs, labels)):
        with col:
            fig = viz.decision_map(run["grid"], snapshot["grid_axis"], snapshot["data"], f"Decision map, {label}")
            st.plotly_chart(fig, key=f"{NS}map_{i}", config={"displayModeBar": False})
            kinds = run["config"].model.layer_variants()
            p = run["config"].model.p_hidden
            for layer, (kind, mask) in enumerate(zip(kinds, run["masks"][1:])):
                st.plotly_chart(figures.mask_figure(mask, kind, f"{label.split(':')[0]}, hidden layer {layer + 1}"),
                                key=f"{NS}mask_{i}_{layer}", config={"displayModeBar": False})
                st.caption(figures.mask_signature(mask, kind, p[layer]))
    left, right = st.columns(2)
    with left:
        st.plotly_chart(viz.curves(runs, labels, "loss"), key=NS + "loss", config={"displayModeBar": False})
    with right:
        st.plotly_chart(viz.curves(runs, labels, "acc"), key=NS + "acc", config={"displayModeBar": False})


# -- the experiments -------------------------------------------------------------------------------
PANEL = JobPanel(NS + "experiment.", "variants", cache_size=32)
LINK_BOUND = 1e9  # a number in an experiment's link: the experiment's own checks then say what is allowed
JOB = PANEL.job_key


def experiment_picker() -> str:
    widget = NS + "experiment"
    if widget not in st.session_state:
        st.session_state[widget] = choice_from_link("experiment", KEYS, "an experiment")
    linked(widget, KEYS[0], name="experiment", choices=KEYS)  # the address bar names the one shown
    return st.selectbox("Experiment", KEYS, key=widget, format_func=lambda k: f"{k}: {MODULES[k].TITLE}",
                        help="Each trains the variant against its rival on paired seeds in the background, then "
                             "judges a claim fixed before looking. `python -m core reproduce <key>` runs the same.")


def _widget(name: str, default: Any, key: str) -> Any:
    label = name.replace("_", " ").capitalize()
    if isinstance(default, bool):
        return st.checkbox(label, key=key)
    if isinstance(default, int):
        return st.number_input(label, step=1, key=key, help=f"Default {default}.")
    if isinstance(default, float):
        return st.number_input(label, step=0.05 if default < 1 else 1.0, format="%g", key=key, help=f"Default {default:g}.")
    if isinstance(default, tuple):
        return st.text_input(label, key=key, help=f"Comma-separated; default {', '.join(map(str, default))}.")
    return st.text_input(label, key=key, help=f"Default {default}.")


def experiment_settings(key: str) -> Request | None:
    """``key``'s settings from its widgets (defaults first), or None after saying why they make no run."""
    defaults = MODULES[key].Settings()
    prefix = f"{NS}{key}."
    values: dict[str, Any] = {}
    with st.expander("Settings of this run", expanded=False):
        cols = st.columns(3)
        for i, f in enumerate(fields(defaults)):
            default = getattr(defaults, f.name)
            widget = prefix + f.name
            shown = ", ".join(map(str, default)) if isinstance(default, tuple) else default
            linked(widget, shown, name=f"{key}.{f.name}", lo=-LINK_BOUND, hi=LINK_BOUND)  # the run checks them
            with cols[i % 3]:
                values[f.name] = _widget(f.name, default, widget)
    try:
        changes = {name: _read(values[name], getattr(defaults, name)) for name in values}
        return request(key, changes)
    except (ConfigError, ValueError, TypeError) as exc:
        st.error(f"These settings do not make a valid run: {exc}")
        return None


def _read(value: Any, default: Any) -> Any:
    if isinstance(default, tuple):
        kind = type(default[0]) if default else float
        return tuple(kind(v.strip()) for v in str(value).split(",") if v.strip())
    if isinstance(default, bool):
        return bool(value)
    if isinstance(default, int):
        if float(value) != int(value):
            raise ValueError(f"{value!r} is not a whole number")
        return int(value)
    return type(default)(value)


def experiment_panel() -> None:
    """Pick an experiment, run it in the background with progress and cancel, then its verdicts and plots."""
    key = experiment_picker()
    module = MODULES[key]
    st.markdown(f"**Claim.** {module.CLAIM}")
    req = experiment_settings(key)
    result = PANEL.draw(key, req, progress=f"Training {key} on every seed", run_label="▶ Run the experiment",
                        run_help="Trains every side on every seed in the background (about a minute at the "
                                 "defaults on 2 cores), then judges the claim.")
    if result is None:
        return
    if result.cancelled:
        st.info(result.note)
        return
    for name, verdict in result.verdicts:
        for check in verdict.checks:
            st.markdown(f"- {STATUS_ICON.get(check.status, '❔')} **{name}: {check.status}**. {check.text}. "
                        f"{check.detail}.")
    for i, fig in enumerate(figures.result_figures(result)):
        st.plotly_chart(fig, key=f"{NS}{key}.fig{i}", config={"displayModeBar": False})
    text = figures.signature_text(result.signature)
    if text:
        st.caption("Signature: " + text)
    st.dataframe(figures.summary_table(result.rows), hide_index=True)
    st.caption(f"{result.settings.seeds} seeds in {result.elapsed:.1f} s; each claim a paired test at the two-sided "
               f"5 % level. {result.note}")
