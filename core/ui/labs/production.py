"""Lesson 9's page parts: two two-tower models trained live on a label-leaking context (A with high dropout on
the context layer, B without), the leak experiment over seeds with its verdicts, and serving: the exported
model's determinism check and what Monte-Carlo passes cost per request.

The live runner is the lesson's own kind, ``leak`` (``core.labs.production.runner.LiveLeak``), in the worker
processes, driven by ``core.ui.live.drive``; the experiments run as background jobs (``production``)."""
from __future__ import annotations

import inspect
import math
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from core.engine.config import ConfigError
from core.labs.production.experiments import request
from core.labs.production.leak import helps_from
from core.labs.production.serving import METHODS, check_deterministic
from core.labs.production.task import MAX_P, MODES, RunSpec
from core.live.pool import Runner, start_runner
from core.ui import live
from core.ui.controls import CHART, guard, layout, verdict_lines
from core.ui.jobs import JobPanel, experiment_panel
from core.ui.links import reader, seed_from_link, write_link
from core.ui.session import browser_id

NS = "production."
RUNNER = NS + "runner"
LESSON_ID = "09_production"
MODE_TEXT = {"unit": "its units, one by one", "feature": "the whole feature, per row", "none": "no context at all"}
SPEEDS = (1, 3, 10, "max")
N_TRAINS = (500, 1000, 2000, 5000)
STEPS = (500, 1000, 2000, 4000)
LIVE_DEFAULTS: dict[str, Any] = {"p_a": 0.8, "mode_a": "unit", "p_b": 0.0, "leak": 1.0, "honest": 0.4,
                                 "leak_noise": 0.0, "n_train": 2000, "steps": 1000, "seed": 0, "speed": 3}
"""What a newcomer sees: every training row's context leaks the label; A drops the context units with p = 0.8,
B not at all; three epochs a second, so the 1000 steps take about ten seconds."""
LINK_RANGES = {"p_a": (0.0, MAX_P), "p_b": (0.0, MAX_P), "leak": (0.0, 1.0), "honest": (0.0, 1.0),
               "leak_noise": (0.0, 2.0), "seed": (0, 2**31 - 1)}
_from_link = reader({"mode_a": MODES[:2], "n_train": N_TRAINS, "steps": STEPS, "speed": SPEEDS}, LINK_RANGES)
CURVES = {"train_acc": "training rows", "val_acc": "held out, leaked (the offline check)",
          "serving_acc": "serving (honest context)", "legit_only_acc": "context knocked out"}


def _value(name: str) -> Any:
    return st.session_state[NS + name]


# -- 1. live --------------------------------------------------------------------------------------
def live_controls() -> list[RunSpec]:
    seed_from_link({NS + name: (name, value) for name, value in LIVE_DEFAULTS.items()}, _from_link,
                   use_link=NS + "p_a" not in st.session_state)
    for name, value in LIVE_DEFAULTS.items():
        if name in ("mode_a", "n_train", "steps", "speed"):
            guard(NS + name, value, choices={"mode_a": MODES[:2], "n_train": N_TRAINS, "steps": STEPS,
                                             "speed": SPEEDS}[name])
        else:
            guard(NS + name, value, lo=LINK_RANGES[name][0], hi=LINK_RANGES[name][1])
    c1, c2, c3 = st.columns(3)
    c1.slider("Run A: context layer's p", 0.0, MAX_P, step=0.05, key=NS + "p_a",
              help="The DROP probability on the context layer of run A, in training only (serving is eval mode). "
                   "Applies at the next step, no new run.")
    c2.selectbox("Run A drops", MODES[:2], key=NS + "mode_a", format_func=MODE_TEXT.get,
                 help="Units: each of the context layer's 8 units alone (nn.Dropout). The whole feature: all of them "
                      "together for a row (feature-level masking). Applies at the next step.")
    c3.slider("Run B: context layer's p", 0.0, MAX_P, step=0.05, key=NS + "p_b",
              help="Run B's drop probability on its context units (0: it reads the leak freely). Applies at once.")
    with st.expander("The task and the run", expanded=False):
        d1, d2, d3 = st.columns(3)
        d1.slider("Leak: share of training rows whose context is the label", 0.0, 1.0, step=0.05, key=NS + "leak",
                  help="Pseudo-context from the positive label: that share of training rows carry the label's own "
                       "category as their context. Serving never does. Starts a new run.")
        d2.slider("Honest context: how often it names the class", 0.0, 1.0, step=0.05, key=NS + "honest",
                  help="At serving (and in the training rows that do not leak) the context names the true class "
                       "this often, a random one otherwise; with 4 classes 0.25 of the random ones are right too. "
                       "Starts a new run.")
        d3.slider("Noise on the leaked context", 0.0, 2.0, step=0.1, key=NS + "leak_noise",
                  help="Gaussian noise (sd) added to a leaked one-hot: how cleanly it leaks. Starts a new run.")
        e1, e2, e3, e4 = st.columns(4)
        e1.select_slider("Training rows", N_TRAINS, key=NS + "n_train", help="Starts a new run.")
        e2.select_slider("Steps", STEPS, key=NS + "steps",
                         help="Minibatch steps of 64 rows; Play goes on for as many again. Starts a new run.")
        e3.number_input("Seed", 0, 2**31 - 1, step=1, key=NS + "seed",
                        help="Fixes the rows, the shared initial weights and the batches. Starts a new run.")
        e4.select_slider("Speed (epochs/s)", SPEEDS, key=NS + "speed", help="A pace you can watch.")
    write_link({name: _value(name) for name in LIVE_DEFAULTS})
    try:
        base = RunSpec(leak=float(_value("leak")), honest=float(_value("honest")),
                       leak_noise=float(_value("leak_noise")), n_train=int(_value("n_train")),
                       steps=int(_value("steps")), seed=int(_value("seed")))
        return [base.but(p=float(_value("p_a")), mode=_value("mode_a")), base.but(p=float(_value("p_b")), mode="unit")]
    except ConfigError as exc:
        st.error(f"These settings do not make a valid run: {exc}")
        st.stop()


def _speed() -> float | None:
    return None if _value("speed") == "max" else float(_value("speed"))


def sync_runner(specs: list[RunSpec]) -> tuple[Runner, dict[str, Any]]:
    speed = _speed()

    def start() -> Runner:
        return start_runner("leak", specs, epochs_per_second=speed, owner=browser_id())

    built = {"leak": specs[0].leak, "honest context": specs[0].honest, "leak noise": specs[0].leak_noise,
             "training rows": specs[0].n_train, "steps": specs[0].steps, "seed": specs[0].seed}
    values = (specs[0].p, specs[0].mode, specs[1].p, speed)
    return live.drive(NS, built=built, values=values, start=start, apply=_apply)


def _apply(runner: Runner, before: dict[str, Any], old: tuple, new: tuple) -> dict[str, Any]:
    p_a, mode_a, p_b, speed = new
    sends = (("set_p", {"p": p_a, "run": 0}), ("set_mode", {"mode": mode_a, "run": 0}),
             ("set_p", {"p": p_b, "run": 1}), ("set_speed", {"epochs_per_second": speed}))
    for was, wanted, (command, args) in zip(old, new, sends):
        if was != wanted:
            runner.send(command, **args)

    def applied(s: dict[str, Any]) -> bool:
        a, b = s["runs"]
        return (s["message"] or "").startswith("ignored") or \
            (a["p"], a["mode"], b["p"], s["epochs_per_second"]) == new
    return runner.wait_for(applied, live.FIRST_POINT_WAIT)


def _label(run: dict[str, Any]) -> str:
    return f"Run {run['name']}: p = {run['p']:g}" + (", whole feature" if run["mode"] == "feature" else "")


def draw_live(snapshot: dict[str, Any]) -> None:
    st.progress(min(1.0, snapshot["step"] / snapshot["max_steps"]),
                text=f"Step {snapshot['step']} of {snapshot['max_steps']} · {live.status_text(snapshot)}")
    live.state_notice(snapshot)
    runs = snapshot["runs"]
    cols = st.columns(len(runs))
    for col, run in zip(cols, runs):
        last = run["last"]
        col.markdown(f"**{_label(run)}**")
        m1, m2, m3 = col.columns(3)
        m1.metric("Serving accuracy", f"{last['serving_acc']:.1%}",
                  help="Held-out rows with the honest context, in eval mode: what users get.")
        m2.metric("Offline check", f"{last['val_acc']:.1%}",
                  help="Held-out rows drawn like the training rows, leak included: what a check on augmented data "
                       "would report.")
        m3.metric("Context knocked out", f"{last['legit_only_acc']:.1%}",
                  help="Serving rows with the context layer's output set to 0: what the legitimate tower learned.")
    cols = st.columns(len(runs))
    for col, run in zip(cols, runs):
        c = run["curves"]
        fig = go.Figure()
        for name, text in CURVES.items():
            fig.add_scatter(x=c["step"], y=c[name], mode="lines", name=text)
        fig.update_yaxes(range=[0.2, 1.0])
        col.plotly_chart(layout(fig, f"{_label(run)}: accuracy as it trains", "step", "accuracy", 320),
                         key=f"{NS}live.{run['name']}", config=CHART)
    fig = go.Figure()
    for key, text in (("reliance_legit", "legitimate tower knocked out"), ("reliance_context", "context knocked out")):
        fig.add_bar(name=text, x=[_label(r) for r in runs], y=[r["last"][key] for r in runs])
    st.plotly_chart(layout(fig, "How much each run relies on each tower: accuracy lost on leaked held-out rows",
                           "", "accuracy lost", 300), key=NS + "live.reliance", config=CHART)


def live_section() -> None:
    specs = live_controls()
    runner, snapshot = sync_runner(specs)
    live.buttons(snapshot, ns=NS, steps=50, finished_plays_on=True,
                 play_help="Start or pause training. The p sliders and run A's mode change the running runs.")
    live.live_view(runner, snapshot, draw_live, export="serving")


# -- 2-3. the background experiments ---------------------------------------------------------------
PANELS = {key: JobPanel(f"{NS}{key}.", "production", cache_size=16) for key in ("leak", "serving")}
JOBS = tuple(panel.job_key for panel in PANELS.values())


def _panel(key: str, changes: dict[str, Any], seconds: str) -> dict[str, Any] | None:
    return experiment_panel(PANELS[key], key, lambda: request(key, changes), seconds=seconds)


def leak_section() -> None:
    guard(NS + "leak.seeds", 5, lo=2, hi=12)
    guard(NS + "leak.leak", 1.0, lo=0.25, hi=1.0)
    c1, c2 = st.columns(2)
    seeds = c1.number_input("Seeds", min_value=2, max_value=12, step=1, key=NS + "leak.seeds",
                            help="Paired seeds: every run of a seed has the same rows, initial weights and batches.")
    leak = c2.slider("Leak of the main runs", 0.25, 1.0, step=0.25, key=NS + "leak.leak",
                     help="The share of training rows whose context is the label, for the p sweep; the leak sweep "
                          "also measures 0.25, 0.5 and 0.75.")
    out = _panel("leak", {"seeds": int(seeds), "leak": float(leak)}, "about a minute")
    if out is None:
        return
    verdict_lines(out["verdicts"])
    rows, cfg = out["summary"], out["config"]
    left, right = st.columns(2)
    fig = go.Figure()
    for mode, text in (("unit", "dropping its units"), ("feature", "dropping the whole feature")):
        cells = sorted((r for r in rows if r["arm"] == mode), key=lambda r: r["p"])
        fig.add_scatter(x=[r["p"] for r in cells], y=[r["serving_acc"] for r in cells], mode="lines+markers",
                        name=text, error_y=dict(type="data", array=[r["serving_acc_se"] or 0 for r in cells]))
    none = next(r for r in rows if r["arm"] == "none")
    fig.add_hline(y=none["serving_acc"], line_dash="dot", annotation_text="no context at all")
    left.plotly_chart(layout(fig, f"Serving accuracy against the context layer's p (leak {cfg['leak']:g})",
                             "context layer's p", "serving accuracy"), key=NS + "leak.rates", config=CHART)
    fig = go.Figure()
    for p in (0.0, cfg["p_high"]):
        cells = sorted((r for r in rows if r["mode"] == "unit" and r["arm"] in ("unit", "leak sweep")
                        and math.isclose(r["p"], p)), key=lambda r: r["leak"])
        fig.add_scatter(x=[r["leak"] for r in cells], y=[r["serving_acc"] for r in cells], mode="lines+markers",
                        name=f"p = {p:g}", error_y=dict(type="data", array=[r["serving_acc_se"] or 0 for r in cells]))
    right.plotly_chart(layout(fig, "Serving accuracy against the leak's strength", "share of training rows leaking",
                              "serving accuracy"), key=NS + "leak.sweep", config=CHART)
    weakest = helps_from(out)
    st.caption(("The trick helps at every measured leak from " f"{weakest:g} up. " if weakest is not None else
                "At no measured leak does the trick hold at these settings. ")
               + f"{cfg['seeds']} seeds, {cfg['steps']} steps of {cfg['batch_size']} on {cfg['n_train']} rows, in "
               f"{out['elapsed_s']:.0f} s; each claim a paired test at the two-sided 5 % level. One task, one model "
               "size: the lesson says what moves these numbers.")


def serving_section() -> None:
    st.code(inspect.getsource(check_deterministic), language="python")
    out = _panel("serving", {}, "about 10 s")
    if out is None:
        return
    cols = st.columns(2)
    for col, (name, e) in zip(cols, out["exports"].items()):
        with col.container(border=True):
            st.markdown(f"**Exported after {name}**: `training = {e['training']}`")
            if e["passes"]:
                st.success("The check passes: every request got the same answer each time.", icon="✅")
            else:
                st.error(f"The check fails: {e['failure']}.", icon="❌")
            st.markdown(f"{100 * e['changed_share']:.0f} % of {out['config']['requests']} requests changed class "
                        f"over {out['config']['repeats_per_request']} asks (logits moved by up to "
                        f"{e['max_logit_change']:.3g}); serving accuracy of one answer each "
                        f"{100 * e['serving_acc']:.1f} %.")
    left, right = st.columns(2)
    fig = go.Figure()
    ts = [r["T"] for r in out["cost"]]
    for method in METHODS:
        cells = [r[method] for r in out["cost"]]
        fig.add_scatter(x=ts, y=[c["ms"] for c in cells], mode="lines+markers", name=method,
                        error_y=dict(type="data", symmetric=False, array=[c["ms_q75"] - c["ms"] for c in cells],
                                     arrayminus=[c["ms"] - c["ms_q25"] for c in cells]))
    fig.update_xaxes(type="log", tickvals=ts)
    fig.update_yaxes(type="log", dtick=1)
    left.plotly_chart(layout(fig, "Latency of one request (median, 25th-75th percentile)", "T, passes", "ms"),
                      key=NS + "serving.latency", config=CHART)
    fig = go.Figure()
    fig.add_scatter(x=ts, y=[r["entropy_auroc"] for r in out["cost"]], mode="lines+markers",
                    name="entropy ranks wrong answers first (AUROC)")
    fig.add_scatter(x=ts, y=[r["mc_acc"] for r in out["cost"]], mode="lines+markers", name="MC mean's accuracy")
    fig.add_scatter(x=ts, y=[r["jitter"] for r in out["cost"]], mode="lines+markers",
                    name="jitter of the top probability", yaxis="y2")
    fig.update_xaxes(type="log", tickvals=ts)
    fig.update_layout(yaxis2=dict(overlaying="y", side="right", title="jitter"))
    right.plotly_chart(layout(fig, "What the passes buy", "T, passes", "AUROC, accuracy"),
                       key=NS + "serving.buys", config=CHART)
    st.caption(f"One digit per request on {out['threads']} thread(s) of this server; eval-mode accuracy "
               f"{100 * out['eval_acc']:.1f} % on {out['n_requests']} held-out digits. Measured now, in "
               f"{out['elapsed_s']:.1f} s: on a busy server the times move, the ratios less.")
