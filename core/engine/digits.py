"""One MLP on scikit-learn's 8x8 digits, as a lesson's settings: the one class behind lesson 4's digit
networks (with and without dropout) and lesson 5's digit that walks away.

Every image not trained on is validation. ``p`` is the drop probability after each of the ``layers``
hidden layers of ``width`` ReLU units, ``p_input`` the one on the 64 input pixels.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from core.engine.config import (DEVICES, DIGITS_SIZE, MAX_HIDDEN_LAYERS, OPTIMIZERS, DataConfig, ModelConfig, RunConfig,
                                TrainConfig, check_choice, check_number)

IMAGE_SHAPE = (8, 8)
MAX_WIDTH = 256
MAX_EPOCHS = 2000
MIN_VAL = 100
"""At least this many images are left for validation."""


@dataclass(frozen=True)
class DigitNetSettings:
    """A digit network's settings, checked when made (a ConfigError says which value is wrong)."""

    p: float = 0.5
    p_input: float = 0.0
    width: int = 128
    layers: int = 1
    n_train: int = 1000
    epochs: int = 60
    seed: int = 0
    lr: float = 0.003
    batch_size: int = 32
    weight_decay: float = 0.0
    optimizer: str = "adam"
    device: str = "auto"

    def __post_init__(self) -> None:
        check_number("p", self.p, 0.0, 1.0, hi_open=True)
        check_number("p_input", self.p_input, 0.0, 1.0, hi_open=True)
        check_number("width", self.width, 2, MAX_WIDTH, integer=True)
        check_number("layers", self.layers, 1, MAX_HIDDEN_LAYERS, integer=True)
        check_number("n_train", self.n_train, 20, DIGITS_SIZE - MIN_VAL, integer=True)
        check_number("epochs", self.epochs, 1, MAX_EPOCHS, integer=True)
        check_number("seed", self.seed, 0, 2**31 - 1, integer=True)
        check_number("lr", self.lr, 1e-5, 10.0)
        check_number("batch_size", self.batch_size, 1, self.n_train, integer=True)
        check_number("weight_decay", self.weight_decay, 0.0, 1.0)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("device", self.device, DEVICES)

    @property
    def n_val(self) -> int:
        return DIGITS_SIZE - self.n_train

    @property
    def total_steps(self) -> int:
        return self.epochs * math.ceil(self.n_train / self.batch_size)

    @property
    def example_work(self) -> int:
        """Multiply-adds of one image through the network: the sum of fan-in x fan-out."""
        widths = (64, *(self.width,) * self.layers, 10)
        return sum(a * b for a, b in zip(widths, widths[1:]))

    def work(self) -> float:
        """Estimated multiply-adds of training this network (``core.engine.sweep.Sweep.work``'s measure)."""
        return float(self.total_steps * self.batch_size * self.example_work)

    def run_config(self, dropout: bool = True) -> RunConfig:
        """The ``RunConfig`` of this network, or with ``dropout=False`` of the same one without dropout."""
        return RunConfig(
            DataConfig(dataset="digits", noise=0.0, n_train=self.n_train, n_val=self.n_val, seed=self.seed),
            ModelConfig(num_hiddens=(self.width,) * self.layers, activation="relu",
                        p_input=self.p_input if dropout else 0.0, p_hidden=(self.p if dropout else 0.0,) * self.layers),
            TrainConfig(optimizer=self.optimizer, lr=self.lr, weight_decay=self.weight_decay,
                        batch_size=self.batch_size, max_epochs=self.epochs, device=self.device),
        )
