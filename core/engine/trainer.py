"""A step-wise trainer: ``step()`` runs one optimiser step and returns plain numbers.

It never draws, prints or sleeps. Observers are small callbacks that keep plain data
(``HistoryRecorder`` for the curves, ``MaskRecorder`` for the network diagram). The
learning rate, weight decay and dropout rates can change between two steps; the
change is used from the next step on, and recorded as an event for the curves.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any, Callable, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from core.engine.config import RunConfig
from core.engine.datasets import Split, make_split
from core.engine.plain import EventLog, bound_series
from core.engine.dropout import eval_mode, train_mode
from core.engine.factory import build_model
from core.engine.models import MLP, pick_device
from core.engine.variants import concrete_regularizer

DIVERGENCE_LOSS = 100.0
"""A minibatch loss above this (a wrong class predicted with odds of e^100) counts as diverged."""


def _sgd(params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)


def _momentum(params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)


def _adam(params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    # fused=True runs the whole update in one kernel per dtype/device: far fewer small ops.
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "sgd": _sgd,
    "sgd+momentum": _momentum,
    "adam": _adam,
}


class Callback(Protocol):
    def on_step(self, trainer: Trainer, loss: float) -> None: ...

    def on_epoch(self, trainer: Trainer, metrics: dict[str, float]) -> None: ...


class HistoryRecorder:
    """Per-epoch metrics as lists of floats, plus the events (p or lr changed) to mark on the curves.

    Both are bounded for runs of any length: the series keep their latest ``MAX_RECORDED_POINTS``
    epochs whole and thin the older ones (``core.engine.plain.bound_series``), the events keep the
    latest ``MAX_EVENTS`` and count the rest (``events.hidden``)."""

    KEYS = ("epoch", "step", "train_loss", "val_loss", "train_acc", "val_acc", "batch_loss")

    def __init__(self) -> None:
        self.series: dict[str, list[float]] = {k: [] for k in self.KEYS}
        self.events = EventLog()
        self._loss_sum, self._loss_count = 0.0, 0  # this epoch's batch losses, as a sum: O(1) however long

    def on_step(self, trainer: Trainer, loss: float) -> None:
        self._loss_sum += loss
        self._loss_count += 1

    def on_epoch(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        batch_loss = self._loss_sum / self._loss_count if self._loss_count else math.nan
        self._loss_sum, self._loss_count = 0.0, 0
        for key in self.KEYS:
            self.series[key].append(batch_loss if key == "batch_loss" else metrics[key])
        bound_series(self.series)

    def on_event(self, trainer: Trainer, event: dict[str, Any]) -> None:
        self.events.append(event)


class MaskRecorder:
    """The keep-masks of the last step, for one example of the batch (row 0), per dropout layer."""

    def __init__(self) -> None:
        self._masks: list[torch.Tensor | None] = []

    def on_step(self, trainer: Trainer, loss: float) -> None:
        # References only: each forward pass makes new mask tensors, so these stay valid and cost nothing.
        self._masks = [m.last_mask if m.last_mask is None or m.per_example else m.last_mask[None]
                       for m in trainer.model.dropouts]

    def on_epoch(self, trainer: Trainer, metrics: dict[str, float]) -> None:
        pass

    def to_plain(self) -> list[list[bool]]:
        """Input layer first, then each hidden layer; True = unit kept ([] = nothing dropped). For a dropout
        variant: Gaussian's and concrete's are multipliers (floats), DropConnect's a weight mask [out][in]."""
        return [[] if m is None else m[0].cpu().tolist() for m in self._masks]


class Trainer:
    """Trains one model (the MLP or, for a ``CNNConfig``, the CNN) on one split. Equal configs give
    equal runs on the same device."""

    def __init__(
        self, cfg: RunConfig, split: Split | None = None, callbacks: tuple[Any, ...] = (), *, evaluate: bool = True
    ):
        """``evaluate=False`` skips the end-of-epoch evaluation (and so the history): for sweeps
        that only need final numbers, and for timing bare training steps."""
        self.cfg = cfg
        self._evaluate_each_epoch = evaluate
        self.device = pick_device(cfg.train.device)
        self.split = split if split is not None else make_split(cfg.data)
        as_tensor = lambda a: torch.as_tensor(a, device=self.device)  # noqa: E731
        self.X, self.y = as_tensor(self.split.X_train), as_tensor(self.split.y_train)
        self.X_val, self.y_val = as_tensor(self.split.X_val), as_tensor(self.split.y_val)
        self._X_all = torch.cat([self.X, self.X_val])  # one forward pass evaluates both sets
        self.model: MLP = build_model(  # or a SmallCNN: the same interface
            cfg.model, seed=cfg.data.seed, device=self.device,
            num_inputs=self.split.num_inputs, num_classes=self.split.num_classes,
        )
        self.mask_generator = torch.Generator(device=self.device).manual_seed(cfg.data.seed + 1)
        self.model.set_generator(self.mask_generator)
        self.shuffle_generator = torch.Generator().manual_seed(cfg.data.seed + 2)
        self.optimizer = OPTIMIZERS[cfg.train.optimizer](
            self.model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay
        )
        self.history = HistoryRecorder()
        self.callbacks: list[Any] = [self.history, *callbacks]
        self.step_count = 0
        self.epoch = 0
        self._order: torch.Tensor | None = None
        self._pos = 0
        self.diverged: str | None = None
        train_mode(self.model)

    # -- progress ---------------------------------------------------------------------------
    @property
    def n_train(self) -> int:
        return int(self.X.shape[0])

    @property
    def epoch_float(self) -> float:
        """Epochs done, counting the part of the current epoch already seen."""
        return self.epoch + self._pos / self.n_train

    @property
    def finished(self) -> bool:
        return self.epoch >= self.cfg.train.max_epochs

    # -- training ---------------------------------------------------------------------------
    def step(self) -> dict[str, Any]:
        """One optimiser step on the next minibatch; at the end of an epoch, evaluate.

        Returns ``{"step", "epoch", "loss", "metrics"}``; ``metrics`` is None except at an
        epoch's end. A non-finite or exploding loss sets ``diverged`` (and is returned).
        """
        n = self.n_train
        if self._pos == 0:
            self._order = torch.randperm(n, generator=self.shuffle_generator).to(self.device)
        batch = self._order[self._pos : self._pos + self.cfg.train.batch_size]
        logits = self.model(self.X[batch])
        loss = F.cross_entropy(logits, self.y[batch])
        penalty = concrete_regularizer(self.model, n)  # concrete dropout's: it learns p (the loss shown is the data's)
        self.optimizer.zero_grad(set_to_none=True)
        (loss if penalty is None else loss + penalty).backward()
        self.optimizer.step()
        if self.cfg.train.max_norm > 0:
            self._apply_max_norm(self.cfg.train.max_norm)
        self.step_count += 1
        self._pos += int(batch.shape[0])
        loss_value = loss.item()
        for cb in self.callbacks:
            cb.on_step(self, loss_value)
        metrics = None
        if self._pos >= n:
            self._pos = 0
            self.epoch += 1
            if self._evaluate_each_epoch:
                metrics = self.evaluate()
                for cb in self.callbacks:
                    cb.on_epoch(self, metrics)
        if not math.isfinite(loss_value) or loss_value > DIVERGENCE_LOSS:
            self.diverged = (
                f"the training loss became {loss_value:.3g} at step {self.step_count}: the run diverged. "
                "Lower the learning rate, then reset."
            )
        elif metrics is not None and not all(math.isfinite(v) for v in metrics.values()):
            self.diverged = f"the evaluation at epoch {self.epoch} is not finite: the run diverged."
        return {"step": self.step_count, "epoch": self.epoch, "loss": loss_value, "metrics": metrics}

    @torch.no_grad()
    def _apply_max_norm(self, c: float) -> None:
        for linear in self.model.linears:
            linear.weight.copy_(torch.renorm(linear.weight, 2, 0, c))

    @torch.inference_mode()
    def evaluate(self) -> dict[str, float]:
        """Loss and accuracy on the whole training and validation sets, with dropout off."""
        eval_mode(self.model)
        logits = self.model(self._X_all)
        train_mode(self.model)
        n = self.n_train
        numbers = torch.stack([
            F.cross_entropy(logits[:n], self.y), F.cross_entropy(logits[n:], self.y_val),
            (logits[:n].argmax(1) == self.y).float().mean(), (logits[n:].argmax(1) == self.y_val).float().mean(),
        ]).tolist()  # one device-to-host copy
        keys = ("train_loss", "val_loss", "train_acc", "val_acc")
        return {"epoch": float(self.epoch), "step": float(self.step_count), **dict(zip(keys, numbers))}

    @torch.no_grad()
    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(class 1) for each row of X, with dropout off."""
        eval_mode(self.model)
        probs = torch.softmax(self.model(torch.as_tensor(X, device=self.device)), dim=1)[:, 1]
        train_mode(self.model)
        return probs.cpu().numpy()

    # -- changes between steps --------------------------------------------------------------
    def set_p(self, p_input: float | None = None, p_hidden: tuple[float, ...] | None = None) -> None:
        old = self.cfg.model
        new = old.with_p(p_input, p_hidden)  # validates
        if new == old:
            return
        self.model.set_p(new.p_input, new.p_hidden)
        self.cfg = replace(self.cfg, model=new)
        text = _describe_p_change(old.p_input, new.p_input, old.p_hidden, new.p_hidden)
        self._event("p", text)

    def set_lr(self, lr: float) -> None:
        self._set_train_value("lr", lr, "lr")

    def set_weight_decay(self, weight_decay: float) -> None:
        self._set_train_value("weight_decay", weight_decay, "weight decay")

    def set_max_epochs(self, max_epochs: int) -> None:
        self.cfg = replace(self.cfg, train=replace(self.cfg.train, max_epochs=max_epochs))

    def _set_train_value(self, name: str, value: float, label: str) -> None:
        old = getattr(self.cfg.train, name)
        if value == old:
            return
        self.cfg = replace(self.cfg, train=replace(self.cfg.train, **{name: value}))  # validates
        for group in self.optimizer.param_groups:
            group[name] = value
        self._event(name, f"{label} {old:g} → {value:g}")

    def _event(self, kind: str, text: str) -> None:
        event = {"epoch": self.epoch_float, "step": self.step_count, "kind": kind, "text": text}
        for cb in self.callbacks:
            if hasattr(cb, "on_event"):
                cb.on_event(self, event)


def _describe_p_change(
    old_in: float, new_in: float, old_hidden: tuple[float, ...], new_hidden: tuple[float, ...]
) -> str:
    parts = []
    if old_in != new_in:
        parts.append(f"input p {old_in:g} → {new_in:g}")
    if old_hidden != new_hidden:
        fmt = lambda ps: "/".join(f"{p:g}" for p in ps)  # noqa: E731
        parts.append(f"p {fmt(old_hidden)} → {fmt(new_hidden)}")
    return ", ".join(parts)


def step_until(
    step: Callable[[], None],
    total: int,
    *,
    progress: Callable[[float], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    poll_seconds: float = 0.1,
    progress_seconds: float = 0.25,
    stop: Callable[[], bool] | None = None,
) -> tuple[int, bool]:
    """Call ``step`` up to ``total`` times, for a background run; return (steps done, cancelled).

    ``cancelled`` is polled before the first step and then about every ``poll_seconds``;
    ``progress`` gets the fraction done at most every ``progress_seconds`` (never 1.0: the
    caller reports that once its result is ready). ``stop`` (say, a diverged run) ends early
    without counting as cancelled."""
    stopped = cancelled is not None and cancelled()
    last_poll = last_report = time.perf_counter()
    done = 0
    while not stopped and done < total and not (stop is not None and stop()):
        step()
        done += 1
        now = time.perf_counter()
        if cancelled is not None and now - last_poll >= poll_seconds:
            last_poll = now
            stopped = cancelled()
        if progress is not None and now - last_report >= progress_seconds and done < total and not stopped:
            last_report = now
            progress(done / total)
    return done, stopped
