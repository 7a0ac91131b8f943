"""Lesson 3's page parts: pick an experiment, set it up, run it in the background, show the verdict.

Finished results are plain data and depend only on (experiment, settings): equal settings
give equal runs on the CPU. They are kept in a small process-wide cache, so when a class
opens the page with the defaults, one student pays for the run and the others see it at once.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import streamlit as st

from core.engine.config import DATASETS, DIGITS_SIZE, MAX_NUISANCE, PLANE_DATASETS, ConfigError
from core.labs.overfitting import figures as viz_sweep
from core.labs.overfitting import regime_figures
from core.labs.overfitting.experiments import BOTH, EXPERIMENTS, STOPPED, ExperimentResult, Settings, check_settings
from core.labs.overfitting.regime import CLAIM, TITLE, RegimeResult, RegimeSettings
from core.labs.overfitting.verdicts import FAILS, HOLDS
from core.ui.jobs import JobPanel
from core.ui.links import choice_from_link, reader, seed_from_link, write_link

NS = "overfitting."
JOB = NS + "job"  # this session's run (``JobPanel.job_key``)
RATE_OPTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
SIZE_OPTIONS = (20, 40, 80, 160, 320, 640, 1000, 1280)
STATUS_ICON = {HOLDS: "✅", FAILS: "❌"}
JOBS = JobPanel(NS, "overfitting")  # shared by the sessions that ask for the same run, cached for the server


# -- choosing --------------------------------------------------------------------------------
REGIME = "regime"  # the last choice: the regime map (core.ui.labs.regime), not a paper's figure


def pick_experiment() -> str:
    """The experiment picker; ``?experiment=fig10`` in the link opens that one."""
    keys = [*EXPERIMENTS, REGIME]
    widget = NS + "experiment"
    if widget not in st.session_state:
        st.session_state[widget] = choice_from_link("experiment", keys, "an experiment")
    key = st.radio(
        "Experiment", keys, key=widget, horizontal=True,
        format_func=lambda k: "Regime map" if k == REGIME else EXPERIMENTS[k].source.replace("Srivastava et al. 2014, ", ""),
        help="Each reproduces one published result on small networks you can train here; the regime map "
             "shows where, over data sizes, noise and widths, dropout helps at all.",
    )
    return key


def _widget_values(s: Settings) -> dict[str, Any]:
    return {
        "dataset": s.dataset, "noise": s.noise, "n_train": s.n_train, "width": s.hidden[0], "layers": len(s.hidden),
        "seeds": s.seeds, "length": s.steps if s.steps is not None else s.epochs,
        "rates": list(s.rates), "sizes": list(s.sizes), "p": s.p,
    }


LINK_RANGES = {"noise": (0, 1), "n_train": (20, 1000), "width": (8, 256), "layers": (1, 3), "seeds": (1, 10),
               "length": (10, 5000), "p": (0.05, 0.9)}
_from_link = reader({"rates": RATE_OPTIONS, "sizes": SIZE_OPTIONS, "dataset": DATASETS}, LINK_RANGES)


def _seed_widgets(key: str, defaults: Settings) -> None:
    """Give each widget its default, or the link's value the first time the page opens."""
    first_visit = f"{NS}{key}.seeds" not in st.session_state
    seed_from_link({f"{NS}{key}.{name}": (name, value) for name, value in _widget_values(defaults).items()},
                   _from_link, use_link=first_visit and st.query_params.get("experiment") == key)


def _write_link(key: str) -> None:
    """Keep the address bar a link to exactly this experiment and these settings."""
    values = {"experiment": key}
    uses = EXPERIMENTS[key].uses
    for name in _widget_values(EXPERIMENTS[key].defaults):
        if name in ("rates", "sizes", "p") and name not in uses or name == "n_train" and "sizes" in uses:
            continue  # not a setting of this experiment
        values[name] = st.session_state.get(f"{NS}{key}.{name}")
    write_link(values)


def settings_form(key: str) -> Settings | None:
    """The experiment's settings, or None (with a message) when they do not make a valid run."""
    e = EXPERIMENTS[key]
    d = e.defaults
    _seed_widgets(key, d)
    k = f"{NS}{key}."
    with st.expander("Settings (change them and run again)", expanded=False):
        c1, c2, c3 = st.columns(3)
        c1.selectbox("Dataset", DATASETS, key=k + "dataset",
                     help="The 2-D sets of the Playground, or the 8x8 digits that ship with scikit-learn "
                          "(64 pixels, 10 classes; noise is pixel noise there).")
        c1.slider("Noise", 0.0, 1.0, step=0.05, key=k + "noise",
                  help="More noise: more to overfit to, and a larger gain from regularizing.")
        if "sizes" in e.uses:
            c1.multiselect("Training-set sizes", SIZE_OPTIONS, key=k + "sizes",
                           help="One point on the x-axis each; at least three.")
        else:
            c1.slider("Training points", 20, 1000, step=10, key=k + "n_train",
                      help="Few points and a big network overfit the most.")
        c2.slider("Hidden width", 8, 256, step=8, key=k + "width",
                  help="Units per hidden layer" + (" (the fixed-n side; the other is widened to n/(1−p), at most "
                                                   "256)" if key == "fig9b" else ""))
        c2.slider("Hidden layers", 1, 3, key=k + "layers", help="Dropout follows every hidden layer.")
        if "rates" in e.uses:
            c2.multiselect("Dropout rates p", RATE_OPTIONS, key=k + "rates",
                           help="Drop probabilities to train at; at least three.")
        if "p" in e.uses:
            c2.slider("p of the dropout side", 0.05, 0.9, step=0.05, key=k + "p",
                      help="The drop probability after each hidden layer, for the runs with dropout.")
        c3.slider("Seeds", 1, 10, key=k + "seeds",
                  help="Each seed changes the data, the initial weights and the masks. The verdict compares "
                       "settings seed by seed, and needs 2 or more for error bars.")
        c3.number_input("Steps" if d.steps is not None else "Epochs", 10, 5000, step=50, key=k + "length",
                        help="Minibatch updates, the same for every training-set size."
                             if d.steps is not None else "Passes over the training set.")
    _write_link(key)
    try:
        return read_settings(key)
    except ConfigError as exc:
        st.error(f"These settings do not make a valid run: {exc}")
        return None


def read_settings(key: str) -> Settings:
    """The experiment's settings from its widgets' values (raises ConfigError with a sentence).

    Also what the Run button's callback calls, so a run uses the values as they are at the
    click, including one typed into a number box that the click itself committed."""
    e = EXPERIMENTS[key]
    d = e.defaults
    value = lambda name: st.session_state[f"{NS}{key}.{name}"]  # noqa: E731
    sizes = tuple(value("sizes")) if "sizes" in e.uses else d.sizes
    n_train = d.n_train if "sizes" in e.uses else int(value("n_train"))
    largest = max((*sizes, n_train)) if "sizes" in e.uses else n_train
    n_val = min(d.n_val, DIGITS_SIZE - largest) if value("dataset") == "digits" else d.n_val
    if n_val < 20:
        raise ConfigError(f"digits has {DIGITS_SIZE} images: with {largest} for training too few are left to "
                          "validate on; use at most 1,700 training points")
    length = int(value("length"))
    settings = replace(
        d, dataset=value("dataset"), noise=float(value("noise")), n_train=n_train, n_val=n_val,
        hidden=(int(value("width")),) * int(value("layers")), seeds=int(value("seeds")), sizes=sizes,
        rates=tuple(value("rates")) if "rates" in e.uses else d.rates,
        p=float(value("p")) if "p" in e.uses else d.p,
        **({"steps": length} if d.steps is not None else {"epochs": length}),
    )
    check_settings(key, settings)
    return settings


# -- running ---------------------------------------------------------------------------------
def run_panel(key: str, settings: Settings | None) -> None:
    """The claim, then Run, live progress with Cancel, and the figures and the verdict."""
    e = EXPERIMENTS[key]
    st.markdown(f"**{e.source}.** {e.claim}")
    job = st.session_state.get(JOB)  # this session's run: maybe of another experiment, or other settings
    ran = EXPERIMENTS[job.key] if job is not None else e
    sweep = e.build(settings) if settings is not None else None
    n_members = len(sweep.members) if sweep is not None else 0
    result = JOBS.draw(
        key, settings,
        progress=f"{ran.source}: training {len(ran.build(job.settings).members) if job else n_members} networks "
                 "as one batched model",
        run_label=f"▶ Run: {n_members} networks",
        run_help=f"Trains all {n_members} networks together as one batched model "
                 f"({sweep.total_steps() if sweep else 0:,} batched steps). Usually well under a minute.",
        changed=f"The {ran.source} run finished, but its settings were changed while it ran. Its result shows "
                "again if you set them back; press Run to train with the new ones.",
        current=read_settings, read=lambda: read_settings(key),
        caption="Press Run to train. Results for settings that were already run on this server show at once.")
    if result is None:
        return
    show_result(result)
    st.download_button("Download the data (JSON)", json.dumps(result.to_json(), indent=1),
                       file_name=f"dropout-lab-{key}.json", mime="application/json", key=NS + "download.button",
                       help="Every member's settings and final numbers, the summary and the verdict: what "
                            f"`python -m core reproduce {key}` writes.")


def show_result(result: ExperimentResult) -> None:
    verdict = result.verdict
    for fig in viz_sweep.figures(result):
        st.plotly_chart(fig, key=f"{NS}fig.{fig.layout.uirevision}", config={"displayModeBar": False})
    if verdict is None:
        return
    headline = {HOLDS: st.success, FAILS: st.error}.get(verdict.status, st.warning)
    words = {HOLDS: "the claim holds here", FAILS: "the claim does not hold here"}.get(
        verdict.status, "unclear here: some differences are no larger than noise could make them at this many "
                        "seeds (more seeds may settle them, or there may be no effect)")
    headline(f"**Verdict: {words}** ({verdict.summary.split(': ', 1)[1]}, "
             f"{result.settings.seeds} seeds, {len(result.sweep.members)} networks in {result.sweep.elapsed:.1f} s)")
    for check in verdict.checks:
        st.markdown(f"- {STATUS_ICON.get(check.status, '❔')} **{check.status}**: {check.text}. {check.detail}.")
    if result.rival is not None:
        st.markdown("**Early stopping, the rival.** Each run without dropout, stopped at the evaluation where its "
                    "validation loss was lowest (the stars on the chart). That epoch is picked on the same "
                    "validation points it is scored on, which flatters the stopped run a little.")
        for check in result.rival.checks:
            st.markdown(f"- {STATUS_ICON.get(check.status, '❔')} **{check.status}**: {check.text}. {check.detail}.")
    diverged = sum(r["diverged"] for r in result.rows if r.get("label") not in (STOPPED, BOTH))
    if diverged:
        st.warning(f"{diverged} of the networks diverged (their loss became too large or not a number) and are "
                   "left out of the averages. Lower the learning rate or the dropout rate.")


# -- the regime map ----------------------------------------------------------------------------
# The picker's last choice (``?experiment=regime``, its settings in the link like every experiment's);
# its run is the CLI's, ``core.labs.overfitting.regime``.
RNS = NS + "regime."
REGIME_JOBS = JobPanel(RNS, "regime")
REGIME_SECTION = "When does dropout help?"  # lesson 3's section about the map
P_OPTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
_regime_from_link = reader({"dataset": DATASETS, "p": P_OPTIONS},
                           {"nuisance": (0, MAX_NUISANCE), "seeds": (2, 10), "steps": (100, 3000)})


def _regime_widget_values(s: RegimeSettings) -> dict[str, Any]:
    return {"dataset": s.dataset, "nuisance": s.nuisance, "p": s.p, "seeds": s.seeds, "steps": s.steps}


def regime_settings_form() -> RegimeSettings | None:
    d = RegimeSettings()
    first_visit = RNS + "seeds" not in st.session_state
    seed_from_link({RNS + name: (name, value) for name, value in _regime_widget_values(d).items()}, _regime_from_link,
                   use_link=first_visit and st.query_params.get("experiment") == REGIME)
    with st.expander("Settings (change them and run again)", expanded=False):
        c1, c2, c3 = st.columns(3)
        dataset = c1.selectbox("Dataset", DATASETS, key=RNS + "dataset",
                               help="Switch it and run again: the helpful region moves. For digits, noise is "
                                    "pixel noise.")
        c1.slider("Nuisance inputs", 0, MAX_NUISANCE, key=RNS + "nuisance", disabled=dataset not in PLANE_DATASETS,
                  help="Irrelevant noise inputs appended to the two coordinates (2-D sets only): more ways "
                       "to memorise the training points.")
        c2.select_slider("p of the dropout side", P_OPTIONS, key=RNS + "p",
                         help="The one drop probability every cell compares with p = 0, chosen before the run: "
                              "no cell picks its best p.")
        c3.slider("Seeds", 2, 10, key=RNS + "seeds",
                  help="Seed s gives both sides of a cell the same data and initial weights; each cell's "
                       "verdict is a paired t-test over the seeds.")
        c3.number_input("Steps", 100, 3000, step=100, key=RNS + "steps",
                        help="Minibatch updates per network, the same for every training-set size.")
    write_link({"experiment": REGIME, **{name: st.session_state.get(RNS + name) for name in _regime_widget_values(d)}})
    try:
        return read_regime_settings()
    except ConfigError as exc:
        st.error(f"These settings do not make a valid run: {exc}")
        return None


def read_regime_settings(_job_key: str = REGIME) -> RegimeSettings:
    value = lambda name: st.session_state[RNS + name]  # noqa: E731
    dataset = value("dataset")
    return replace(RegimeSettings(), dataset=dataset, p=float(value("p")), seeds=int(value("seeds")),
                   steps=int(value("steps")), nuisance=int(value("nuisance")) if dataset in PLANE_DATASETS else 0)


def regime_run_panel(settings: RegimeSettings | None) -> None:
    st.markdown(f"**{TITLE}.** {CLAIM} Each cell compares the same network without dropout and "
                "with it, seed by seed.")
    n = len(settings.sweep().members) if settings is not None else 0
    cells = len(settings.cells()) if settings is not None else 0
    result = REGIME_JOBS.draw(
        REGIME, settings, progress=f"Regime map: training {n} networks as one batched model",
        run_label=f"▶ Run: {cells} cells, {n} networks",
        run_help=f"Trains all {n} networks ({cells} cells x 2 sides x the seeds) together as one batched model. "
                 "About a minute on 2 cores with the defaults.",
        changed="The regime map finished, but its settings were changed while it ran. Its result shows again if "
                "you set them back; press Run to train with the new ones.",
        current=read_regime_settings, read=read_regime_settings,
        caption="Press Run to train. Results for settings that were already run on this server show at once.")
    if result is None:
        return
    show_regime(result)
    st.download_button("Download the data (JSON)", json.dumps(result.to_json(), indent=1),
                       file_name="dropout-lab-regime.json", mime="application/json", key=RNS + "download.button",
                       help="Every member's settings and final numbers and every cell's gain and verdict: what "
                            "`python -m core reproduce regime` writes.")


def show_regime(result: RegimeResult) -> None:
    c1, c2 = st.columns(2)
    for column, fig in zip((c1, c2), regime_figures.figures(result)):
        column.plotly_chart(fig, key=f"{RNS}fig.{fig.layout.uirevision}", config={"displayModeBar": False})
    s = regime_figures.summary(result)
    best, worst = s["best"], s["worst"]
    st.caption(
        f"✓ dropout lowers the error (the paired test holds), ✗ it raises it, · unclear at {result.settings.seeds} "
        f"seeds. Colour: the mean gain in percentage points, blue where dropout helps. "
        f"{s['holds']} of {s['cells']} cells hold, {s['does not hold']} do not, {s['unclear']} are unclear. "
        f"Largest gain {100 * best['gain']:+.1f} points (n = {best['n_train']}, noise {best['noise']:g}, width "
        f"{best['width']}); largest loss {100 * worst['gain']:+.1f} (n = {worst['n_train']}, noise "
        f"{worst['noise']:g}, width {worst['width']}). {len(result.sweep.members)} networks in "
        f"{result.sweep.elapsed:.1f} s.")
    diverged = sum(bool(m.get("diverged")) for m in result.sweep.members)
    if diverged:
        st.warning(f"{diverged} of the networks diverged and are left out of their cells' comparisons.")
