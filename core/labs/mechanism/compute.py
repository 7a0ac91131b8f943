"""Lesson 1, the mechanism: one layer, one mask; why scale; train vs eval vs MC; the two bugs.

Every number here comes from the engine's own ``Dropout`` and trainer, so the lesson's text,
its quiz answers and its figures cannot disagree with what the Playground trains with.
Everything returned is plain data (numpy arrays, floats, dicts). The small trained networks are
trained once per process and kept; the page asks a worker for them with one ``DemoRequest``.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.analysis.answers import drop_from_keep, keep_from_drop  # noqa: F401 - the page's convention widget
from core.analysis.calibration import expected_calibration_error
from core.engine.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine.dropout import Dropout, eval_mode, mc_mode, train_mode
from core.engine.trainer import Trainer
from core.labs.mechanism.ensemble import EnsembleRequest, EnsembleResult, ensemble_view, ensemble_work

# -- one mask, drawn -------------------------------------------------------------------------------


def draw_mask(h: np.ndarray, p: float, seed: int) -> dict[str, np.ndarray]:
    """One mask over the units ``h``: the mask, and what each form outputs in training and at evaluation."""
    layer = Dropout(p, generator=torch.Generator().manual_seed(seed))
    x = torch.as_tensor(h, dtype=torch.float32)
    inverted = layer(x).numpy()
    kept = np.ones(len(h), bool) if layer.last_mask is None else layer.last_mask.numpy()
    return {
        "h": np.asarray(h, np.float32),
        "kept": kept,
        "inverted_train": inverted,
        "classic_train": np.where(kept, h, 0.0).astype(np.float32),
        "inverted_eval": np.asarray(h, np.float32),
        "classic_eval": (np.asarray(h) * (1 - p)).astype(np.float32),
        "scale": np.float32(1.0 / (1.0 - p)),
    }


def batch_masks(n_units: int, n_samples: int, p: float, seed: int) -> np.ndarray:
    """Keep-masks for a batch, as units x samples (True = kept): one independent mask per example."""
    layer = Dropout(p, generator=torch.Generator().manual_seed(seed))
    layer(torch.ones(n_samples, n_units))
    if layer.last_mask is None:
        return np.ones((n_units, n_samples), bool)
    return layer.last_mask.numpy().T.copy()


def running_mean(h: np.ndarray, p: float, n_masks: int, seed: int, *, classic: bool = False) -> dict[str, Any]:
    """Average the layer's mean dropped output over 1..n_masks masks.

    Inverted dropout's average converges to the evaluation output mean(h); the classic form's
    training output converges to (1 - p) mean(h), its own evaluation output. Each mask's value
    has standard deviation sd = sqrt(sum(h_i^2) p / (1 - p)) / n for inverted dropout (classic:
    sqrt(sum(h_i^2) p (1 - p)) / n), so the running mean of k masks has sd / sqrt(k).
    """
    x = torch.as_tensor(np.asarray(h, np.float32)).expand(n_masks, len(h))
    layer = Dropout(p, classic=classic, generator=torch.Generator().manual_seed(seed))
    per_mask = layer(x).mean(dim=1).double().numpy()
    counts = np.arange(1, n_masks + 1)
    h64 = np.asarray(h, np.float64)
    n = len(h64)
    keep = 1 - p
    if classic:
        target, sd = keep * h64.mean(), np.sqrt((h64**2).sum() * p * keep) / n
    else:
        target, sd = h64.mean(), np.sqrt((h64**2).sum() * p / keep) / n
    return {
        "counts": counts,
        "running_mean": np.cumsum(per_mask) / counts,
        "target": float(target),
        "band": 2 * sd / np.sqrt(counts),  # +-2 standard deviations of the mean of k masks
    }


# -- a small trained network for the mode switch and the bugs --------------------------------------

_DATA = DataConfig(dataset="moons", noise=0.3, n_train=300, n_val=400, seed=0)
_LOCK = threading.Lock()  # mode switches mutate a shared model: one computation at a time


_TRAINING = threading.Lock()  # sessions asking at once wait for one training, not one each


def trained(p: float = 0.5, *, classic: bool = False, batchnorm: bool = False, epochs: int = 60) -> Trainer:
    """A 2-32-32-2 MLP trained on moons with dropout p (deterministic for its arguments), trained once
    per process and kept (the 8 most recent settings)."""
    with _TRAINING:
        return _trained(p, classic, batchnorm, epochs)


@lru_cache(maxsize=8)
def _trained(p: float, classic: bool, batchnorm: bool, epochs: int) -> Trainer:
    cfg = RunConfig(
        _DATA,
        ModelConfig(num_hiddens=(32, 32), p_hidden=(p, p), classic=classic, batchnorm=batchnorm),
        TrainConfig(lr=0.01, batch_size=32, max_epochs=epochs, device="cpu"),
    )
    trainer = Trainer(cfg, evaluate=False)
    while not trainer.finished:
        trainer.step()
    return trainer


def hidden_activations(point: tuple[float, float], p: float = 0.5) -> np.ndarray:
    """Hidden layer 1 of the trained network (after its activation, before dropout) for one input point."""
    trainer = trained(p)
    linear, activation = trainer.model.hidden[0], trainer.model.hidden[1]
    with torch.inference_mode():  # no mode switch needed: a Linear and an activation, no dropout
        return activation(linear(torch.tensor([point], dtype=torch.float32)))[0].numpy().copy()


MODES = ("eval", "train", "mc")


def mode_spread(points: np.ndarray, mode: str, passes: int, seed: int = 0, p: float = 0.5) -> dict[str, Any]:
    """P(class 1) for each point over ``passes`` forward passes in one mode.

    Returns ``probs`` [passes, points] and ``bn_drift``: how far the passes moved BatchNorm's
    running mean (largest absolute change). The network has BatchNorm. ``eval``: dropout off,
    BatchNorm on its running statistics. ``train``: dropout on AND BatchNorm on the statistics
    of the batch in hand (and updating its running statistics). ``mc``: only dropout on. The
    running statistics are restored afterwards either way.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    trainer = trained(p, batchnorm=True)
    model = trainer.model
    X = torch.as_tensor(np.asarray(points, np.float32))
    with _LOCK, torch.no_grad():
        saved = {k: v.clone() for k, v in model.state_dict().items()}
        try:
            model.set_generator(torch.Generator().manual_seed(seed))
            {"eval": eval_mode, "train": train_mode, "mc": mc_mode}[mode](model)
            out = np.stack([torch.softmax(model(X), 1)[:, 1].numpy() for _ in range(passes)])
            drift = float((model.hidden[1].running_mean - saved["hidden.1.running_mean"]).abs().max())
        finally:  # the model is shared: put it back whatever happened
            model.load_state_dict(saved)  # train mode updated BatchNorm's running statistics
            model.set_generator(trainer.mask_generator)
            train_mode(model)
    return {"probs": out, "bn_drift": drift}


def _scores(logits: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    probs = torch.softmax(logits, 1)
    confidence, predicted = probs.max(1)
    return {
        "accuracy": float((predicted == y).float().mean()),
        "log_loss": float(F.cross_entropy(logits, y)),
        "confidence": float(confidence.mean()),
        "ece": expected_calibration_error(probs.numpy(), y.numpy()),
    }


def bug_left_on(p: float = 0.5, calls: int = 5, seed: int = 0) -> dict[str, Any]:
    """Bug (a): dropout left on at inference (no ``model.eval()``), against the correct evaluation."""
    trainer = trained(p)
    model, X, y = trainer.model, trainer.X_val, trainer.y_val
    with _LOCK, torch.no_grad():
        try:
            eval_mode(model)
            correct = _scores(model(X), y)
            train_mode(model)
            model.set_generator(torch.Generator().manual_seed(seed))
            runs = [model(X) for _ in range(calls)]
        finally:
            model.set_generator(trainer.mask_generator)
            train_mode(model)
    predictions = np.stack([r.argmax(1).numpy() for r in runs])
    buggy = [_scores(r, y) for r in runs]
    return {
        "correct": correct,
        "buggy": {k: float(np.mean([b[k] for b in buggy])) for k in correct},
        "buggy_per_call": [b["accuracy"] for b in buggy],
        "changed_between_calls": float((predictions != predictions[0]).any(0).mean()),
    }


def bug_scale_forgotten(p: float = 0.5) -> dict[str, Any]:
    """Bug (b): a network trained with unscaled masks (x * mask, no 1/(1-p)) and then evaluated with
    no x(1-p) either, against the same network evaluated correctly (classic dropout's x(1-p))."""
    trainer = trained(p, classic=True)
    model, X, y = trainer.model, trainer.X_val, trainer.y_val
    with _LOCK, torch.no_grad():
        try:
            eval_mode(model)
            correct = _scores(model(X), y)
            hidden_correct = model.hidden(X).abs().mean().item()
            for module in model.dropouts:
                module.classic = False  # the bug: evaluation applies no (1 - p) factor
            buggy = _scores(model(X), y)
            hidden_buggy = model.hidden(X).abs().mean().item()
        finally:
            for module in model.dropouts:
                module.classic = True
            train_mode(model)
    return {"correct": correct, "buggy": buggy, "activation_ratio": hidden_buggy / hidden_correct}


EXAMPLE_POINTS = {
    "1: deep orange (-0.9, 0.6)": (-0.9, 0.6),
    "2: deep blue (1.4, -0.6)": (1.4, -0.6),
    "3: boundary (0.0, 0.25)": (0.0, 0.25),
    "4: boundary (0.5, 0.0)": (0.5, 0.0),
    "5: boundary (1.0, 0.1)": (1.0, 0.1),
}


def example_points() -> np.ndarray:
    """Five fixed inputs for the mode switch: two deep inside the classes, three near the boundary."""
    return np.array(list(EXAMPLE_POINTS.values()), np.float32)



# -- what the page asks a worker for ---------------------------------------------------------------
MAX_PASSES = 200  # the mode switch's slider goes up to this
MAX_POINTS = 8


@dataclass(frozen=True)
class DemoRequest:
    """Lesson 1's question to a worker: hidden layer 1 of the trained network for each of ``points``,
    the mode switch over ``passes`` forward passes, and the two bugs."""

    points: tuple[tuple[float, float], ...]
    passes: int


@dataclass(frozen=True, eq=False)
class Demos:
    """The answer: ``hidden[i]`` for ``points[i]``; ``modes[mode]`` as ``mode_spread`` gives it;
    ``left_on`` and ``scale`` as ``bug_left_on`` and ``bug_scale_forgotten`` give them (p = 0.5)."""

    hidden: tuple[np.ndarray, ...]
    modes: dict[str, dict[str, Any]]
    left_on: dict[str, Any]
    scale: dict[str, Any]
    cancelled: bool = False


def check_request(request: DemoRequest) -> None:
    """Refuse, with a ValueError saying which, a value no control of the page could send."""
    passes = request.passes
    if isinstance(passes, bool) or not isinstance(passes, (int, np.integer)) or not 1 <= passes <= MAX_PASSES:
        raise ValueError(f"the passes must be a whole number from 1 to {MAX_PASSES}, got {passes!r}")
    points = request.points
    if not 1 <= len(points) <= MAX_POINTS or not all(
            len(point) == 2 and all(isinstance(v, (int, float)) and abs(v) <= 10 and math.isfinite(v) for v in point)
            for point in points):
        raise ValueError(f"the inputs must be 1 to {MAX_POINTS} points (x, y) with |x|, |y| <= 10")


def demos(request: DemoRequest | EnsembleRequest) -> Demos | EnsembleResult:
    """Everything lesson 1's page draws from its trained networks (the first call trains them). The
    lesson's one job kind ("mechanism") answers both of its questions: a ``DemoRequest`` here, an
    ``EnsembleRequest`` by ``core.labs.mechanism.ensemble.ensemble_view``."""
    if isinstance(request, EnsembleRequest):
        return ensemble_view(request)
    check_request(request)
    return Demos(
        hidden=tuple(hidden_activations(point) for point in request.points),
        modes={mode: mode_spread(example_points(), mode, int(request.passes)) for mode in MODES},
        left_on=bug_left_on(),
        scale=bug_scale_forgotten(),
    )


def demos_work(request: DemoRequest | EnsembleRequest) -> float:
    """Estimated multiply-adds: training the three networks (once per process), then the passes."""
    if isinstance(request, EnsembleRequest):
        return ensemble_work(request)
    check_request(request)
    weights = 2 * 32 + 32 * 32 + 32 * 2
    training = 3 * 60 * _DATA.n_train * 3 * weights  # three networks, 60 epochs, forward and backward
    return float(training + len(MODES) * int(request.passes) * len(EXAMPLE_POINTS) * weights)
