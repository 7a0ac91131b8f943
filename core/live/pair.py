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

from core.analysis.coadaptation import measure
from core.analysis.knockout import knocked_out
from core.analysis.calibration import point_probe
from core.analysis.mc import MCMapCache
from core.analysis.thinned import freeze
from core.engine.config import RunConfig
from core.engine.datasets import EXTENT, embed, make_split
from core.engine.plain import bound_series, thin
from core.engine.runtime import configure
from core.engine.trainer import MaskRecorder, Trainer
from core.live.runner import Gate, LockstepRunner, check_count, check_speed

GRID_SIZE = 60
"""Decision maps are P(class 1) on a GRID_SIZE x GRID_SIZE grid over [-EXTENT, EXTENT]^2."""
MAX_DIAGRAM_UNITS = 12
"""By default the network diagram draws at most this many units per layer."""
COMMANDS = ("play", "pause", "step", "set_p", "set_lr", "set_weight_decay", "set_max_epochs", "set_speed", "knockout",
            "set_coadaptation_layer", "set_mc", "stop")
MAX_MC_PASSES = 200
"""Most stochastic passes behind a Monte-Carlo map (``set_mc``)."""
MAX_MC_EXTENT = 10.0
"""Most half-width ``mc_extent`` may give the MC maps (the plane sets lie within about 2 of 0)."""
MC_INTERVAL = 0.3
"""Seconds between two Monte-Carlo maps of a playing run (a map of T = 50 passes costs tens of ms)."""
STATS_INTERVAL = 0.5
"""Seconds between two co-adaptation measurements of a run (each costs 5-10 ms per run, far
too much to take at every 3-step epoch; see bench/bench_coadaptation.py)."""
STATS_POINTS = 1_000
"""Measurements kept whole per run (about 8 minutes of play); older ones are thinned, so a run
left playing through a class keeps at most twice as many."""

_GRID_AXIS = np.linspace(-EXTENT, EXTENT, GRID_SIZE, dtype=np.float32)
_GRID_POINTS = np.stack(np.meshgrid(_GRID_AXIS, _GRID_AXIS), -1).reshape(-1, 2)


class LiveRunner(LockstepRunner):
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
        mc_passes: int | None = None,
        probe: tuple[float, float] = (0.0, 0.0),
        mc_extent: float | None = None,
        gate: Gate | None = None,
        unwatched_pause: float | None = None,
    ):
        """``coadaptation_layer`` (optional): measure that hidden layer's co-adaptation
        statistics (knock-out damage, correlation, sparsity) about every ``STATS_INTERVAL``
        seconds and publish them with each run's snapshot. ``diagram_units``: how many units
        per layer the snapshot carries for the network diagram (masks and weights).
        ``publish_weights``: each run's snapshot also carries ``frozen``, a copy of the whole
        network's weights taken between two steps (``core.analysis.thinned.freeze``), for Monte-Carlo maps
        computed outside this thread; ``frozen_step`` says at which step it was taken.
        ``mc_passes`` (optional): run A's snapshot also carries ``mc``, its Monte-Carlo dropout map over
        the grid (mean, entropy and mutual information of ``mc_passes`` passes) and the passes at the
        ``probe`` point, computed in this thread about every ``MC_INTERVAL`` s; ``set_mc`` changes both.
        ``mc_extent`` (optional, default EXTENT): the MC maps cover [-mc_extent, mc_extent]^2 on a
        GRID_SIZE^2 grid (the snapshot's ``mc_axis``) and the probe may lie anywhere in it; the decision
        maps stay on [-EXTENT, EXTENT]^2.
        ``gate``, ``unwatched_pause``: the server's cap on runs training at once, and when a run
        nobody watches pauses itself (see ``core.live.runner.ThreadedRunner``)."""
        if cfg_b is not None and (cfg_b.data != cfg_a.data or not cfg_b.model.same_architecture(cfg_a.model)):
            raise ValueError("run B must share run A's data and architecture (it starts from the same weights)")
        super().__init__(gate, unwatched_pause)
        configure()
        split = make_split(cfg_a.data)
        self._trainers = [Trainer(cfg_a, split, callbacks=(MaskRecorder(),))]
        if cfg_b is not None:
            self._trainers.append(Trainer(cfg_b, split, callbacks=(MaskRecorder(),)))
        self._epochs_per_second = check_speed(epochs_per_second)
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
        self._mc_passes: int | None = None
        self._probe = (0.0, 0.0)
        self._mc_extent = EXTENT if mc_extent is None else float(mc_extent)
        if not 0 < self._mc_extent <= MAX_MC_EXTENT:  # refuses NaN too
            raise ValueError(f"mc_extent must be in (0, {MAX_MC_EXTENT:g}], got {mc_extent!r}")
        self._mc_axis = _GRID_AXIS if mc_extent is None else \
            np.linspace(-self._mc_extent, self._mc_extent, GRID_SIZE, dtype=np.float32)
        self._mc_points = np.stack(np.meshgrid(self._mc_axis, self._mc_axis), -1).reshape(-1, 2)
        self._mc_maps = MCMapCache()
        self._mc: dict[str, Any] | None = None
        self._mc_key: tuple | None = None
        self._mc_at = -math.inf
        self._set_mc(mc_passes, probe)
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
        steps = self._lifecycle(command, args)
        if steps is not None:
            return steps
        if command == "knockout":
            self._set_knockout(args.get("layer"), args.get("units"))
            self._publish()
            return 0
        if command == "set_mc":
            self._set_mc(args.get("passes", self._mc_passes), args.get("probe", self._probe))
            self._publish()
            return 0
        if command == "set_coadaptation_layer":
            self._set_stats_layer(args.get("layer"))
            self._publish()
            return 0
        run = args.get("run")
        try:
            targets = self._trainers if run is None else \
                [self._trainers[check_count("run", run, 0, len(self._trainers) - 1)]]
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
        except (ValueError, ArithmeticError, IndexError, KeyError) as exc:  # int(inf): OverflowError
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

    def _set_mc(self, passes: Any, probe: Any) -> None:
        """Monte-Carlo maps of ``passes`` passes (None: none) and a probe at ``probe``, or a message why not."""
        if passes is not None:
            passes = check_count("passes", passes, 1, MAX_MC_PASSES)
        x, y = (float(v) for v in probe)
        ext = self._mc_extent
        if not (-ext <= x <= ext and -ext <= y <= ext):  # refuses NaN too
            raise ValueError(f"probe must lie in [-{ext:g}, {ext:g}] on both axes, got ({x!r}, {y!r})")
        self._mc_passes, self._probe = passes, (x, y)

    def _monte_carlo(self, trainer: Trainer) -> dict[str, Any] | None:
        """Run A's MC map and probe, again when the weights, T or the probe changed (while playing, at
        most every MC_INTERVAL s)."""
        if self._mc_passes is None or trainer.diverged is not None:
            return self._mc if self._mc_passes is not None else None
        key = (trainer.step_count, trainer.cfg.model.p_input, trainer.cfg.model.p_hidden, self._mc_passes, self._probe)
        now = time.monotonic()
        asked_again = self._mc_key is None or key[3:] != self._mc_key[3:]  # another T or probe: at once
        if key == self._mc_key or (not asked_again and self._state == "playing" and now - self._mc_at < MC_INTERVAL):
            return self._mc
        frozen = self._frozen[0][1] if self._frozen[0] is not None and self._frozen[0][0] == key[:3] \
            else freeze(trainer.model)
        T = self._mc_passes
        inputs = trainer.split.num_inputs  # nuisance inputs, if any, at 0 on the map and at the probe
        pred = self._mc_maps.predict(frozen, embed(self._mc_points, inputs), T, version=frozen.fingerprint)
        point = point_probe(frozen, embed(np.asarray([self._probe], dtype=np.float32), inputs)[0], T)
        self._mc_key, self._mc_at = key, now
        self._mc = {
            "T": T, "step": trainer.step_count,
            "mean": pred.mean[:, 1], "entropy": pred.entropy, "mutual_info": pred.mutual_info,
            "probe": {"x": self._probe, "probs": point.probs[:, 1], "deterministic": float(point.deterministic[1]),
                      "mean": float(point.mean[1]), "std": float(point.std[1]), "entropy": point.entropy,
                      "mutual_info": point.mutual_info},
        }
        return self._mc

    def _set_knockout(self, layer: int | None, units: list[int] | None) -> None:
        """Switch units of a hidden layer off in both runs' maps and validation numbers (not in training)."""
        if layer is None or not units:
            self._knockout = None
        else:
            try:
                model = self._trainers[0].model
                with knocked_out(model, int(layer), [int(u) for u in units]):
                    pass  # validates the layer and the units
            except (ValueError, TypeError, ArithmeticError) as exc:  # int(inf): OverflowError
                self._message = f"ignored knockout: {exc}"
                return
            self._knockout = (int(layer), tuple(int(u) for u in units))
        self._grid_step = [-1] * len(self._trainers)  # redraw the maps with the change

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
                "mc_passes": self._mc_passes,
                "probe": self._probe,
                "grid_axis": _GRID_AXIS,
                "mc_axis": self._mc_axis,
                "data": {k: getattr(self._trainers[0].split, k) for k in ("X_train", "y_train", "X_val", "y_val")},
                "runs": runs,
            }
            self._changed.notify_all()

    def _run_snapshot(self, index: int, trainer: Trainer) -> dict[str, Any]:
        if self._grid_step[index] != trainer.step_count and trainer.diverged is None:
            with self._knocked_out(trainer):
                points = embed(_GRID_POINTS, trainer.split.num_inputs)  # nuisance inputs at 0, their mean
                self._grids[index] = trainer.predict_proba(points).reshape(GRID_SIZE, GRID_SIZE)
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
        if index == 0 and self._mc_passes is not None:
            extra["mc"] = self._monte_carlo(trainer)
        if self._knockout is not None and trainer.diverged is None:
            with self._knocked_out(trainer):
                knocked = trainer.evaluate()
            extra["knockout"] = {"layer": self._knockout[0], "units": list(self._knockout[1]),
                                 "val_loss": knocked["val_loss"], "val_acc": knocked["val_acc"]}
        masks = next(cb for cb in trainer.callbacks if isinstance(cb, MaskRecorder)).to_plain()
        return {
            "config": trainer.cfg,
            "step": trainer.step_count,
            "epoch": trainer.epoch_float,
            "history": {k: thin(v) for k, v in trainer.history.series.items()},
            "events": list(trainer.history.events),
            "events_hidden": trainer.history.events.hidden,
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
            bound_series(series, STATS_POINTS)  # a long class measures for hours: thin the oldest
            self._stats[index] = {
                "lead": lead,
                "series": {k: thin(v) for k, v in series.items()},
                "loss_increase": snap.knockout.loss_increase, "acc_drop": snap.knockout.acc_drop,
                "correlation": snap.correlation.ordered, "order": snap.correlation.order,
                "activation_counts": snap.sparsity.hist_counts, "activation_edges": snap.sparsity.hist_edges,
                "unit_mean": snap.sparsity.unit_mean,
            }
            self._stats_step[index] = trainer.step_count
            self._stats_at[index] = now
        return self._stats[index]
