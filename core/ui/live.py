"""The live driver of every live page: keeps a session's runner in step with the page's controls.

Each page (the Playground, co-adaptation, lesson 5's classifier) uses it under its own session-state
namespace ``ns`` (its slug) and may pass extra ``LiveRunner`` options; a change of those options starts
a new run. The page draws the snapshot ``sync_runner`` returns with its own ``draw``."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Callable

import streamlit as st

from core.engine.config import RunConfig, to_flat
from core.live.admission import ServerFull
from core.live.pool import Runner, settings as server_settings, start_runner
from core.live.redraw import RedrawBudget
from core.live.snapshots import PairSnapshot, Snapshot
from core.ui import frame as router
from core.ui.export import downloads
from core.ui.session import browser_id, session_lease


@dataclass(frozen=True)
class Settings:
    """What a live page's controls describe: run A, an optional run B trained alongside, the pace."""

    a: RunConfig
    b: RunConfig | None  # None: no comparison run
    epochs_per_second: float | None  # None: as fast as the CPU allows


TICK_SECONDS = server_settings().refresh  # DROPOUT_LAB_REFRESH: seconds between two redraws of a live view
ACTIVE = ("playing", "queued")
"""States in which a run wants to train (queued: waiting for a place): its view keeps refreshing."""
PLAYS_ON = (*ACTIVE, "finished", "diverged")
"""States whose run, replaced after a structural change, is followed by one that plays: the learner was
watching it train (a run that ended on its own included: the change asks to see the new one train). After
Pause or Reset the new run waits at its start."""
FIRST_POINT_WAIT = 0.5  # after a live change, wait at most this long for a step trained with it

# Changing any of these needs new weights or new data, so it starts a new run.
STRUCTURAL = {
    "data.dataset": "dataset", "data.noise": "noise", "data.n_train": "training points",
    "data.n_val": "validation points", "data.seed": "seed", "data.nuisance": "nuisance inputs", "model.num_hiddens": "hidden layers",
    "model.activation": "activation", "model.classic": "dropout form", "model.batchnorm": "BatchNorm",
    "model.variants": "dropout variant", "train.optimizer": "optimizer",
    "train.batch_size": "batch size", "train.max_norm": "max-norm", "train.device": "device",
    "data.upload": "uploaded file",  # the fingerprint of uploaded points ("" for the built-in sets)
}


def structure(settings: Settings, options: dict[str, Any]) -> dict[str, Any]:
    """What a live page's run is built from: a change of any of it starts a new run, named by its label."""
    flat = to_flat(settings.a)
    built = {label: flat[key] for key, label in STRUCTURAL.items()}
    built["uploaded file"] = built["uploaded file"] or None  # none: an absent part (its change says "added")
    built["run B"] = "trained alongside" if settings.b is not None else None
    built.update({name.replace("_", " "): value for name, value in sorted(options.items())})
    return built


def _changes(old: dict[str, Any], new: dict[str, Any]) -> str | None:
    """The changes from ``old`` to ``new`` in words: "dataset moons → circles", "BatchNorm on", "run B added"
    (a value of None is an absent part)."""
    said = []
    for label in [*new, *(label for label in old if label not in new)]:
        before, after = old.get(label), new.get(label)
        if before == after:
            continue
        if before is None or after is None:
            said.append(f"{label} {'added' if before is None else 'removed'}")
        elif isinstance(after, bool):
            said.append(f"{label} {'on' if after else 'off'}")
        else:
            said.append(f"{label} {before} → {after}")
    return ", ".join(said) or None


def drive(ns: str, *, built: dict[str, Any], values: Any, start: Callable[[], Runner],
          apply: Callable[[Runner, Snapshot, Any, Any], Snapshot]) -> tuple[Runner, Snapshot]:
    """The one lifecycle of a page's live run, for every runner kind: this session's runner under ``ns``,
    started, restarted or updated, and the snapshot this page run draws from.

    The first visit starts a run (``start()``) and plays it; after **Reset** the new run waits at its
    start. A change in ``built`` (label → value: data, architecture...) replaces the run, playing if
    the old one played or had ended on its own (``PLAYS_ON``), and says why; a run that ended with an
    error or was stopped with its tab is replaced with a sentence saying so. Otherwise, when ``values``
    (what applies to a running run: p, lr, T, the pace...) changed, ``apply(runner, snapshot, old, new)``
    sends them and returns the snapshot that shows them."""
    ss = st.session_state
    runner: Runner | None = ss.get(ns + "runner")
    reason_key = ns + "reset_reason"
    if runner is None or not runner.alive:
        after_reset = ss.pop(ns + "after_reset", False)
        ended = None if runner is None else runner.snapshot()
        runner, snapshot = _new_runner(start, play=ended is None and not after_reset, ns=ns)
        if ended is None:
            ss[reason_key] = None
        elif ended["state"] == "error":
            ss[reason_key] = restarted_after(ended["message"])
        else:  # the session lease stopped it: the tab had disconnected
            ss[reason_key] = "The previous run stopped when the tab disconnected; this is a new one."
    elif reason := _changes(ss[ns + "built"], built):
        plays_on = runner.snapshot()["state"] in PLAYS_ON
        runner.close(timeout=0)
        runner, snapshot = _new_runner(start, play=plays_on, ns=ns)
        ss[reason_key] = f"New run: {reason}."
    else:
        snapshot = runner.snapshot()
        if ss[ns + "values"] != values:
            snapshot = apply(runner, snapshot, ss[ns + "values"], values)
    ss[ns + "built"], ss[ns + "values"] = built, values
    return runner, snapshot


def _new_runner(start: Callable[[], Runner], *, play: bool, ns: str) -> tuple[Runner, Snapshot]:
    try:
        runner = start()
    except ServerFull as exc:
        st.error(f"This run cannot start: {exc}", icon="🚫")
        st.stop()
    except (ValueError, KeyError) as exc:  # a setting the engine refuses, a device that is not there
        st.error(f"Could not start training: {exc}")
        st.stop()
    except (RuntimeError, OSError) as exc:  # no worker to be had now: it may be a moment's wait
        st.error(f"Could not start training: {exc}")
        st.button("Try again", key=ns + "try_again.button", help="Asks the server for a training process again.")
        st.stop()
    session_lease().hold(ns + "runner", runner)
    st.session_state[ns + "runner"] = runner
    st.session_state[ns + "page"] = router.current_page()  # so the router can pause it on other pages
    if play:
        runner.send("play")
        return runner, runner.wait_for(lambda s: s["state"] != "ready", 0.5)
    return runner, runner.snapshot()


def _send_live_changes(runner: Runner, old: RunConfig, new: RunConfig, run: int) -> bool:
    sent = False
    if (old.model.p_input, old.model.p_hidden) != (new.model.p_input, new.model.p_hidden):
        runner.send("set_p", run=run, p_input=new.model.p_input, p_hidden=list(new.model.p_hidden))
        sent = True
    for name in ("lr", "weight_decay", "max_epochs"):
        if getattr(old.train, name) != getattr(new.train, name):
            runner.send(f"set_{name}", run=run, **{name: getattr(new.train, name)})
            sent = True
    return sent


def _apply_settings(runner: Runner, before: PairSnapshot, old: Settings, new: Settings) -> PairSnapshot:
    """p, lr, weight decay, max epochs and the pace go to the running trainers, from their next step."""
    sent = _send_live_changes(runner, old.a, new.a, 0)
    if new.b is not None and old.b is not None:
        sent |= _send_live_changes(runner, old.b, new.b, 1)
    if before["epochs_per_second"] != new.epochs_per_second:
        runner.send("set_speed", epochs_per_second=new.epochs_per_second)
        sent = True
    if not sent:
        return before
    return _wait_until_applied(runner, before, [cfg for cfg in (new.a, new.b) if cfg is not None],
                               new.epochs_per_second)


def sync_runner(settings: Settings, *, ns: str, **options: Any) -> tuple[Runner, PairSnapshot]:
    """This session's "live" runner (one or two networks), kept in step with ``settings`` by ``drive``:
    a structural change (data, architecture, optimizer..., or one of the ``LiveRunner`` ``options``)
    starts a new run and says why; p, lr, weight decay, max epochs and the pace go to the running
    trainers. Pass the snapshot it returns to ``buttons`` and ``live_view``."""
    def start() -> Runner:
        return start_runner("live", settings.a, settings.b, epochs_per_second=settings.epochs_per_second,
                            owner=browser_id(), **options)

    return drive(ns, built=structure(settings, options), values=settings, start=start, apply=_apply_settings)


def restarted_after(message: str) -> str:
    """Why a page started a new run by itself: the last one ended with an error saying ``message``."""
    text = message.strip()
    text = text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")
    return f"The previous run ended with an error. {text} This is a new one."


def _live_values(cfg: RunConfig) -> tuple:
    """What a live change sets: the drop probabilities, learning rate, weight decay and max epochs."""
    return cfg.model.p_input, tuple(cfg.model.p_hidden), cfg.train.lr, cfg.train.weight_decay, cfg.train.max_epochs


def _wait_until_applied(runner: Runner, before: PairSnapshot, wanted: list[RunConfig],
                        epochs_per_second: float | None) -> PairSnapshot:
    """Draw only once the trainers hold the new values and, while playing, have trained a step
    after each change they recorded: otherwise this run would still show the old settings."""
    playing = before["state"] == "playing"
    n_events = [len(run["events"]) for run in before["runs"]]

    def applied(snapshot: PairSnapshot) -> bool:
        runs = snapshot["runs"]
        if snapshot["epochs_per_second"] != epochs_per_second:
            return False
        if not all(_live_values(run["config"]) == _live_values(cfg) for run, cfg in zip(runs, wanted)):
            return False
        return not playing or all(
            len(run["events"]) == n or run["step"] > run["events"][-1]["step"] for run, n in zip(runs, n_events)
        )

    return runner.wait_for(applied, FIRST_POINT_WAIT)


def reset_run(ns: str) -> None:
    """Button callback: forget the run; the next script run builds a fresh one, paused at epoch 0."""
    runner = st.session_state.pop(ns + "runner", None)
    if runner is not None:
        runner.close(timeout=0)
    st.session_state[ns + "after_reset"] = True


def _step(snapshot: Snapshot) -> int:
    """The steps trained so far: of run A for a pair of networks, of the run for the others."""
    return snapshot["runs"][0]["step"] if "runs" in snapshot else snapshot["step"]


def command(name: str, ns: str, **args: Any) -> None:
    """Button callback: send a command and wait briefly so the rerun already shows its effect."""
    runner: Runner | None = st.session_state.get(ns + "runner")
    if runner is None:
        return
    before = runner.snapshot()
    runner.send(name, **args)
    if st.session_state.get(ns + "reset_reason") == router.PAUSED_ELSEWHERE:
        st.session_state[ns + "reset_reason"] = None  # the learner is back at the controls
    if name == "step" and before["state"] in ("ready", "paused", *ACTIVE):
        step = _step(before)
        runner.wait_for(lambda s: _step(s) > step, 0.5)  # the step itself, not just the pause
    else:
        runner.wait_for(lambda s: s["version"] > before["version"], 0.3)


STATE_TEXT = {
    "ready": "Ready: press Play.",
    "playing": "Training…",
    "queued": "Queued",
    "paused": "Paused.",
    "finished": "Finished",
    "diverged": "Diverged",
    "error": "Stopped by an error",
    "stopped": "Stopped.",
}


def status_text(snapshot: dict[str, Any]) -> str:
    """The run's state in a few words, for a progress line (a queued run's message is a notice of its own)."""
    state, message = snapshot["state"], snapshot["message"]
    text = STATE_TEXT.get(state, state)
    if not message or state == "queued":
        return text
    return f"{text} {message}" if text.endswith(".") else f"{text}: {message}"


def state_notice(snapshot: dict[str, Any]) -> None:
    """What the learner must know about a run that is not simply training: why it stopped, or that it waits."""
    state, message = snapshot["state"], snapshot["message"]
    if state == "diverged":
        st.warning(f"⚠️ {message} Press **Reset** to start again.")
    elif state == "error":
        st.error(f"{message} Press **Reset** to start again.")
    elif state == "queued":
        st.info(message, icon="⏳")


REDRAWS = RedrawBudget(server_settings().redraws)
VIEW_ID = "live_view.id"


def live_view(runner: Runner, snapshot: Snapshot, draw_snapshot: Callable[[Any], None],
              tick: float = TICK_SECONDS, *, export: str | None = None) -> None:
    """Redraw from the runner's snapshot every ``tick`` s while it plays (slower when the class
    together asks for more redraws than the app process can draw: ``core.live.redraw``); once when it
    does not. ``export`` names the downloads drawn under the view (``core.ui.export``); None: none."""
    playing = snapshot["state"] in ACTIVE
    first = [snapshot]  # the page run's own snapshot: drawn at once, without asking the runner again
    view = st.session_state.setdefault(VIEW_ID, uuid.uuid4().hex) + getattr(draw_snapshot, "__qualname__", "")
    every = REDRAWS.interval(view, tick) if playing else None
    if not playing:
        REDRAWS.forget(view)

    @st.fragment(run_every=every)
    def _view() -> None:
        latest = first.pop() if first else runner.snapshot()  # a redraw of the fragment alone: ask
        draw_snapshot(latest)
        if playing and latest["state"] not in ACTIVE:
            st.rerun()  # the run ended on its own: redraw the whole page once, and stop ticking
        if playing and not 0.8 < REDRAWS.interval(view, tick) / every < 1.25:
            st.rerun()  # the class grew or shrank: the whole page sets the new interval

    _view()
    if export is not None:
        downloads(runner, snapshot, name=export)


def buttons(snapshot: Snapshot, *, ns: str, steps: int = 1, finished_plays_on: bool = False,
            play_help: str = "Start or pause training. Controls can be changed while it runs.") -> None:
    """Play/pause, ``steps`` steps and reset, plus why the current run started (if it was reset).
    ``finished_plays_on``: Play on a finished run trains on (its runner continues it)."""
    state = snapshot["state"]
    playing = state in ACTIVE
    ended = state in ("diverged", "error") or (state == "finished" and not finished_plays_on)
    c1, c2, c3, c4 = st.columns([1, 1, 1, 5])
    c1.button("⏸ Pause" if playing else "▶ Play", key=ns + "play.button", on_click=command,
              args=("pause" if playing else "play", ns), disabled=ended, use_container_width=True, help=play_help)
    c2.button("⏭ Step" if steps == 1 else f"⏭ {steps} steps", key=ns + "step.button", on_click=command,
              args=("step", ns), kwargs={"n": steps} if steps != 1 else None, disabled=ended,
              use_container_width=True,
              help="Pause, then train exactly one minibatch step." if steps == 1
              else f"Pause, then train exactly {steps} minibatch steps.")
    c3.button("↺ Reset", key=ns + "reset.button", on_click=reset_run, args=(ns,), use_container_width=True,
              help="Back to epoch 0: the same seed gives the same data and initial weights.")
    reason = st.session_state.get(ns + "reset_reason")
    if reason:
        c4.info(reason, icon="🔄")
