"""The small CNN of lesson 6 on scikit-learn's 8x8 digits, with a dropout kind per conv layer.

``image -> [input dropout] -> (3x3 conv, activation, dropout of its kind) x L -> 2x2 max-pool -> Linear``.
The 64 pixel features are read as one 8x8 map and, when ``image_size`` asks for it, upsampled
(bilinear) first, so that neighbouring pixels, and so neighbouring activations, correlate more.
It offers the trainer what the MLP does (``dropouts``, ``linears``, ``set_p``, ``set_generator``), so
``core.engine.trainer.Trainer`` trains either; ``trace`` shows its feature maps and masks.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from core.engine.config import CNNConfig, ConfigError
from core.engine.dropout import Dropout
from core.engine.models import ACTIVATIONS, seeded
from core.engine.spatial import make_dropout

DIGIT_SIDE = 8
DIGIT_PIXELS = DIGIT_SIDE * DIGIT_SIDE


class ConvLayer(NamedTuple):
    conv: nn.Conv2d
    activation: nn.Module
    dropout: Dropout | None  # None: kind "none"


class LayerTrace(NamedTuple):
    """One conv layer seen on some images: its activations before dropout ``[n, C, H, W]`` and the
    keep-mask a stochastic pass drew for them (True = kept; None when nothing was dropped)."""

    maps: torch.Tensor
    mask: torch.Tensor | None


class SmallCNN(nn.Module):
    def __init__(self, cfg: CNNConfig, num_inputs: int = DIGIT_PIXELS, num_classes: int = 10):
        super().__init__()
        if num_inputs != DIGIT_PIXELS:
            raise ConfigError(f"the CNN reads 8x8 images ({DIGIT_PIXELS} inputs), got {num_inputs} inputs")
        self.cfg = cfg
        self.input_dropout = Dropout(cfg.p_input)
        layers: list[ConvLayer] = []
        width_in = 1
        for width, kind, p in zip(cfg.channels, cfg.kinds, cfg.p_hidden):
            layers.append(ConvLayer(nn.Conv2d(width_in, width, 3, padding=1), ACTIVATIONS[cfg.activation](),
                                    make_dropout(kind, p, block_size=cfg.block_size, ramp_steps=cfg.ramp_steps)))
            width_in = width
        self._layers = layers
        self.convs = nn.ModuleList(layer.conv for layer in layers)
        self.acts = nn.ModuleList(layer.activation for layer in layers)
        self.conv_dropouts = nn.ModuleList(layer.dropout for layer in layers if layer.dropout is not None)
        side = cfg.image_size // 2
        self.out = nn.Linear(width_in * side * side, num_classes)
        self._dropouts = [self.input_dropout, *self.conv_dropouts]
        self._linears = [*self.convs, self.out]

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """``[N, 64]`` pixel rows as ``[N, 1, S, S]`` images (upsampled to ``image_size``), input dropout applied."""
        x = self.input_dropout(x.reshape(-1, 1, DIGIT_SIDE, DIGIT_SIDE))
        size = self.cfg.image_size
        if size != DIGIT_SIDE:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.images(x)
        for conv, act, dropout in self._layers:
            h = act(conv(h))
            if dropout is not None:
                h = dropout(h)
        return self.out(F.max_pool2d(h, 2).flatten(1))

    @torch.no_grad()
    def trace(self, x: torch.Tensor, generator: torch.Generator | None = None) -> list[LayerTrace]:
        """Each conv layer's maps for the images ``x`` in one pass whose dropout samples masks (drawn from
        ``generator``) as in training, while nothing else changes: for the views, never for training."""
        modes = [(m.training, m.mc, m.generator) for m in self._dropouts]
        traces: list[LayerTrace] = []
        try:
            for m in self._dropouts:
                m.mc, m.generator = True, generator if generator is not None else m.generator
            h = self.images(x)
            for conv, act, dropout in self._layers:
                h = act(conv(h))
                if dropout is None:
                    traces.append(LayerTrace(h, None))
                    continue
                out = dropout(h)  # in mc mode: a DropBlock ramp's clock stands still
                traces.append(LayerTrace(h, dropout.last_mask if dropout.p > 0 else None))
                h = out
        finally:
            for m, (training, mc, gen) in zip(self._dropouts, modes):
                m.training, m.mc, m.generator = training, mc, gen
        return traces

    @property
    def dropouts(self) -> list[Dropout]:
        """Input dropout first, then one per conv layer that has dropout (kind other than ``none``)."""
        return self._dropouts

    @property
    def linears(self) -> list[nn.Module]:
        """Every layer with a weight: the convolutions and the output (max-norm clips each filter's norm)."""
        return self._linears

    def set_p(self, p_input: float, p_hidden: tuple[float, ...]) -> None:
        if len(p_hidden) != len(self._layers):
            raise ValueError(f"expected {len(self._layers)} conv drop probabilities, got {len(p_hidden)}")
        self.input_dropout.p = p_input
        for layer, p in zip(self._layers, p_hidden):
            if layer.dropout is not None:
                layer.dropout.p = p

    def set_generator(self, generator: torch.Generator) -> None:
        for module in self._dropouts:
            module.generator = generator


def build_cnn(cfg: CNNConfig, seed: int, device: torch.device | str = "cpu",
              num_inputs: int = DIGIT_PIXELS, num_classes: int = 10) -> SmallCNN:
    """Build the CNN with weights drawn from ``seed`` on the CPU, then moved: equal seeds give equal weights
    (the dropout kinds and rates do not change them)."""
    return seeded(seed, lambda: SmallCNN(cfg, num_inputs, num_classes)).to(device)
