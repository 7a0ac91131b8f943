"""Models by name: the trainer builds whichever model its config names (``ModelConfig.arch``)."""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from core.engine.cnn import build_cnn
from core.engine.models import build_mlp

MODELS: dict[str, Callable[..., nn.Module]] = {"mlp": build_mlp, "cnn": build_cnn}


def build_model(cfg: Any, seed: int, device: torch.device | str = "cpu", *, num_inputs: int, num_classes: int) -> nn.Module:
    """The model ``cfg`` describes (an MLP's ``ModelConfig`` or a ``CNNConfig``), weights from ``seed``."""
    return MODELS[cfg.arch](cfg, seed=seed, device=device, num_inputs=num_inputs, num_classes=num_classes)
