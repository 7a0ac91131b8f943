"""When does dropout help? The gain from dropout over two grids, as one batched sweep.

The gain of a cell is the validation error without dropout minus the error with dropout at one
fixed, pre-chosen p, paired by seed (seed s: the same data and initial weights on both sides),
so there is no picking of a best p. Two grids share the sweep: training-set size x noise (at a
fixed width) and training-set size x hidden width (at a fixed noise); the cell they have in
common is trained once. Each cell gets a paired verdict (``core.analysis.verdicts``): holds
(dropout lowers the error), does not hold (it raises it), or unclear.

Every training-set size gets the same number of minibatch steps, as in Fig. 10. The page
(lesson 3) and ``python -m core reproduce regime`` both call ``run_regime``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable

from core.analysis.verdicts import HOLDS, Check, by_seed, check_larger, mean_se, pct
from core.engine.config import (DIGITS_SIZE, MAX_NUISANCE, PLANE_DATASETS, ConfigError, DataConfig, ModelConfig,
                                RunConfig, TrainConfig, check_number)
from core.engine.plain import strict_json
from core.engine.sweep import Progress, Sweep, SweepResult, run_sweep

MAX_SEEDS = 20
MAX_CELLS = 64
GRIDS = ("noise", "width")
"""The second axis of each grid (the first is always the training-set size)."""


@dataclass(frozen=True)
class RegimeSettings:
    """``sizes`` x ``noises`` at ``width``, and ``sizes`` x ``widths`` at ``noise``; ``layers`` hidden
    layers of that width, dropout ``p`` after each, ``nuisance`` irrelevant inputs (2-D sets)."""

    dataset: str = "circles"
    sizes: tuple[int, ...] = (20, 40, 80, 160, 320)
    noises: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)
    widths: tuple[int, ...] = (8, 32, 128)
    noise: float = 0.6
    width: int = 128
    layers: int = 2
    p: float = 0.5
    nuisance: int = 0
    seeds: int = 8
    steps: int = 1000
    n_val: int = 1000
    lr: float = 0.003
    batch_size: int = 16

    def __post_init__(self) -> None:
        object.__setattr__(self, "sizes", tuple(sorted({int(n) for n in self.sizes})))
        object.__setattr__(self, "noises", tuple(sorted({float(v) for v in self.noises})))
        object.__setattr__(self, "widths", tuple(sorted({int(w) for w in self.widths})))
        check_number("seeds", self.seeds, 2, MAX_SEEDS, integer=True)  # a verdict needs an error bar
        check_number("p", self.p, 0.05, 0.95)
        check_number("nuisance inputs", self.nuisance, 0, MAX_NUISANCE, integer=True)
        check_number("steps", self.steps, 10, 20_000, integer=True)
        for name, values in (("sizes", self.sizes), ("noises", self.noises), ("widths", self.widths)):
            if len(values) < 2:
                raise ConfigError(f"the map needs at least two {name}, got {len(values)}")
        if len(self.cells()) > MAX_CELLS:
            raise ConfigError(f"the map has at most {MAX_CELLS} cells, these settings make {len(self.cells())}")
        if self.dataset == "digits" and max(self.sizes) + self.n_val > DIGITS_SIZE:
            raise ConfigError(f"digits has {DIGITS_SIZE} images: the largest size plus {self.n_val} validation "
                              "images must fit in them")
        if self.nuisance and self.dataset not in PLANE_DATASETS:
            raise ConfigError("nuisance inputs are added to the 2-D sets only")
        for n, noise, width in self.cells():  # every cell must make a valid run
            self.run_config(n, noise, width, 0.0, self.seeds - 1)

    def cells(self) -> list[tuple[int, float, int]]:
        """(n_train, noise, width) of every cell of both grids, each once, in a fixed order."""
        out = [(n, v, self.width) for n in self.sizes for v in self.noises]
        out += [(n, self.noise, w) for n in self.sizes for w in self.widths]
        return list(dict.fromkeys(out))

    def run_config(self, n_train: int, noise: float, width: int, p: float, seed: int) -> RunConfig:
        return RunConfig(
            DataConfig(self.dataset, noise, n_train, self.n_val, seed, nuisance=self.nuisance),
            ModelConfig(num_hiddens=(width,) * self.layers, p_hidden=(p,) * self.layers),
            TrainConfig(lr=self.lr, batch_size=self.batch_size),
        )

    def sweep(self) -> Sweep:
        members = [self.run_config(n, v, w, p, seed)
                   for n, v, w in self.cells() for p in (0.0, self.p) for seed in range(self.seeds)]
        return Sweep(tuple(members), steps=self.steps)

    def work(self) -> float:
        return self.sweep().work()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RegimeSettings:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**data)


def gain_by_seed(members: list[dict[str, Any]], n_train: int, noise: float, width: int,
                 p: float) -> tuple[dict[int, float], dict[int, float]]:
    """seed -> validation error without dropout, and with dropout at ``p``, in one cell."""
    where = {"n_train": n_train, "noise": noise, "width": width}
    return by_seed(members, "val_err", p=0.0, **where), by_seed(members, "val_err", p=p, **where)


def judge_cell(members: list[dict[str, Any]], n_train: int, noise: float, width: int, p: float) -> Check:
    off, on = gain_by_seed(members, n_train, noise, width, p)
    return check_larger(f"at n = {n_train}, noise {noise:g}, width {width}, p = {p:g} lowers the validation error",
                        off, on, pct, ("p=0", f"p={p:g}"))


@dataclass
class RegimeResult:
    settings: RegimeSettings
    sweep: SweepResult
    cells: list[dict[str, Any]]  # one per (n_train, noise, width): the gain, its se, the verdict

    @property
    def cancelled(self) -> bool:
        return self.sweep.cancelled

    def grid(self, axis: str) -> dict[str, Any]:
        """One grid as rows (training-set sizes) x columns (noises or widths) of cells."""
        s = self.settings
        columns = s.noises if axis == "noise" else s.widths
        index = {(c["n_train"], c["noise"], c["width"]): c for c in self.cells}
        rows = [[index[(n, v, s.width) if axis == "noise" else (n, s.noise, v)] for v in columns] for n in s.sizes]
        return {"axis": axis, "sizes": list(s.sizes), "columns": list(columns), "cells": rows,
                "fixed": {"width": s.width} if axis == "noise" else {"noise": s.noise}}

    def counts(self) -> dict[str, int]:
        out = {HOLDS: 0, "unclear": 0, "does not hold": 0}
        for c in self.cells:
            out[c["status"]] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return strict_json({
            "experiment": "regime", "title": TITLE, "claim": CLAIM, "config": self.settings.to_json(),
            **self.sweep.to_json(), "cells": self.cells, "counts": self.counts(),
        })


TITLE = "When does dropout help? The regime map"
CLAIM = ("Dropout lowers the validation error where a network with spare capacity overfits scarce, noisy data; "
         "elsewhere it gains nothing or costs accuracy.")


def _with_width(members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**m, "width": m["num_hiddens"][0]} for m in members]


def summarize_cells(settings: RegimeSettings, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    members = _with_width(members)
    cells = []
    for n, v, w in settings.cells():
        check = judge_cell(members, n, v, w, settings.p)
        off, on = gain_by_seed(members, n, v, w, settings.p)
        err_off, _ = mean_se(off.values())
        err_on, _ = mean_se(on.values())
        cells.append({"n_train": n, "noise": v, "width": w, "gain": check.difference, "gain_se": check.se,
                      "status": check.status, "val_err_off": err_off, "val_err_on": err_on,
                      "seeds": sum(1 for s in off if s in on and math.isfinite(off[s]) and math.isfinite(on[s])),
                      "detail": check.detail})
    return cells


def regime_work(settings: RegimeSettings | None = None) -> float:
    return (settings or RegimeSettings()).work()


def run_regime(settings: RegimeSettings | None = None, progress: Callable[[Progress], None] | None = None,
               cancelled: Callable[[], bool] | None = None) -> RegimeResult:
    settings = settings or RegimeSettings()
    result = run_sweep(settings.sweep(), progress=progress, cancelled=cancelled)
    if result.cancelled:
        return RegimeResult(settings, result, [])
    return RegimeResult(settings, result, summarize_cells(settings, result.members))
