"""The live runner for lesson 5's regression: one thread that owns a ``RegressionTrainer``.

As in ``core.live.pair``: commands go in as ``(name, kwargs)`` with plain values, snapshots come
out as dicts of plain values and numpy arrays, and the thread never touches Streamlit. A
command the runner cannot apply (an unknown name, a value out of range) becomes a message
in the next snapshot, never an exception in the caller or a dead thread.

Each snapshot carries the data, the grid and the latest T stochastic passes with their mean
and spread, and how many held-out noisy observations their +-1 and +-2 std bands hold
(``heldout``). The passes are computed again only when something they depend on changed (the
weights, T, p or the points); their masks come from a seed fixed for the run, so while the
network trains each thin line moves smoothly instead of being redrawn at random.
"""
from __future__ import annotations

import math
from dataclasses import asdict, fields, replace
from typing import Any

from core.engine.plain import thin
from core.engine.runtime import configure
from core.labs.uncertainty.bands import GRID, MAX_PASSES, MCBands, heldout_coverage, region_std
from core.labs.uncertainty.regression import RegressionConfig, RegressionTrainer
from core.live.runner import Gate, ThreadedRunner, check_speed

"""The Python thread's name, shared with every trainer thread of the app (tests count them)."""
COMMANDS = ("play", "pause", "step", "set_p", "add_points", "set_passes", "set_speed", "set_activation",
            "reset", "stop")
DEFAULT_PASSES = 50


class LiveRegression(ThreadedRunner):
    """Trains one regression run in a background thread, driven by commands.

    States: ``ready`` (nothing trained yet), ``playing``, ``queued`` (waiting for a place to
    train), ``paused``, ``finished`` (reached ``max_epochs`` since the last start; ``play`` goes
    on for as many again), ``diverged``, ``error``, ``stopped``. ``epochs_per_second`` paces
    playing (None: as fast as the CPU allows). ``reset`` and ``set_activation`` start a new run
    (new weights, the original points) with the changed config; ``run`` in the snapshot counts
    them.

    Commands: ``play``, ``pause``, ``step`` (``n`` steps, default 1), ``set_p`` (``p``),
    ``add_points`` (``x``, ``y``: numbers or equal-length lists), ``set_passes`` (``n_passes``,
    1..MAX_PASSES), ``set_speed`` (``epochs_per_second``), ``set_activation``
    (``activation``), ``reset`` (any ``RegressionConfig`` fields to change), ``stop``.
    """

    def __init__(self, cfg: RegressionConfig, *, n_passes: int = DEFAULT_PASSES,
                 epochs_per_second: float | None = 100.0, publish_interval: float = 0.1, gate: Gate | None = None,
                 unwatched_pause: float | None = None):
        super().__init__(gate, unwatched_pause)
        configure()
        self._trainer = RegressionTrainer(cfg)
        self._run = 1
        self._stop_epoch = cfg.max_epochs
        self._n_passes = _passes(n_passes)
        self._epochs_per_second = check_speed(epochs_per_second)
        self._publish_interval = publish_interval
        self._bands_key: tuple | None = None
        self._bands: MCBands | None = None
        self._heldout: dict[str, dict[str, Any]] = {}
        self._publish()
        self._start()

    # -- the interface (send, snapshot, wait_for, close, alive) is ThreadedRunner's ----------
    # A command that cannot be applied is reported in the snapshot's ``message``.

    def _apply(self, command: str, args: dict[str, Any]) -> int:
        """Apply one command; return the number of single steps it asks for."""
        if command not in COMMANDS:
            raise ValueError(f"unknown command {command!r}; expected one of {', '.join(COMMANDS)}")
        steps = self._lifecycle(command, args)
        if steps is not None:
            return steps
        if command == "set_p":
            self._trainer.set_p(float(args["p"]))
        elif command == "add_points":
            self._trainer.add_points(args["x"], args["y"])
        elif command == "set_passes":
            self._n_passes = _passes(args["n_passes"])
        elif command == "set_activation":
            self._new_run(activation=args["activation"])
        elif command == "reset":
            self._new_run(**args)
        return 0

    def _continue_finished(self) -> bool:
        self._stop_epoch = self._trainer.epoch + self._trainer.cfg.max_epochs  # play goes on for as long again
        return True

    def _new_run(self, **changes: Any) -> None:
        names = {f.name for f in fields(RegressionConfig)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ValueError(f"unknown setting {', '.join(map(repr, unknown))}; "
                             f"expected some of {', '.join(sorted(names))}")
        cfg = replace(self._trainer.cfg, **changes)  # validates
        self._trainer = RegressionTrainer(cfg)
        self._run += 1
        self._stop_epoch = cfg.max_epochs
        self._bands_key = None
        self._state, self._message = "ready", None

    def _check_end(self) -> bool:
        if self._trainer.diverged:
            self._state, self._message = "diverged", self._trainer.diverged
            return True
        if self._state == "error":
            return True
        if self._trainer.epoch >= self._stop_epoch:
            self._state, self._message = "finished", f"reached {self._trainer.epoch} epochs; play goes on."
            return True
        return False

    def _step_once(self) -> None:
        self._trainer.step()

    def _step_count(self) -> int:
        return self._trainer.step_count

    def _steps_per_epoch(self) -> int:
        return self._trainer.steps_per_epoch

    # -- snapshots -----------------------------------------------------------------------------
    def _current_bands(self) -> MCBands:
        """The passes for the current weights, T, p and points; computed again only when one changed."""
        t = self._trainer
        key = (self._run, t.step_count, self._n_passes, t.cfg.p, t.n_train)
        if key != self._bands_key:
            self._bands = t.bands(self._n_passes, observation_noise=True)
            held = t.heldout_bands(self._n_passes)
            self._heldout = {f"k{k}": asdict(heldout_coverage(held, t.heldout.y, k)) for k in (1, 2)}
            self._bands_key = key
        return self._bands

    def _publish(self) -> None:
        t = self._trainer
        bands = self._current_bands()
        tau = t.tau()
        regions = region_std(bands, t.data)
        n_original = t.cfg.n_points
        snapshot = {
            "state": self._state,
            "message": self._message,
            "run": self._run,
            "config": t.cfg.to_flat(),
            "epochs_per_second": self._epochs_per_second,
            "n_passes": self._n_passes,
            "step": t.step_count,
            "epoch": t.epoch_float,
            "history": {k: thin(v) for k, v in t.history.items()},
            "events": list(t.events),
            "events_hidden": t.events.hidden,
            "data": {"x": t.data.x, "y": t.data.y, "n": t.n_train, "added": t.n_train - n_original,
                     "intervals": [list(i) for i in t.data.intervals]},
            "grid": GRID,
            "truth": t.data.truth(GRID),
            "bands": {"passes": bands.passes, "mean": bands.mean, "std": bands.std,
                      "total_std": bands.total_std, "noise_var": bands.noise_var},
            "tau": {**asdict(tau), "text": tau.text()},
            "heldout": self._heldout,
            "regions": {**asdict(regions), "far_ratio": _finite_or_none(regions.far_ratio),
                        "gap_ratio": _finite_or_none(regions.gap_ratio)},
        }
        with self._changed:
            self._version += 1
            self._snapshot = {"version": self._version, **snapshot}
            self._changed.notify_all()


def _passes(n_passes: Any) -> int:
    value = float(n_passes)
    if not value.is_integer() or not 1 <= value <= MAX_PASSES:
        raise ValueError(f"T (stochastic passes) must be a whole number in [1, {MAX_PASSES}], got {n_passes!r}")
    return int(value)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None

