"""The live runner: one thread that owns one or two trainers (an A/B pair) and steps them.

Only plain data crosses its boundary: commands go in as ``(name, kwargs)`` with plain
values, snapshots come out as dicts of plain values and numpy arrays. That keeps the
trainer free to move into another process later. The thread never touches Streamlit.

A and B share the seed, the data and so the initial weights and the minibatch order;
they differ only in what ``RunConfig`` sets differently (by default B has p = 0). They
are stepped in lockstep: one step of A, then one of B.
"""
from __future__ import annotations

import contextlib
import math
import time
from typing import Any

import numpy as np

from core.coadaptation import knocked_out, measure
from core.config import RunConfig
from core.datasets import EXTENT, make_split
from core.mc import freeze
from core.runtime import configure
from core.threaded import Gate, ThreadedRunner
from core.trainer import MaskRecorder, Trainer

GRID_SIZE = 60
"""Decision maps are P(class 1) on a GRID_SIZE x GRID_SIZE grid over [-EXTENT, EXTENT]^2."""
MAX_HISTORY_POINTS = 1000
"""Snapshots carry at most about this many points per curve (evenly spaced, always the last)."""
MAX_DIAGRAM_UNITS = 12
"""By default the network diagram draws at most this many units per layer."""
COMMANDS = ("play", "pause", "step", "set_p", "set_lr", "set_weight_decay", "set_max_epochs", "set_speed", "knockout",
            "set_coadaptation_layer", "stop")
STATS_INTERVAL = 0.5
"""Seconds between two co-adaptation measurements of a run (each costs 5-10 ms per run, far
too much to take at every 3-step epoch; see bench/bench_coadaptation.py)."""

_GRID_AXIS = np.linspace(-EXTENT, EXTENT, GRID_SIZE, dtype=np.float32)
_GRID_POINTS = np.stack(np.meshgrid(_GRID_AXIS, _GRID_AXIS), -1).reshape(-1, 2)


class LiveRunner(ThreadedRunner):
    """Steps an A (and optional B) trainer in a background thread, driven by commands.

    ``epochs_per_second`` paces playing (None = as fast as the CPU allows): a run need not
    train faster than a person can watch it. States: ``ready`` (nothing trained yet),
    ``playing``, ``queued`` (waiting for a place to train), ``paused``, ``finished`` (max epochs), ``diverged``, ``error``, ``stopped``.
    """

    def __init__(
        self,
        cfg_a: RunConfig,
        cfg_b: RunConfig | None = None,
        *,
        epochs_per_second: float | None = 30.0,
        publish_interval: float = 0.1,
        coadaptation_layer: int | None = None,
        diagram_units: int = MAX_DIAGRAM_UNITS,
        publish_weights: bool = False,
        gate: Gate | None = None,
        unwatched_pause: float | None = None,
    ):
        """``coadaptation_layer`` (optional): measure that hidden layer's co-adaptation
        statistics (knock-out damage, correlation, sparsity) about every ``STATS_INTERVAL``
        seconds and publish them with each run's snapshot. ``diagram_units``: how many units
        per layer the snapshot carries for the network diagram (masks and weights).
        ``publish_weights``: each run's snapshot also carries ``frozen``, a copy of the whole
        network's weights taken between two steps (``core.mc.freeze``), for Monte-Carlo maps
        computed outside this thread; ``frozen_step`` says at which step it was taken.
        ``gate``, ``unwatched_pause``: the server's cap on runs training at once, and when a run
        nobody watches pauses itself (see ``core.threaded.ThreadedRunner``)."""
        if cfg_b is not None and (cfg_b.data != cfg_a.data or not cfg_b.model.same_architecture(cfg_a.model)):
            raise ValueError("run B must share run A's data and architecture (it starts from the same weights)")
        super().__init__(gate, unwatched_pause)
        configure()
        split = make_split(cfg_a.data)
        self._trainers = [Trainer(cfg_a, split, callbacks=(MaskRecorder(),))]
        if cfg_b is not None:
            self._trainers.append(Trainer(cfg_b, split, callbacks=(MaskRecorder(),)))
        self._epochs_per_second = epochs_per_second
        self._publish_interval = publish_interval
        self._diagram_units = int(diagram_units)
        self._publish_weights = publish_weights
        self._frozen: list[tuple[tuple, Any] | None] = [None, None]
        self._grid_step = [-1] * len(self._trainers)
        self._grids: list[np.ndarray | None] = [None] * len(self._trainers)
        if coadaptation_layer is not None and not 0 <= coadaptation_layer < len(cfg_a.model.num_hiddens):
            raise ValueError(f"coadaptation_layer must be a hidden layer, 0..{len(cfg_a.model.num_hiddens) - 1}")
        self._stats_layer: int | None = None
        self._stats: list[dict[str, Any] | None] = [None] * len(self._trainers)
        self._stats_series: list[dict[str, list[float]]] = [{} for _ in self._trainers]
        self._stats_step = [-1] * len(self._trainers)
        self._stats_at = [-math.inf] * len(self._trainers)
        self._set_stats_layer(coadaptation_layer)
        self._knockout: tuple[int, tuple[int, ...]] | None = None  # (layer, units) switched off in the views
        self._publish()
        self._start()

    # -- the interface: commands in, snapshots out (the rest is ThreadedRunner's) ---------------
    def send(self, command: str, **kwargs: Any) -> None:
        if command not in COMMANDS:
            raise ValueError(f"unknown command {command!r}; expected one of {', '.join(COMMANDS)}")
        super().send(command, **kwargs)

    # -- the thread ----------------------------------------------------------------------------
    def _apply(self, command: str, args: dict[str, Any]) -> int:
        """Apply one command; return the number of single steps it asks for."""
        if command == "play":
            if self._state in ("ready", "paused"):
                self._set_state("playing")
            return 0
        if command == "pause":
            if self._state == "playing":
                self._set_state("paused")
            return 0
        if command == "step":
            if self._state in ("ready", "paused", "playing", "queued"):
                self._set_state("paused")
                return 1
            return 0
        if command == "set_speed":
            eps = args.get("epochs_per_second")
            self._epochs_per_second = None if eps is None else float(eps)
            return 0
        if command == "knockout":
            self._set_knockout(args.get("layer"), args.get("units"))
            self._publish()
            return 0
        if command == "set_coadaptation_layer":
            self._set_stats_layer(args.get("layer"))
            self._publish()
            return 0
        targets = self._trainers if args.get("run") is None else [self._trainers[int(args["run"])]]
        try:
            for trainer in targets:
                if command == "set_p":
                    p_hidden = args.get("p_hidden")
                    trainer.set_p(args.get("p_input"), None if p_hidden is None else tuple(p_hidden))
                elif command == "set_lr":
                    trainer.set_lr(float(args["lr"]))
                elif command == "set_weight_decay":
                    trainer.set_weight_decay(float(args["weight_decay"]))
                elif command == "set_max_epochs":
                    trainer.set_max_epochs(int(args["max_epochs"]))
        except (ValueError, IndexError, KeyError) as exc:
            self._message = f"ignored {command}: {exc}"
        if command == "set_max_epochs" and self._state == "finished" and not self._trainers[0].finished:
            self._state, self._message = "playing", None  # more epochs after the end: carry on
        self._publish()
        return 0

    def _set_stats_layer(self, layer: int | None) -> None:
        """Measure another hidden layer from now on (None: stop measuring); its series starts afresh."""
        count = len(self._trainers[0].cfg.model.num_hiddens)
        if layer is not None and (not isinstance(layer, int) or not 0 <= layer < count):
            self._message = f"ignored set_coadaptation_layer: layer must be in 0..{count - 1}, got {layer!r}"
            return
        if layer != self._stats_layer:
            self._stats_layer = layer
            self._stats = [None] * len(self._trainers)
            self._stats_series = [{} for _ in self._trainers]
            self._stats_step = [-1] * len(self._trainers)
            self._stats_at = [-math.inf] * len(self._trainers)

    def _set_knockout(self, layer: int | None, units: list[int] | None) -> None:
        """Switch units of a hidden layer off in both runs' maps and validation numbers (not in training)."""
        if layer is None or not units:
            self._knockout = None
        else:
            try:
                model = self._trainers[0].model
                with knocked_out(model, int(layer), [int(u) for u in units]):
                    pass  # validates the layer and the units
            except (ValueError, TypeError) as exc:
                self._message = f"ignored knockout: {exc}"
                return
            self._knockout = (int(layer), tuple(int(u) for u in units))
        self._grid_step = [-1] * len(self._trainers)  # redraw the maps with the change

    def _step_once(self) -> None:
        for trainer in self._trainers:
            trainer.step()

    def _step_count(self) -> int:
        return self._trainers[0].step_count

    def _steps_per_epoch(self) -> int:
        lead = self._trainers[0]
        return -(-lead.n_train // lead.cfg.train.batch_size)

    def _check_end(self) -> bool:
        for name, trainer in zip("AB", self._trainers):
            if trainer.diverged:
                label = f"Run {name}: " if len(self._trainers) > 1 else ""
                self._state, self._message = "diverged", label + trainer.diverged
                return True
        if self._state == "error":
            return True
        if self._trainers[0].finished:
            epochs = self._trainers[0].cfg.train.max_epochs
            self._state, self._message = "finished", f"reached max epochs ({epochs})."
            return True
        return False

    # -- snapshots -----------------------------------------------------------------------------
    def _publish(self) -> None:
        runs = [self._run_snapshot(i, t) for i, t in enumerate(self._trainers)]
        with self._changed:
            self._version += 1
            self._snapshot = {
                "version": self._version,
                "state": self._state,
                "message": self._message,
                "epochs_per_second": self._epochs_per_second,
                "coadaptation_layer": self._stats_layer,
                "grid_axis": _GRID_AXIS,
                "data": {k: getattr(self._trainers[0].split, k) for k in ("X_train", "y_train", "X_val", "y_val")},
                "runs": runs,
            }
            self._changed.notify_all()

    def _run_snapshot(self, index: int, trainer: Trainer) -> dict[str, Any]:
        if self._grid_step[index] != trainer.step_count and trainer.diverged is None:
            with self._knocked_out(trainer):
                self._grids[index] = trainer.predict_proba(_GRID_POINTS).reshape(GRID_SIZE, GRID_SIZE)
            self._grid_step[index] = trainer.step_count
        extra: dict[str, Any] = {}
        if self._stats_layer is not None:
            extra["coadaptation"] = self._measure(index, trainer)
        if self._publish_weights and trainer.diverged is None:
            held = self._frozen[index]
            key = (trainer.step_count, trainer.cfg.model.p_input, trainer.cfg.model.p_hidden)  # p changes between steps
            if held is None or held[0] != key:
                held = self._frozen[index] = (key, freeze(trainer.model))
            extra["frozen"], extra["frozen_step"] = held[1], held[0][0]
        if self._knockout is not None and trainer.diverged is None:
            with self._knocked_out(trainer):
                knocked = trainer.evaluate()
            extra["knockout"] = {"layer": self._knockout[0], "units": list(self._knockout[1]),
                                 "val_loss": knocked["val_loss"], "val_acc": knocked["val_acc"]}
        masks = next(cb for cb in trainer.callbacks if isinstance(cb, MaskRecorder)).to_plain()
        return {
            "config": trainer.cfg.to_flat(),
            "step": trainer.step_count,
            "epoch": trainer.epoch_float,
            "history": {k: _thin(v) for k, v in trainer.history.series.items()},
            "events": list(trainer.history.events),
            "masks": [m[: self._diagram_units] for m in masks],
            "layer_sizes": [2, *trainer.cfg.model.num_hiddens, 2],
            "weights": [
                linear.weight.detach()[: self._diagram_units, : self._diagram_units].cpu().numpy().copy()
                for linear in trainer.model.linears
            ],
            "grid": self._grids[index],
            **extra,
        }

    def _knocked_out(self, trainer: Trainer):
        if self._knockout is None:
            return contextlib.nullcontext()
        return knocked_out(trainer.model, *self._knockout)

    def _measure(self, index: int, trainer: Trainer) -> dict[str, Any] | None:
        """The run's co-adaptation statistics, measured again at most every STATS_INTERVAL s."""
        now = time.monotonic()
        stale = self._stats_step[index] != trainer.step_count
        due = now - self._stats_at[index] >= STATS_INTERVAL or self._state != "playing"
        if stale and due and trainer.diverged is None:
            snap = measure(trainer.model, trainer.X_val, trainer.y_val, self._stats_layer, trainer.epoch)
            lead = snap.lead()
            series = self._stats_series[index]
            for key, value in {"epoch": trainer.epoch_float, **lead}.items():
                series.setdefault(key, []).append(float(value))
            self._stats[index] = {
                "lead": lead,
                "series": {k: _thin(v) for k, v in series.items()},
                "loss_increase": snap.knockout.loss_increase, "acc_drop": snap.knockout.acc_drop,
                "correlation": snap.correlation.ordered, "order": snap.correlation.order,
                "activation_counts": snap.sparsity.hist_counts, "activation_edges": snap.sparsity.hist_edges,
                "unit_mean": snap.sparsity.unit_mean,
            }
            self._stats_step[index] = trainer.step_count
            self._stats_at[index] = now
        return self._stats[index]


def _thin(series: list[float]) -> list[float]:
    """Every k-th point plus the last, so a long run's snapshot stays small and cheap to copy."""
    stride = -(-len(series) // MAX_HISTORY_POINTS)
    if stride <= 1:
        return list(series)
    thinned = series[::stride]
    if (len(series) - 1) % stride:
        thinned.append(series[-1])
    return thinned
