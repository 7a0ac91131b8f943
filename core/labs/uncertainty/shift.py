"""Walking a digit away from the data: MC dropout uncertainty along a shift or a rotation.

One small network (64 pixels -> ReLU hidden layers with dropout -> 10 classes) is trained on
scikit-learn's 8x8 digits by ``core.engine.trainer.Trainer`` (``train_digit_model``). A validation digit
is then moved step by step out of the distribution the network saw: shifted by 0, 1, 2, ...
pixels (``shift_path``, the vacated pixels filled with 0, i.e. blank paper) or rotated by
0 .. ``max_degrees`` degrees (``rotate_path``). At every frame ``uncertainty_along`` runs T
Monte-Carlo dropout passes (``core.analysis.mc.mc_predict``) and keeps

- the MC **predictive entropy** ``H[mean_t p_t]`` (total uncertainty),
- the **mutual information** ``H[mean] - E_t H[p_t]`` (how much the sampled networks disagree),
- the MC mean probabilities, the class they pick and its probability,
- the **deterministic** prediction (weight scaling, dropout off) and its confidence,

so that a page can put the point estimate's confidence next to the MC uncertainty.
``measure_paths`` does the same for every validation digit at once and averages per step.

Pixels are in the training data's scaling: scikit-learn's values 0..16 divided by 16, so in
[0, 1], as float32 (see ``core.engine.datasets``). Frame 0 of every path is the image itself.

The T passes share their masks over all the frames (``core.analysis.mc``: one thinned network per pass),
so the frames of a path are compared under the same T networks and the curves are smooth in
the step; the same seed gives the same networks for one path or for all of them.

Measured (tests/core/labs/uncertainty/test_shift.py: the default network, seeds 0-4, all 797 validation digits,
T = 100): entropy and MI jump as soon as a digit moves (one pixel: entropy 0.20 -> 0.70-0.79,
MI 0.10 -> 0.36-0.48) but they are no distance meter. They peak at 1-3 pixels or 30-45 degrees and
then fall back; a digit turned by 90 degrees is called "4" by every network, with confidence
0.9997 and LESS entropy and MI than an unmoved digit. All the while the weight-scaling
confidence stays at 0.84 or more on average, as accuracy falls to 3-20 % (2-4 pixels) or 10 %.

Everything returned is plain data (floats, read-only numpy arrays, frozen dataclasses; the
model as a ``core.analysis.thinned.FrozenMLP``). Nothing here draws, prints, sleeps or imports Streamlit.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from scipy import ndimage
from torch import nn

from core.analysis.mc import mc_predict
from core.analysis.thinned import FrozenMLP, freeze
from core.engine.digits import DigitNetSettings
from core.engine.plain import read_only
from core.engine.trainer import Trainer, step_until

IMAGE_SHAPE = (8, 8)
POLL_SECONDS = 0.1
"""Most seconds between two calls of ``cancelled``."""
PROGRESS_SECONDS = 0.25
"""Least seconds between two calls of ``progress`` (the last one, 1.0, comes whatever the clock says)."""
DIRECTIONS: dict[str, tuple[int, int]] = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0)}
"""Where the ink moves: (rows, columns) per pixel of shift; row 0 is the top of the image."""
PATH_KINDS = (*DIRECTIONS, "rotate")
"""What ``make_path`` and ``measure_paths`` accept: a shift direction, or a rotation."""
DEFAULT_T = 100
"""MC passes per frame unless told otherwise."""


# -- settings ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DigitSettings(DigitNetSettings):
    """The network whose digits walk away: two hidden layers. The defaults train in about 1 s on one
    CPU core (1,920 Adam steps) to about 97 % validation accuracy (96-98 % over seeds 0-9).
    """

    layers: int = 2


# -- training ----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class DigitModel:
    """A trained network (or what was trained of it before a cancel), frozen, with its validation digits.

    ``val_images`` [N, 8, 8] float32 in [0, 1] are the model's inputs, reshaped; ``val_labels`` [N].
    ``train_acc`` and ``val_acc`` are the deterministic (dropout off) accuracies at the end.
    ``diverged`` is the trainer's message when the loss blew up (training stopped there), else None.
    """

    settings: DigitSettings
    frozen: FrozenMLP
    val_images: np.ndarray
    val_labels: np.ndarray
    train_acc: float
    val_acc: float
    epochs_done: float
    cancelled: bool
    diverged: str | None
    seconds: float


def train_digit_model(
    settings: DigitSettings | None = None,
    progress: Callable[[float], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> DigitModel:
    """Train one network on the digits and freeze it.

    ``progress`` gets the fraction of steps done, at most every ``PROGRESS_SECONDS`` and 1.0 at
    the end. ``cancelled`` is polled before the first step and then about every ``POLL_SECONDS``;
    once it is true training stops and the network is frozen as it is (``cancelled`` is True,
    and no 1.0 is reported). Equal settings give equal models on the same device and number of
    torch threads. A diverging loss stops training there (``diverged`` says so).
    """
    settings = settings or DigitSettings()
    start = time.perf_counter()
    trainer = Trainer(settings.run_config(), evaluate=False)
    total = settings.total_steps
    _, stopped = step_until(trainer.step, total, progress=progress, cancelled=cancelled, poll_seconds=POLL_SECONDS,
                            progress_seconds=PROGRESS_SECONDS, stop=lambda: trainer.diverged is not None)
    metrics = trainer.evaluate()
    frozen = freeze(trainer.model)
    images = read_only(np.array(trainer.split.X_val, dtype=np.float32).reshape(-1, *IMAGE_SHAPE))
    labels = read_only(np.array(trainer.split.y_val, dtype=np.int64))
    if progress is not None and not stopped:
        progress(1.0)
    return DigitModel(settings, frozen, images, labels, float(metrics["train_acc"]), float(metrics["val_acc"]),
                      trainer.epoch_float, bool(stopped), trainer.diverged, time.perf_counter() - start)


# -- paths away from the data ------------------------------------------------------------------
def _image(image: Any) -> np.ndarray:
    """One digit as float32 [8, 8] (a flat [64] is reshaped), checked to be in the training scaling."""
    a = np.asarray(image, dtype=np.float32)
    if a.shape == (math.prod(IMAGE_SHAPE),):
        a = a.reshape(IMAGE_SHAPE)
    if a.shape != IMAGE_SHAPE:
        raise ValueError(f"image must be 8x8 (or 64 pixels), got shape {a.shape}")
    if not np.isfinite(a).all() or a.min() < 0.0 or a.max() > 1.0:
        raise ValueError("pixels must be in [0, 1], the digits' scaling (scikit-learn's 0..16 divided by 16)")
    return a


def _steps(steps: Any) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a whole number >= 1, got {steps!r}")
    return int(steps)


def _shifted(image: np.ndarray, rows: float, cols: float) -> np.ndarray:
    """``image`` with its ink moved by (rows, cols) pixels, blank (0) where nothing moved in.
    Whole pixels are moved exactly; fractions interpolate linearly between neighbours."""
    if float(rows).is_integer() and float(cols).is_integer():
        r, c = int(rows), int(cols)
        out = np.zeros_like(image)
        h, w = image.shape
        if abs(r) < h and abs(c) < w:
            out[max(r, 0):h + min(r, 0), max(c, 0):w + min(c, 0)] = image[max(-r, 0):h - max(r, 0),
                                                                          max(-c, 0):w - max(c, 0)]
        return out
    moved = ndimage.shift(image.astype(np.float64), (rows, cols), order=1, mode="grid-constant", cval=0.0)
    return moved.astype(np.float32)


def shift_path(image: Any, direction: str = "right", steps: int = 4, max_pixels: float | None = None) -> np.ndarray:
    """Frames [steps + 1, 8, 8]: ``image`` shifted towards ``direction`` by ``k * max_pixels / steps``
    pixels in frame k (``max_pixels`` defaults to ``steps``: one whole pixel per step), the pixels
    that come in from the edge blank (0). Frame 0 is the image itself; a shift of 8 pixels or more
    leaves a blank image. Fractional shifts interpolate linearly between neighbours, blank paper
    beyond the edge included (``scipy.ndimage.shift``, order 1, ``mode="grid-constant"``).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)}; got {direction!r}")
    image, steps = _image(image), _steps(steps)
    max_pixels = float(steps if max_pixels is None else max_pixels)
    if not math.isfinite(max_pixels) or max_pixels < 0:
        raise ValueError(f"max_pixels must be a number >= 0, got {max_pixels!r}")
    dr, dc = DIRECTIONS[direction]
    frames = [image.copy()]
    for k in range(1, steps + 1):
        amount = k * max_pixels / steps
        frames.append(_shifted(image, dr * amount, dc * amount))
    return read_only(np.stack(frames))


def rotate_path(image: Any, max_degrees: float = 90.0, steps: int = 6) -> np.ndarray:
    """Frames [steps + 1, 8, 8]: ``image`` rotated about its centre by ``k * max_degrees / steps``
    degrees in frame k, counter-clockwise as drawn with row 0 at the top (negative: clockwise).
    ``scipy.ndimage.rotate`` with ``reshape=False`` and linear interpolation (order 1) over an image
    surrounded by blank paper (``mode="grid-constant"``, 0): it keeps its 8x8 frame, corners that
    come in are blank, ink rotated out of the frame is lost. Frame 0 is the image itself; a
    quarter turn is exactly ``np.rot90(image)``."""
    image, steps = _image(image), _steps(steps)
    max_degrees = float(max_degrees)
    if not math.isfinite(max_degrees):
        raise ValueError(f"max_degrees must be a finite number, got {max_degrees!r}")
    frames = [image.copy()]
    source = image.astype(np.float64)
    for k in range(1, steps + 1):
        angle = k * max_degrees / steps
        if angle == 0.0:
            frames.append(image.copy())
            continue
        rotated = ndimage.rotate(source, angle, reshape=False, order=1, mode="grid-constant", cval=0.0)
        frames.append(np.clip(rotated, 0.0, 1.0).astype(np.float32))  # clip: interpolation rounding only
    return read_only(np.stack(frames))


def path_amounts(kind: str, steps: int, amount: float | None = None) -> np.ndarray:
    """The pixels (a shift) or degrees (``"rotate"``) of each frame of ``make_path``'s path."""
    steps = _steps(steps)
    amount = _default_amount(kind, steps, amount)
    return read_only(np.arange(steps + 1) * (amount / steps))


def _default_amount(kind: str, steps: int, amount: float | None) -> float:
    if kind not in PATH_KINDS:
        raise ValueError(f"kind must be one of {', '.join(PATH_KINDS)}; got {kind!r}")
    if amount is not None:
        return float(amount)
    return 90.0 if kind == "rotate" else float(steps)


def make_path(image: Any, kind: str = "right", steps: int = 4, amount: float | None = None) -> np.ndarray:
    """``shift_path(image, kind, steps, amount)`` for a direction, ``rotate_path(image, amount, steps)``
    for ``"rotate"``; ``amount`` defaults to ``steps`` pixels or 90 degrees."""
    amount = _default_amount(kind, _steps(steps), amount)
    if kind == "rotate":
        return rotate_path(image, amount, steps)
    return shift_path(image, kind, steps, amount)


# -- uncertainty along a path ------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PathUncertainty:
    """T MC dropout passes at each frame of one path (arrays read-only; K = steps + 1 frames, C classes).

    ``entropy``, ``expected_entropy`` and ``mutual_info`` [K] are ``core.analysis.mc``'s (natural log; at
    most ln 10 = 2.30). ``mean`` [K, C] are the MC mean probabilities, ``predicted`` [K] their
    argmax and ``predicted_prob`` [K] its mean probability. ``deterministic`` [K, C] is the
    weight-scaling prediction (dropout off), ``det_predicted`` and ``det_confidence`` [K] its argmax
    and largest probability.
    """

    images: np.ndarray  # [K, 8, 8]
    entropy: np.ndarray
    expected_entropy: np.ndarray
    mutual_info: np.ndarray
    mean: np.ndarray
    predicted: np.ndarray
    predicted_prob: np.ndarray
    deterministic: np.ndarray
    det_predicted: np.ndarray
    det_confidence: np.ndarray
    T: int
    seed: int

    @property
    def frames(self) -> int:
        return int(self.entropy.shape[0])


def _net(model: DigitModel | FrozenMLP | nn.Module) -> FrozenMLP:
    return model.frozen if isinstance(model, DigitModel) else freeze(model)


def _frames(images: Any) -> np.ndarray:
    a = np.array(images, dtype=np.float32)  # a copy: torch wants writable arrays, the result keeps it read-only
    if a.ndim == 2 and a.shape[1] == math.prod(IMAGE_SHAPE):
        a = a.reshape(-1, *IMAGE_SHAPE)
    if a.ndim != 3 or a.shape[1:] != IMAGE_SHAPE or a.shape[0] < 1:
        raise ValueError(f"images must be [K >= 1, 8, 8] (or [K, 64]), got shape {a.shape}")
    return a


def uncertainty_along(model: DigitModel | FrozenMLP | nn.Module, images: Any, T: int = DEFAULT_T, seed: int = 0
                      ) -> PathUncertainty:
    """T MC dropout passes (``core.analysis.mc.mc_predict``, masks from ``seed``) at each of ``images``
    [K, 8, 8], a path from ``shift_path``/``rotate_path``, in the training scaling. With p = 0
    everywhere every pass is the deterministic network and the mutual information is exactly 0."""
    frames = _frames(images)
    pred = mc_predict(_net(model), frames.reshape(len(frames), -1), T, seed=seed)
    predicted = pred.mean.argmax(1)
    det_predicted = pred.deterministic.argmax(1)
    rows = np.arange(len(frames))
    return PathUncertainty(
        images=read_only(frames.copy()), entropy=pred.entropy, expected_entropy=pred.expected_entropy,
        mutual_info=pred.mutual_info, mean=pred.mean, predicted=read_only(predicted),
        predicted_prob=read_only(pred.mean[rows, predicted]), deterministic=pred.deterministic,
        det_predicted=read_only(det_predicted), det_confidence=read_only(pred.deterministic.max(1)),
        T=int(T), seed=int(seed),
    )


# -- one digit's path, as a job for a worker ----------------------------------------------------
MAX_PATH_T = 200
"""Most MC passes per frame of a path."""


@dataclass(frozen=True, eq=False)
class PathRequest:
    """What the page asks for: validation digit ``index`` of ``model`` moved along ``kind`` in ``steps``."""

    model: DigitModel
    index: int
    kind: str
    steps: int
    T: int


@dataclass(frozen=True, eq=False)
class DigitPath:
    """A path and its uncertainty, the answer to a ``PathRequest`` (``cancelled`` is never set: it is short)."""

    index: int
    kind: str
    amounts: np.ndarray
    path: PathUncertainty
    cancelled: bool = False


def digit_path(request: PathRequest) -> DigitPath:
    """Move the digit and measure (``make_path``, ``uncertainty_along``); a value no control could send
    is refused with a ValueError that says which (a negative index would otherwise wrap around)."""
    n = len(request.model.val_labels)
    index, T = request.index, request.T
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < n:
        raise ValueError(f"the digit must be one of the {n} validation images, 0 to {n - 1}, got {index!r}")
    if isinstance(T, bool) or not isinstance(T, (int, np.integer)) or not 1 <= T <= MAX_PATH_T:
        raise ValueError(f"T must be a whole number of passes from 1 to {MAX_PATH_T}, got {T!r}")
    images = make_path(request.model.val_images[index], request.kind, request.steps)
    return DigitPath(int(index), request.kind, path_amounts(request.kind, request.steps),
                     uncertainty_along(request.model, images, T=int(T)))


def path_work(request: PathRequest) -> float:
    """Estimated multiply-adds of a ``digit_path``: frames x passes x the network's weights."""
    return float((request.steps + 1) * request.T * request.model.settings.example_work)


# -- every validation digit at once ------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PathSummary:
    """Per-step means over ``n_digits`` validation digits, each walked the same way, and their
    standard errors over the digits (arrays [K], read-only).

    The digits share the T masks, so their MC noise is correlated and the standard errors here
    leave out the (small, at T = 100) spread from the choice of masks; the spread from training
    a network again with another seed is larger and is not in them either.
    ``mc_acc``: share of digits whose MC mean picks the label; ``det_acc``: the same for the
    deterministic prediction; ``det_confidence``: its largest probability, right or wrong.
    """

    kind: str
    amounts: np.ndarray  # pixels or degrees of each step
    n_digits: int
    T: int
    seed: int
    entropy: np.ndarray
    entropy_se: np.ndarray
    mutual_info: np.ndarray
    mutual_info_se: np.ndarray
    expected_entropy: np.ndarray
    expected_entropy_se: np.ndarray
    det_confidence: np.ndarray
    det_confidence_se: np.ndarray
    mc_confidence: np.ndarray
    mc_confidence_se: np.ndarray
    mc_acc: np.ndarray
    mc_acc_se: np.ndarray
    det_acc: np.ndarray
    det_acc_se: np.ndarray


def measure_paths(model: DigitModel, kind: str = "right", steps: int = 4, amount: float | None = None,
                  T: int = DEFAULT_T, seed: int = 0, n_digits: int | None = None) -> PathSummary:
    """Walk the first ``n_digits`` (default all) of ``model``'s validation digits along ``make_path(
    image, kind, steps, amount)``, run ``uncertainty_along`` on all the frames at once (the same T
    networks everywhere) and average each quantity per step."""
    images, labels = model.val_images, model.val_labels
    if n_digits is not None:
        if isinstance(n_digits, bool) or not isinstance(n_digits, (int, np.integer)) or n_digits < 1:
            raise ValueError(f"n_digits must be a whole number >= 1, got {n_digits!r}")
        images, labels = images[:n_digits], labels[:n_digits]
    paths = np.stack([make_path(image, kind, steps, amount) for image in images])  # [N, K, 8, 8]
    n, k = paths.shape[:2]
    u = uncertainty_along(model, paths.reshape(n * k, *IMAGE_SHAPE), T, seed)
    per = lambda a: np.asarray(a, dtype=np.float64).reshape(n, k)  # noqa: E731
    columns = {
        "entropy": per(u.entropy), "mutual_info": per(u.mutual_info), "expected_entropy": per(u.expected_entropy),
        "det_confidence": per(u.det_confidence), "mc_confidence": per(u.predicted_prob),
        "mc_acc": per(u.predicted == np.repeat(labels, k)), "det_acc": per(u.det_predicted == np.repeat(labels, k)),
    }
    stats: dict[str, np.ndarray] = {}
    for name, values in columns.items():
        stats[name] = read_only(values.mean(0))
        se = values.std(0, ddof=1) / math.sqrt(n) if n > 1 else np.full(k, math.nan)
        stats[f"{name}_se"] = read_only(se)
    return PathSummary(kind=kind, amounts=path_amounts(kind, steps, amount), n_digits=int(n), T=int(T),
                       seed=int(seed), **stats)
