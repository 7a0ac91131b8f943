"""Lesson 9's live runner (kind ``leak``): one thread that owns two two-tower trainers, A and B.

Both train on the same rows of ``core.labs.production.task`` (the same leak), from the same initial weights, in
the same minibatch order; they differ only in the context layer's drop probability ``p`` and how it drops
(``mode``): by default A drops the context units with p = 0.8, B not at all. They are stepped in lockstep, one
step of A then one of B; their dropout masks come from torch's global generator, which the trainers seed, so a
run repeats exactly when it is the only one in its process.

Every ``measure_every`` steps each run is measured (``task.measure``): training, leaked held-out, serving,
legitimate-only and context-only accuracy, and the reliance on each tower. The snapshot carries these curves
(at most ``MAX_POINTS`` points each: older points are thinned, every other one dropped) and the latest values.

Commands (as ``core.live.pair``: plain values in, a refused command becomes a message in the next snapshot):
``play``, ``pause``, ``step`` (``n``), ``set_p`` (``p``, ``run``: 0 or 1, or None for both), ``set_mode``
(``mode``, ``run``), ``set_speed`` (``epochs_per_second``), ``stop``. A run finishes after its spec's
``steps``; play then goes on for as many again.
"""
from __future__ import annotations

from typing import Any

from core.engine.runtime import configure
from core.labs.production.task import METRICS, MODES, LeakTrainer, RunSpec, make_task
from core.live.runner import Gate, LockstepRunner, check_count, check_speed

COMMANDS = ("play", "pause", "step", "set_p", "set_mode", "set_speed", "stop")
RUN_NAMES = "AB"
MAX_POINTS = 300


class LiveLeak(LockstepRunner):
    def __init__(self, specs: list[RunSpec], *, epochs_per_second: float | None = None, measure_every: int = 10,
                 publish_interval: float = 0.1, gate: Gate | None = None, unwatched_pause: float | None = None):
        specs = list(specs)
        if not 1 <= len(specs) <= len(RUN_NAMES):
            raise ValueError(f"the leak lesson trains 1 or 2 runs, got {len(specs)}")
        lead = specs[0]
        for spec in specs:
            if not isinstance(spec, RunSpec):
                raise ValueError("every run of the leak runner is a RunSpec")
            if spec.but(p=lead.p, mode=lead.mode) != lead:
                raise ValueError("run B must share run A's task, model and training settings (all but p and mode)")
        super().__init__(gate, unwatched_pause)
        configure()
        task = make_task(lead)
        self._trainers = [LeakTrainer(spec, task) for spec in specs]
        self._epochs_per_second = check_speed(epochs_per_second)
        self._publish_interval = publish_interval
        self._measure_every = check_count("measure_every", measure_every, 1, 1000)
        self._max_steps = lead.steps
        self._curves: list[dict[str, list[float]]] = [{"step": [], **{m: [] for m in METRICS}} for _ in specs]
        self._measure()
        self._publish()
        self._start()

    # -- the thread ----------------------------------------------------------------------------
    def _apply(self, command: str, args: dict[str, Any]) -> int:
        if command not in COMMANDS:
            raise ValueError(f"unknown command {command!r}; expected one of {', '.join(COMMANDS)}")
        steps = self._lifecycle(command, args)
        if steps is not None:
            return steps
        run = args.get("run")
        targets = self._trainers if run is None else \
            [self._trainers[check_count("run", run, 0, len(self._trainers) - 1)]]
        if command == "set_p":
            p = args["p"]
            if isinstance(p, bool) or not isinstance(p, (int, float)):
                raise ValueError(f"p must be a number, got {p!r}")
            for trainer in targets:
                trainer.set_p(float(p))
        elif command == "set_mode":
            if args["mode"] not in MODES:
                raise ValueError(f"mode must be one of {', '.join(MODES)}, got {args['mode']!r}")
            for trainer in targets:
                trainer.model.mode = args["mode"]
                trainer.spec = trainer.spec.but(mode=args["mode"])
        return 0

    def _step_once(self) -> None:
        super()._step_once()
        if self._trainers[0].step_count % self._measure_every == 0:
            self._measure()

    def _steps_per_epoch(self) -> int:
        lead = self._trainers[0]
        return -(-lead.n_train // lead.spec.batch_size)

    def _continue_finished(self) -> bool:
        self._max_steps += self._trainers[0].spec.steps
        return True

    def _check_end(self) -> bool:
        for index, trainer in enumerate(self._trainers):
            if trainer.diverged:
                self._state, self._message = "diverged", f"Run {RUN_NAMES[index]}: {trainer.diverged}"
                return True
        if self._state == "error":
            return True
        if self._trainers[0].step_count >= self._max_steps:
            self._state, self._message = "finished", f"reached {self._max_steps} steps; play goes on."
            return True
        return False

    def _measure(self) -> None:
        for trainer, curves in zip(self._trainers, self._curves):
            curves["step"].append(trainer.step_count)
            for name, value in trainer.measure().items():
                curves[name].append(value)
            if len(curves["step"]) > MAX_POINTS:
                for name in curves:
                    curves[name] = curves[name][::2] if len(curves[name]) % 2 else [curves[name][0], *curves[name][2::2]]

    # -- snapshots -----------------------------------------------------------------------------
    def _publish(self) -> None:
        lead = self._trainers[0]
        runs = [{"name": RUN_NAMES[i], "p": t.spec.p, "mode": t.spec.mode, "loss": t.last_loss,
                 "curves": {k: list(v) for k, v in c.items()}, "last": {k: v[-1] for k, v in c.items()}}
                for i, (t, c) in enumerate(zip(self._trainers, self._curves))]
        with self._changed:
            self._version += 1
            self._snapshot = {"version": self._version, "state": self._state, "message": self._message,
                              "epochs_per_second": self._epochs_per_second, "step": lead.step_count,
                              "epoch": lead.step_count / self._steps_per_epoch(), "max_steps": self._max_steps,
                              "spec": lead.spec.to_json(), "runs": runs}
            self._changed.notify_all()
