"""Named starting points for the Playground, as flat configs (see core.engine.config.to_flat).

``default`` is what a newcomer sees: a small, noisy training set and a wide network,
so that the run without dropout (B) overfits visibly within a few hundred epochs.
``tiny`` trains in a blink and exists for tests and slow machines.
"""
from __future__ import annotations

from typing import Any

from core.engine.config import RunConfig, from_flat

PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "tiny": {
        "data.n_train": 20,
        "data.n_val": 40,
        "model.num_hiddens": "8",
        "model.p_hidden": "0.5",
        "train.max_epochs": 20,
    },
    "spirals": {
        "data.dataset": "spirals",
        "data.noise": 0.2,
        "data.n_train": 200,
        "model.num_hiddens": "64,64,64",
        "model.p_hidden": "0.2,0.2,0.2",
        "train.lr": 0.01,
        "train.max_epochs": 300,
    },
    "too-much-dropout": {
        "data.noise": 0.3,
        "data.n_train": 200,
        "model.num_hiddens": "32,32",
        "model.p_hidden": "0.9,0.9",
        "train.max_epochs": 150,
    },
    "diverging": {
        "train.optimizer": "sgd",
        "train.lr": 10.0,
        "model.activation": "relu",
    },
}

def preset(name: str) -> RunConfig:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return from_flat(PRESETS[name])
