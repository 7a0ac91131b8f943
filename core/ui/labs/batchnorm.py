"""Lesson 8's page parts: the variance shift per BatchNorm layer against its formula (measured in a worker as
p and the width move), what it costs and its fixes, MC dropout with BatchNorm, and the lr / batch sweep."""
from __future__ import annotations

import json
import math
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from core.engine.config import ConfigError
from core.labs.batchnorm.experiments import Request, request
from core.ui.controls import CHART, verdict_lines
from core.ui.controls import layout as _layout
from core.ui.jobs import JobPanel, experiment_panel, run_now
from core.ui.links import linked

NS = "batchnorm."
LESSON_ID = "08_batchnorm"
SHIFT_DEFAULTS = {"p": 0.5, "width": 64, "depth": 3, "noise": "dropout", "beta": 0.1, "train_steps": 100}
NOISE_WORDS = {"dropout": "dropout: 0 or 1/(1-p), variance p/(1-p)",
               "gaussian": "Gaussian: N(1, p/(1-p)), the same variance",
               "uout": "uout: 1 + U(-β, β), variance β²/3"}
WIDTHS, DEPTHS, STEPS = (16, 32, 64, 128, 256), (2, 3, 4, 5), (0, 100, 300)
MC_BATCHES = (2, 4, 8, 16, 64, 256)
SHIFT_CACHE = NS + "shift.cache"
SHIFT_CACHE_SIZE = 24


def _linked(key: str, default: Any, **rules: Any) -> None:
    """The control ``key`` in the page's link, named without the page's prefix (``shift.p``, ``bn-mc.seeds``)."""
    linked(key, default, name=key.removeprefix(NS), **rules)


# -- 1. the shift, per layer -----------------------------------------------------------------------
def shift_controls() -> Request | None:
    for name, choices in (("width", WIDTHS), ("depth", DEPTHS), ("train_steps", STEPS), ("noise", tuple(NOISE_WORDS))):
        _linked(NS + "shift." + name, SHIFT_DEFAULTS[name], choices=choices)
    _linked(NS + "shift.p", SHIFT_DEFAULTS["p"], lo=0.0, hi=0.8)
    _linked(NS + "shift.beta", SHIFT_DEFAULTS["beta"], lo=0.0, hi=1.0)
    c1, c2, c3, c4 = st.columns(4)
    values = {
        "p": c1.slider("Dropout p", 0.0, 0.8, step=0.05, key=NS + "shift.p",
                       help="The DROP probability after every block (for Gaussian noise: variance p/(1-p))."),
        "width": c2.select_slider("Width", (16, 32, 64, 128, 256), key=NS + "shift.width",
                                  help="Units per block. The formula holds at any width; wider layers average more "
                                       "inputs, so each unit's ratio sits closer to the layer's mean."),
        "depth": c3.select_slider("BatchNorm layers", (2, 3, 4, 5), key=NS + "shift.depth",
                                  help="Blocks of Linear → BatchNorm → ReLU → noise. The first BatchNorm reads the "
                                       "data, every later one reads a noisy layer."),
        "train_steps": c4.select_slider("Training steps first", (0, 100, 300), key=NS + "shift.train_steps",
                                        help="Adam steps on the digits before measuring. 0 measures a fresh network "
                                             "(no running statistics to compare yet)."),
    }
    c5, c6 = st.columns(2)
    values["noise"] = c5.selectbox("Noise", tuple(NOISE_WORDS), key=NS + "shift.noise", format_func=NOISE_WORDS.get,
                                   help="Multiplicative noise of mean 1. What shifts BatchNorm is its variance s².")
    if values["noise"] == "uout":
        values["beta"] = c6.slider("Uout's β", 0.0, 1.0, step=0.05, key=NS + "shift.beta",
                                   help="Uout multiplies by 1 + U(-β, β): noise of variance β²/3.")
    else:
        c6.caption(f"Noise variance s² = p/(1-p) = {values['p'] / (1 - values['p']):.3g}: the number the formula uses.")
    try:
        return request("bn-shift", values)
    except (ConfigError, ValueError, TypeError) as exc:
        st.error(f"These settings do not make a valid measurement: {exc}")
        return None


def shift_result(req: Request) -> dict[str, Any] | None:
    """The measurement for ``req``: from this session's small cache, else done in a worker (1-3 s)."""
    token = json.dumps(req.settings.to_json(), sort_keys=True)
    cache: dict[str, Any] = st.session_state.setdefault(SHIFT_CACHE, {})
    if token not in cache:
        result = run_now("batchnorm", "bn-shift", req, what="Training and measuring the shift…", timeout=90)
        if result is None:
            return None
        while len(cache) >= SHIFT_CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[token] = result.to_json()
    return cache[token]


def draw_shift(out: dict[str, Any]) -> None:
    summary = [s for s in out["summary"]]
    s2 = out["s2"]
    names = [f"BN {s['layer']}" for s in summary]
    cols = st.columns(len(summary))
    for col, s in zip(cols, summary):
        col.metric(f"BN {s['layer']}: train / eval variance", f"× {s['measured']:.3f}",
                   f"formula × {s['predicted']:.3f}", delta_color="off",
                   help="Measured: the variance of what this BatchNorm reads with fresh masks over its variance with "
                        "the noise off. Formula: 1 + s² Σ W² E[h²] / Var_eval, from the layer's own weights.")
    left, right = st.columns(2)
    fig = go.Figure()
    fig.add_bar(name="measured", x=names, y=[s["measured"] for s in summary])
    fig.add_bar(name="formula", x=names, y=[s["predicted"] for s in summary])
    fig.add_bar(name="1 + s² (a zero-mean unit)", x=names, y=[s["zero_mean_form"] for s in summary])
    if out["config"]["train_steps"]:
        fig.add_scatter(name="running / test variance (what the trained layer stored)", x=names,
                        y=[s["stored_over_test"] for s in summary], mode="markers", marker=dict(size=12, symbol="x"))
    fig.add_hline(y=1.0, line_dash="dot")
    left.plotly_chart(_layout(fig, f"Variance ratio per BatchNorm layer (s² = {s2:.3g})", "layer", "train / eval"),
                      key=NS + "shift.bars", config=CHART)
    layer = next((lay for lay in out["layers"] if lay["reads_noise"] and lay["measured"]), None)
    if layer is not None:
        fig = go.Figure()
        fig.add_scatter(x=layer["predicted"], y=layer["measured"], mode="markers", name="one unit")
        lo = min(layer["predicted"] + layer["measured"])
        hi = max(layer["predicted"] + layer["measured"])
        fig.add_scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="measured = formula", line=dict(dash="dash"))
        right.plotly_chart(_layout(fig, f"BN {layer['layer']}, unit by unit", "formula", "measured"),
                           key=NS + "shift.units", config=CHART)
    worst = max((s["max_abs_z"] for s in summary if s["reads_noise"] and math.isfinite(s["max_abs_z"] or math.nan)),
                default=None)
    direct = next((s for s in summary if s["reads_noise"]), None)
    if direct is not None:
        st.caption(f"Dropout's own output, one block earlier: variance × {direct['direct_measured']:.3f} measured, "
                   f"× {direct['direct_predicted']:.3f} from 1 + s²(1 + μ²/σ²); a zero-mean unit would give "
                   f"× {1 + s2:.3f}." + (f" Largest gap over every unit: {worst:.1f} standard errors of the masks' "
                                         "sampling." if worst is not None else "")
                   + f" Measured on all 1797 digits, {out['config']['repeats']} masks each, in {out['elapsed_s']:.1f} s.")
    else:
        st.caption("No noise (p = 0, or uout with β = 0): nothing shifts, every ratio is 1.")


def shift_section() -> None:
    req = shift_controls()
    if req is None:
        return
    out = shift_result(req)
    if out is not None:
        draw_shift(out)


# -- 2-4. the background experiments ---------------------------------------------------------------
PANELS = {key: JobPanel(f"{NS}{key}.", "batchnorm", cache_size=16) for key in ("bn-fixes", "bn-mc", "dropout-lr")}
JOBS = tuple(panel.job_key for panel in PANELS.values())


def _seeds_number(key: str, default: int, hi: int) -> int:
    widget = f"{NS}{key}.seeds"
    _linked(widget, default, lo=2, hi=hi)
    return st.number_input("Seeds", min_value=2, max_value=hi, step=1, key=widget,
                           help="Paired seeds: each side gets the same data, initial weights and batch order. More "
                                "seeds, smaller error bars, a longer run.")


def _panel(key: str, changes: dict[str, Any], seconds: str) -> dict[str, Any] | None:
    return experiment_panel(PANELS[key], key, lambda: request(key, changes), seconds=seconds)


def fixes_section() -> None:
    c1, c2 = st.columns(2)
    with c2:
        seeds = _seeds_number("bn-fixes", 5, 12)
    _linked(NS + "bn-fixes.p", 0.5, lo=0.1, hi=0.8)
    p = c1.slider("p before each BatchNorm", 0.1, 0.8, step=0.1, key=NS + "bn-fixes.p",
                  help="The drop probability of the 'as is' network (and of the fixes that keep dropout).")
    out = _panel("bn-fixes", {"seeds": seeds, "p": p}, "about 20 s")
    if out is None:
        return
    verdict_lines(out["verdicts"])
    rows = out["summary"]
    left, right = st.columns(2)
    for col, metric, title, y in ((left, "val_acc", "Held-out accuracy", "accuracy"),
                                  (right, "stored_over_test", "Last BatchNorm: stored / test-time variance", "ratio")):
        fig = go.Figure(go.Bar(x=[r["label"] for r in rows], y=[r[metric] for r in rows],
                               error_y=dict(type="data", array=[r[metric + "_se"] or 0 for r in rows])))
        if metric == "stored_over_test":
            fig.add_hline(y=1.0, line_dash="dot")
        else:
            fig.update_yaxes(range=[min(r[metric] for r in rows) - 0.02, 1.0])
        col.plotly_chart(_layout(fig, title + " (mean ± se over seeds)", "", y), key=f"{NS}bn-fixes.{metric}",
                         config=CHART)
    st.dataframe([{"side": r["label"], "accuracy": f"{100 * r['val_acc']:.1f}%", "ECE": f"{r['ece']:.3f}",
                   "log loss": f"{r['val_nll']:.3f}", "stored/test var": f"{r['stored_over_test']:.3f}"}
                  for r in rows], hide_index=True)
    st.caption(f"{out['config']['seeds']} seeds of {out['config']['train_steps']} steps in {out['elapsed_s']:.1f} s, "
               "1000 digits to train, 797 held out; each claim a paired test at the two-sided 5 % level.")


def mc_section() -> None:
    c1, c2 = st.columns(2)
    with c1:
        seeds = _seeds_number("bn-mc", 5, 12)
    _linked(NS + "bn-mc.batch_size", 16, choices=MC_BATCHES)
    batch = c2.select_slider("Test batch size", MC_BATCHES, key=NS + "bn-mc.batch_size",
                             help="How many held-out digits go through the network together in each pass.")
    out = _panel("bn-mc", {"seeds": seeds, "batch_size": batch}, "about 10 s")
    if out is None:
        return
    verdict_lines(out["verdicts"])
    s = out["summary"]
    fig = go.Figure()
    for batching in ("mixed", "one class"):
        keys = [f"{mode}|{batching}|acc" for mode in ("mc_mode", "model.train()")]
        fig.add_bar(name=f"{batching} batches", x=["mc_mode", "model.train()"], y=[s[k]["mean"] for k in keys],
                    error_y=dict(type="data", array=[s[k]["se"] or 0 for k in keys]))
    fig.add_hline(y=s["eval accuracy before"]["mean"], line_dash="dot", annotation_text="eval()")
    st.plotly_chart(_layout(fig, f"MC accuracy ({out['config']['passes']} passes, batches of {batch})", "", "accuracy"),
                    key=NS + "bn-mc.acc", config=CHART)
    st.markdown(
        f"After the passes, **eval()** gives {100 * s['mc_mode|one class|eval accuracy after']['mean']:.1f}% "
        f"for the copy that ran mc_mode (running mean moved by {s['mc_mode|one class|running mean moved']['max']:.3g}) "
        f"and {100 * s['model.train()|one class|eval accuracy after']['mean']:.1f}% for the copy that ran "
        f"model.train() on one-class batches (moved by up to {s['model.train()|one class|running mean moved']['max']:.3g}); "
        f"it was {100 * s['eval accuracy before']['mean']:.1f}% before.")
    if out["batch_of_one"]:
        st.caption(f"A single request under model.train(): BatchNorm refuses it (“{out['batch_of_one']}”). "
                   "mc_mode serves it like any other batch.")


def lr_section() -> None:
    c1, c2 = st.columns(2)
    with c1:
        seeds = _seeds_number("dropout-lr", 8, 16)
    _linked(NS + "dropout-lr.metric", "val_loss", choices=("val_loss", "val_err"))
    metric = c2.selectbox("Judge on", ("val_loss", "val_err"), key=NS + "dropout-lr.metric",
                          help="Which final validation number picks each seed's best learning rate.")
    out = _panel("dropout-lr", {"seeds": seeds, "metric": metric}, "about a minute")
    if out is None:
        return
    verdict_lines(out["verdicts"], claims=True)
    cfg = out["config"]
    cols = st.columns(len(cfg["optimizers"]))
    for col, opt in zip(cols, cfg["optimizers"]):
        fig = go.Figure()
        for p in cfg["ps"]:
            cells = sorted((r for r in out["grid"] if r["grid"] == "lr" and r["optimizer"] == opt and r["p"] == p),
                           key=lambda r: r["lr"])
            fig.add_scatter(x=[r["lr"] for r in cells], y=[r.get(metric) for r in cells], mode="lines+markers",
                            name=f"p = {p:g}", error_y=dict(type="data", array=[r.get(metric + "_se") or 0 for r in cells]))
        fig.update_xaxes(type="log")
        col.plotly_chart(_layout(fig, opt, "learning rate", metric), key=f"{NS}dropout-lr.{opt}", config=CHART)
    fig = go.Figure()
    for p in cfg["ps"]:
        cells = sorted((r for r in out["grid"] if r["grid"] == "batch" and r["p"] == p), key=lambda r: r["batch_size"])
        fig.add_scatter(x=[r["batch_size"] for r in cells], y=[r.get(metric) for r in cells], mode="lines+markers",
                        name=f"p = {p:g}", error_y=dict(type="data", array=[r.get(metric + "_se") or 0 for r in cells]))
    fig.update_xaxes(type="log")
    st.plotly_chart(_layout(fig, f"Batch size, plain SGD at lr {cfg['batch_lr']:g}", "batch size", metric),
                    key=NS + "dropout-lr.batch", config=CHART)
    st.caption(f"{cfg['seeds']} seeds, {cfg['steps']} steps per run, {cfg['n_train']} digits to train, in "
               f"{out['elapsed_s']:.0f} s. SGD's momentum is {out['momentum']:g} (the paper used 0.95 to 0.99); a gap "
               "in a curve is a run that diverged.")
