"""The batched sweep's fallback for members it cannot stack: dropout variants other than the standard one
(``ModelConfig.variants``). Each member trains as its own ``Trainer`` on the reference modules of
``core.engine.variants``, behind the interface ``run_sweep`` uses (``batch_size``, ``step``,
``evaluate``), so a sweep with variants gives the same result format, only slower: one model at a time
instead of one batched model. ``sweep.REFERENCE_NOTE`` says so in the result."""
from __future__ import annotations

import math

import torch

from core.engine.config import RunConfig
from core.engine.trainer import Trainer



class ReferenceStack:
    """Members as separate Trainers, stepped one after the other (same configs, same seeds, same data)."""

    def __init__(self, cfgs: list[RunConfig], device: torch.device):
        self.trainers = [Trainer(cfg, evaluate=False) for cfg in cfgs]
        self.batch_size = cfgs[0].train.batch_size

    def step(self) -> None:
        for trainer in self.trainers:
            if trainer.diverged is None:
                trainer.step()

    def evaluate(self) -> list[dict[str, float]]:
        out = []
        for trainer in self.trainers:
            metrics = trainer.evaluate() if trainer.diverged is None else {}
            out.append({k: float(metrics.get(k, math.nan)) for k in ("train_loss", "val_loss", "train_acc", "val_acc")})
        return out
