"""Lesson 6's live runner (kind ``cnn``): one thread that owns one to three CNN trainers, A, B and C.

The runs share the seed, the data, the initial weights and the minibatch order; they differ only in
what their ``CNNConfig`` sets differently: the dropout kind of each conv layer and its drop
probability ``p`` (by default A drops single elements, B whole channels, C nothing). They are stepped
in lockstep: one step of A, then one of B, then one of C.

As in ``core.live.pair``: commands go in as ``(name, kwargs)`` with plain values, snapshots come out
as dicts of plain values and small numpy arrays, and the thread never touches Streamlit. A command
the runner cannot apply (an unknown name, a value out of range) becomes a message in the next
snapshot, never an exception in the caller or a dead thread.

Each snapshot also carries the *views* of one validation digit (``set_digit`` chooses it): each conv
layer's feature maps before dropout and the keep-mask a stochastic pass draws for them, per run.
The pass draws its masks from a generator seeded by the run's seed and the step, so while the
networks train the masks change with every step shown; the views are computed in this thread at most
every ``VIEW_INTERVAL`` s while playing, and at once when paused.
"""
from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.engine.config import CNNConfig, RunConfig
from core.engine.datasets import make_split
from core.engine.dropout import eval_mode, train_mode
from core.engine.plain import thin
from core.engine.runtime import configure
from core.engine.trainer import Trainer
from core.live.runner import Gate, LockstepRunner, check_count, check_speed

COMMANDS = ("play", "pause", "step", "set_p", "set_lr", "set_max_epochs", "set_speed", "set_digit", "stop")
RUN_NAMES = "ABC"
MAX_RUNS = len(RUN_NAMES)
VIEW_INTERVAL = 0.15
"""Seconds between two views (maps and masks) of a playing run: a person sees a few per second."""
MAX_VIEW_CHANNELS = 16
"""The views carry at most this many feature maps per layer."""


class LiveCNN(LockstepRunner):
    """Steps one to three CNN trainers (A, B, C) in a background thread, driven by commands.

    States: ``ready`` (nothing trained yet), ``playing``, ``queued`` (waiting for a place to train),
    ``paused``, ``finished`` (max epochs; ``play`` goes on for as many again), ``diverged``, ``error``,
    ``stopped``. ``epochs_per_second`` paces playing (None: as fast as the CPU allows).

    Commands: ``play``, ``pause``, ``step`` (``n`` steps, default 1), ``set_p`` (``p``: one drop
    probability for every conv layer, or ``p_hidden``: one per layer; ``p_input`` optional; ``run``:
    0-2, or None for every run), ``set_lr`` (``lr``, ``run``), ``set_max_epochs`` (``max_epochs``),
    ``set_speed`` (``epochs_per_second``), ``set_digit`` (``digit``: an index into the validation
    set), ``stop``.
    """

    def __init__(self, configs: list[RunConfig], *, digit: int = 0, epochs_per_second: float | None = None,
                 publish_interval: float = 0.1, view_interval: float = VIEW_INTERVAL, gate: Gate | None = None,
                 unwatched_pause: float | None = None):
        configs = list(configs)
        if not 1 <= len(configs) <= MAX_RUNS:
            raise ValueError(f"a CNN lesson trains 1 to {MAX_RUNS} runs, got {len(configs)}")
        lead = configs[0]
        for cfg in configs:
            if not isinstance(cfg.model, CNNConfig):
                raise ValueError("every run of the cnn runner must be a CNN (a CNNConfig model)")
            if cfg.data != lead.data or not cfg.model.same_architecture(lead.model) or cfg.train != lead.train:
                raise ValueError("runs B and C must share run A's data, architecture and training settings "
                                 "(they start from the same weights)")
        super().__init__(gate, unwatched_pause)
        configure()
        split = make_split(lead.data)
        self._trainers = [Trainer(cfg, split) for cfg in configs]
        self._epochs_per_second = check_speed(epochs_per_second)
        self._publish_interval = publish_interval
        self._view_interval = float(view_interval)
        self._digit = check_count("digit", digit, 0, self._n_val - 1)
        self._views: list[list[dict[str, Any]]] | None = None
        self._probs: list[np.ndarray | None] = [None] * len(self._trainers)
        self._view_key: tuple | None = None
        self._view_step = -1
        self._view_at = -math.inf
        self._publish()
        self._start()

    @property
    def _n_val(self) -> int:
        return int(self._trainers[0].X_val.shape[0])

    # -- the thread ----------------------------------------------------------------------------
    def _apply(self, command: str, args: dict[str, Any]) -> int:
        """Apply one command; return the number of single steps it asks for."""
        if command not in COMMANDS:
            raise ValueError(f"unknown command {command!r}; expected one of {', '.join(COMMANDS)}")
        steps = self._lifecycle(command, args)
        if steps is not None:
            return steps
        if command == "set_digit":
            self._digit = check_count("digit", args["digit"], 0, self._n_val - 1)
            return 0
        if command == "set_max_epochs":
            epochs = check_count("max_epochs", args["max_epochs"], 1, 100_000)
            for trainer in self._trainers:
                trainer.set_max_epochs(epochs)
            if self._state == "finished" and not self._trainers[0].finished:
                self._state, self._message = "playing", None  # more epochs after the end: carry on
            return 0
        run = args.get("run")
        targets = self._trainers if run is None else \
            [self._trainers[check_count("run", run, 0, len(self._trainers) - 1)]]
        if command == "set_p":
            targets = [(t, _p_hidden(t, args)) for t in targets]  # every value checked before any applies
            p_input = args.get("p_input")
            for trainer, p_hidden in targets:
                trainer.set_p(None if p_input is None else float(p_input), p_hidden)
        elif command == "set_lr":
            lr = float(args["lr"])
            for trainer in targets:
                trainer.set_lr(lr)
        return 0

    def _continue_finished(self) -> bool:
        epochs = self._trainers[0].epoch + self._trainers[0].cfg.train.max_epochs  # play goes on for as long again
        for trainer in self._trainers:
            trainer.set_max_epochs(epochs)
        return True

    FINISHED_NOTE = "; play goes on"

    def _run_label(self, index: int) -> str:
        return f"Run {RUN_NAMES[index]} ({_kinds_text(self._trainers[index].cfg.model)})"

    # -- the views ---------------------------------------------------------------------------------
    def _current_views(self) -> list[list[dict[str, Any]]]:
        """Each run's maps and masks for the chosen digit, again when the step, the digit or p changed
        (while playing, at most every ``view_interval`` s)."""
        lead = self._trainers[0]
        key = (lead.step_count, self._digit, tuple(t.cfg.model.p_hidden for t in self._trainers))
        now = time.monotonic()
        due = self._state != "playing" or now - self._view_at >= self._view_interval or \
            self._view_key is None or key[1:] != self._view_key[1:]
        if self._views is None or (key != self._view_key and due):
            self._views = [self._trace(i, t) for i, t in enumerate(self._trainers)]
            self._view_key, self._view_step, self._view_at = key, lead.step_count, now
        return self._views

    def _trace(self, index: int, trainer: Trainer) -> list[dict[str, Any]]:
        x = trainer.X_val[self._digit : self._digit + 1]
        seed = (trainer.cfg.data.seed * 1_000_003 + trainer.step_count * 7 + index) % 2**63
        generator = torch.Generator(device=trainer.device).manual_seed(seed)
        if trainer.diverged is not None:  # its weights are not numbers any more: keep the last view
            return self._views[index] if self._views is not None else []
        traces = trainer.model.trace(x, generator)
        self._probs[index] = _eval_probs(trainer, x)
        layers = []
        for trace in traces:
            maps = trace.maps[0, :MAX_VIEW_CHANNELS].detach().cpu().numpy().astype(np.float32)
            mask = None if trace.mask is None else trace.mask[0, :MAX_VIEW_CHANNELS].detach().cpu().numpy().astype(bool)
            layers.append({"maps": maps, "mask": mask,
                           "dropped": 0.0 if mask is None else float(1.0 - mask.mean())})
        return layers

    def _image(self) -> np.ndarray:
        """The chosen validation digit as the network sees it: 8x8, or upsampled to ``image_size``."""
        lead = self._trainers[0]
        x = lead.X_val[self._digit].reshape(1, 1, 8, 8).float()
        size = lead.cfg.model.image_size
        if size != 8:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return x[0, 0].cpu().numpy().astype(np.float32)

    # -- snapshots -----------------------------------------------------------------------------
    def _publish(self) -> None:
        views = self._current_views()
        runs = [self._run_snapshot(i, t, views[i]) for i, t in enumerate(self._trainers)]
        lead = self._trainers[0]
        with self._changed:
            self._version += 1
            self._snapshot = {
                "version": self._version,
                "state": self._state,
                "message": self._message,
                "epochs_per_second": self._epochs_per_second,
                "digit": self._digit,
                "label": int(lead.y_val[self._digit]),
                "n_val": self._n_val,
                "image": self._image(),
                "views_step": self._view_step,
                "runs": runs,
            }
            self._changed.notify_all()

    def _run_snapshot(self, index: int, trainer: Trainer, layers: list[dict[str, Any]]) -> dict[str, Any]:
        series = trainer.history.series
        gap = series["val_loss"][-1] - series["train_loss"][-1] if series["epoch"] else None
        return {
            "name": RUN_NAMES[index],
            "config": trainer.cfg,
            "step": trainer.step_count,
            "epoch": trainer.epoch_float,
            "history": {k: thin(v) for k, v in series.items()},
            "events": list(trainer.history.events),
            "events_hidden": trainer.history.events.hidden,
            "gap": gap if gap is None or math.isfinite(gap) else None,
            "layers": layers,
            "probs": self._probs[index],
        }


def _p_hidden(trainer: Trainer, args: dict[str, Any]) -> tuple[float, ...] | None:
    """The drop probabilities per conv layer a ``set_p`` asks for (``p`` for every layer, or ``p_hidden``)."""
    count = len(trainer.cfg.model.channels)
    if args.get("p_hidden") is not None:
        values = tuple(float(p) for p in args["p_hidden"])
        if len(values) != count:
            raise ValueError(f"p_hidden needs one drop probability per conv layer ({count}), got {len(values)}")
    elif args.get("p") is not None:
        values = (float(args["p"]),) * count
    else:
        return None
    trainer.cfg.model.with_p(p_hidden=values)  # validates: each in [0, 1)
    return values


def _eval_probs(trainer: Trainer, x: torch.Tensor) -> np.ndarray:
    """The class probabilities of ``x`` with dropout off, the model left training."""
    eval_mode(trainer.model)
    try:
        with torch.no_grad():
            return torch.softmax(trainer.model(x), 1)[0].cpu().numpy().astype(np.float32)
    finally:
        train_mode(trainer.model)


def _kinds_text(model: CNNConfig) -> str:
    kinds = set(model.kinds)
    return next(iter(kinds)) if len(kinds) == 1 else "/".join(model.kinds)
