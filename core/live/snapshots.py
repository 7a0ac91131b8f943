"""The snapshot contract: what a live runner publishes, one schema per runner kind, in one place.

A snapshot is plain data (numbers, strings, lists, numpy arrays, frozen config dataclasses), so it
crosses threads and the worker link unchanged and a page can draw it without asking again. Every
kind shares ``Snapshot``'s keys; ``version`` grows with each publication (a reader that has version
v asks only for a newer one). A page run fetches one snapshot and passes it down
(``core.ui.live.sync_runner``); only a live view's redraws fetch again.
"""
from __future__ import annotations

from typing import Any, TypedDict

import numpy as np

from core.engine.config import RunConfig

STATES = ("ready", "playing", "queued", "paused", "finished", "diverged", "error", "stopped")
"""A runner's ``state``: queued waits for a place under the class cap; finished, diverged and error
end a run (a new one is needed, except that a finished one may be played on)."""


class Snapshot(TypedDict):
    """What every runner kind publishes."""

    version: int
    state: str  # one of STATES
    message: str | None  # why it is not simply training (an error, the queue, an ignored command), or None
    epochs_per_second: float | None  # the pace; None: as fast as the CPU allows


class History(TypedDict, total=False):
    """Per-epoch series of one run, thinned to at most ``core.engine.plain.MAX_HISTORY_POINTS`` points."""

    epoch: list[float]
    train_loss: list[float]
    val_loss: list[float]
    train_acc: list[float]
    val_acc: list[float]


class PairRun(TypedDict, total=False):
    """One of the "live" kind's runs (A or B). ``config`` is the run's own ``RunConfig`` (live changes
    included), never a flat string form. The keys after ``grid`` come only when asked for."""

    config: RunConfig
    step: int
    epoch: float
    history: History
    events: list[dict[str, Any]]  # {"epoch", "step", "kind", "text"}: the latest live changes (MAX_EVENTS)
    events_hidden: int  # older live changes, counted but no longer kept
    masks: list[list[bool]]  # the latest step's keep-masks, input first, cut to the diagram's units
    layer_sizes: list[int]
    weights: list[np.ndarray]  # each Linear's weights, cut to the diagram's units
    grid: np.ndarray  # [GRID_SIZE, GRID_SIZE] probability of class 1 over the plane
    coadaptation: dict[str, Any] | None  # with coadaptation_layer: lead numbers, series, knock-out, correlation
    frozen: Any  # with publish_weights: a core.analysis.thinned.FrozenMLP of this step's weights
    frozen_step: int
    knockout: dict[str, Any]  # with units switched off: {"layer", "units", "val_loss", "val_acc"}
    mc: MCMaps | None  # run A only, with mc_passes: its Monte-Carlo maps and probe (None until computed)


class MCMaps(TypedDict):
    """Run A's Monte-Carlo dropout maps over the grid (``GRID_SIZE``^2 points, row-major), and the probe."""

    T: int
    step: int  # the training step whose weights they come from
    mean: np.ndarray  # P(class 1), the mean of the T passes
    entropy: np.ndarray  # of the mean (total uncertainty), nats
    mutual_info: np.ndarray  # the passes' disagreement (epistemic), nats
    probe: dict[str, Any]  # x (the point), probs [T] of class 1, deterministic, mean, std, entropy, mutual_info


class PairSnapshot(Snapshot):
    """The "live" kind (``core.live.pair.LiveRunner``): runs A and (optionally) B in lockstep."""

    coadaptation_layer: int | None
    mc_passes: int | None  # T behind run A's MC maps (None: no maps)
    probe: tuple[float, float]
    grid_axis: np.ndarray
    data: dict[str, np.ndarray]  # X_train, y_train, X_val, y_val
    runs: list[PairRun]


class RegressionSnapshot(Snapshot):
    """The "regression" kind (``core.labs.uncertainty.regression_runner.LiveRegression``)."""

    run: int  # grows with each new run (a reset, another activation)
    config: dict[str, Any]  # the RegressionConfig's fields, typed
    n_passes: int
    step: int
    epoch: float
    history: dict[str, list[float]]
    events: list[dict[str, Any]]  # the latest live changes, as for a pair
    events_hidden: int
    data: dict[str, Any]  # x, y, n, added, intervals
    grid: np.ndarray
    truth: np.ndarray
    bands: dict[str, Any]  # passes [T, G], mean, std, total_std, noise_var
    tau: dict[str, Any]  # the tau formula's terms, and as text
    regions: dict[str, Any]  # mean std inside the data, far from it and in the widest gap, and their ratios


class CNNLayerView(TypedDict):
    """One conv layer of one run, seen on the chosen validation digit (at most 16 maps)."""

    maps: np.ndarray  # [C, H, W] float32: the activations before dropout
    mask: np.ndarray | None  # [C, H, W] bool keep-mask of one stochastic pass (True = kept); None: nothing dropped
    dropped: float  # the fraction of the mask dropped


class CNNRun(TypedDict):
    """One of the "cnn" kind's runs (A, B or C): the same weights at the start, its own dropout."""

    name: str  # "A", "B" or "C"
    config: RunConfig  # with a CNNConfig model, live changes included
    step: int
    epoch: float
    history: History
    events: list[dict[str, Any]]  # the latest live changes, as for a pair
    events_hidden: int
    gap: float | None  # the latest validation loss minus training loss (None before the first epoch)
    layers: list[CNNLayerView]  # one per conv layer ([] once diverged before any view)
    probs: np.ndarray | None  # [10] the digit's class probabilities, dropout off


class CNNSnapshot(Snapshot):
    """The "cnn" kind (``core.labs.cnn.runner.LiveCNN``): one to three CNNs in lockstep."""

    digit: int  # the validation image the views show
    label: int  # its class
    n_val: int
    image: np.ndarray  # [S, S] the digit as the network reads it (upsampled to image_size)
    views_step: int  # the training step the views were traced at
    runs: list[CNNRun]
