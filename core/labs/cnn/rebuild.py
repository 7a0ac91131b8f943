"""Lesson 6's "predict, then reveal": how much of an activation its neighbours rebuild, at 8x8 and upsampled.

Two copies of the same small CNN (same seed, data, initial weights and minibatch order) train
briefly, one on the 8x8 digits and one on the digits upsampled to ``image_size``; then, on
validation digits the networks never trained on, ``core.analysis.rebuild`` measures the input
pixels and each conv layer's feature maps: the held-out R^2 of a pixel predicted from its
neighbours, and the correlation of adjacent activations. The lesson's point: on upsampled
images neighbours carry most of a pixel, so element-wise dropout removes little that the next
3x3 convolution cannot rebuild, and dropping whole channels or blocks is what actually hides
information.

The maps are those of a forward pass with dropout OFF (the network as it is used), read after
each conv layer's activation: ``SmallCNN.trace`` would feed each layer the previous layer's
*dropped* maps, which mixes the dropout's holes into what is measured here.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch

from core.analysis.layers import dropout_off
from core.analysis.rebuild import NEIGHBOURS, Rebuild, measure
from core.engine.config import (CNN_KINDS, DIGITS_SIZE, MAX_CONV_LAYERS, CNNConfig, ConfigError, DataConfig,
                                RunConfig, TrainConfig, check_choice, check_number)
from core.engine.datasets import make_split
from core.engine.plain import strict_json
from core.engine.sweep import network_work
from core.engine.trainer import Trainer, step_until

UPSAMPLED_SIZES = (16, 24)
MAX_EPOCHS = 50
MIN_VAL = 100


@dataclass(frozen=True)
class RebuildSettings:
    """The two networks measured (8x8 and ``image_size``), checked when made.

    ``kind`` and ``p`` are the dropout both networks train with (by default none: the measure is of
    the features a plain network learns); ``n_measure`` validation digits are measured on."""

    image_size: int = 16
    channels: tuple[int, ...] = (8, 8)
    kind: str = "none"
    p: float = 0.0
    epochs: int = 5
    n_train: int = 500
    n_measure: int = 400
    neighbours: int = 4
    seed: int = 0
    lr: float = 0.003
    batch_size: int = 32

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        if self.image_size not in UPSAMPLED_SIZES:
            raise ConfigError(f"image_size (the upsampled size) must be 16 or 24, got {self.image_size!r}")
        check_number("number of conv layers", len(self.channels), 1, MAX_CONV_LAYERS, integer=True)
        for c in self.channels:
            check_number("channels", c, 1, 64, integer=True)
        check_choice("kind", self.kind, CNN_KINDS)
        check_number("p", self.p, 0.0, 1.0, hi_open=True)
        check_number("epochs", self.epochs, 1, MAX_EPOCHS, integer=True)
        check_number("n_train", self.n_train, 20, DIGITS_SIZE - MIN_VAL, integer=True)
        check_number("n_measure", self.n_measure, 4, DIGITS_SIZE - self.n_train, integer=True)
        if self.neighbours not in NEIGHBOURS:
            raise ConfigError(f"neighbours must be 4 or 8, got {self.neighbours!r}")
        check_number("seed", self.seed, 0, 2**31 - 1, integer=True)
        check_number("lr", self.lr, 1e-5, 10.0)
        check_number("batch_size", self.batch_size, 1, self.n_train, integer=True)

    @property
    def sizes(self) -> tuple[int, int]:
        return (8, self.image_size)

    def run_config(self, image_size: int) -> RunConfig:
        layers = len(self.channels)
        return RunConfig(
            DataConfig("digits", 0.0, self.n_train, DIGITS_SIZE - self.n_train, self.seed),
            CNNConfig(channels=self.channels, kinds=(self.kind,) * layers, p_hidden=(self.p,) * layers,
                      image_size=image_size),
            TrainConfig(lr=self.lr, batch_size=self.batch_size, max_epochs=self.epochs),
        )

    @property
    def total_steps(self) -> int:
        return self.epochs * math.ceil(self.n_train / self.batch_size)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def rebuild_work(settings: RebuildSettings | None = None) -> float:
    """Estimated multiply-adds of training both networks (``Sweep.work``'s measure; measuring is small)."""
    s = settings or RebuildSettings()
    return float(sum(s.total_steps * s.batch_size * network_work(s.run_config(size)) for size in s.sizes))


@dataclass(frozen=True)
class SizeRebuild:
    """One network's numbers: its image size, validation accuracy, and per layer (pixels first) a Rebuild."""

    image_size: int
    val_acc: float
    layers: tuple[tuple[str, Rebuild], ...]

    def to_json(self) -> dict[str, Any]:
        return strict_json({"image_size": self.image_size, "val_acc": self.val_acc,
                            "layers": [{"layer": name, **r.to_json()} for name, r in self.layers]})


@dataclass(frozen=True)
class RebuildResult:
    settings: RebuildSettings
    sizes: tuple[SizeRebuild, ...]  # empty when cancelled
    cancelled: bool
    elapsed: float

    def to_json(self) -> dict[str, Any]:
        return strict_json({"settings": self.settings.to_json(), "sizes": [s.to_json() for s in self.sizes],
                            "cancelled": self.cancelled, "elapsed_s": round(self.elapsed, 3)})


def feature_maps(model: torch.nn.Module, X: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """The input images and each conv layer's maps after its activation, with dropout off: ``[n, C, H, W]``."""
    seen: list[torch.Tensor] = []
    hooks = [act.register_forward_hook(lambda _m, _i, out: seen.append(out.detach())) for act in model.acts]
    try:
        with dropout_off(model):
            images = model.images(X)
            model(X)
    finally:
        for hook in hooks:
            hook.remove()
    return [("pixels", images), *((f"conv {i + 1}", maps) for i, maps in enumerate(seen))]


def _measure_trainer(trainer: Trainer, settings: RebuildSettings) -> SizeRebuild:
    X = trainer.X_val[: settings.n_measure]
    layers = tuple((name, measure(maps, settings.neighbours)) for name, maps in feature_maps(trainer.model, X))
    return SizeRebuild(trainer.cfg.model.image_size, trainer.evaluate()["val_acc"], layers)


def measure_rebuild(
    settings: RebuildSettings | None = None,
    progress: Callable[[float], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> RebuildResult:
    """Train the 8x8 and the upsampled network in lockstep, then measure both (see the module doc).

    ``progress`` gets the fraction of steps done; ``cancelled`` is polled before the first step and
    then about every 0.1 s. A cancelled run returns no numbers and says so."""
    settings = settings or RebuildSettings()
    start = time.perf_counter()
    cfgs = [settings.run_config(size) for size in settings.sizes]
    split = make_split(cfgs[0].data)  # the same digits for both: only the upsampling differs
    trainers = [Trainer(cfg, split, evaluate=False) for cfg in cfgs]
    _, stopped = step_until(lambda: [t.step() for t in trainers], settings.total_steps,
                            progress=progress, cancelled=cancelled)
    if stopped:
        return RebuildResult(settings, (), True, time.perf_counter() - start)
    sizes = tuple(_measure_trainer(t, settings) for t in trainers)
    if progress is not None:
        progress(1.0)
    return RebuildResult(settings, sizes, False, time.perf_counter() - start)
