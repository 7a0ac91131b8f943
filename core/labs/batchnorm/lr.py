"""Batch size and learning rate: dropout's noise and the optimizer's interact (lesson 8, part 4).

Srivastava et al. (2014, appendix A.2) write that dropout's noisy gradients partly cancel, so a dropout
network "should typically use 10-100 times the learning rate that was optimal for a standard neural net",
and that momentum around 0.95-0.99 works "quite a lot better" with dropout than the usual 0.9. This lab
checks what of that holds for a small MLP on the 8x8 digits, trained for a fixed number of steps.

Two grids, each cell trained for every drop probability in ``ps`` and every seed:

- learning rate x p, per optimizer, at batch size ``batch_size``. Each optimizer has its own grid, in
  half-decade steps: plain SGD (``sgd_lrs``); SGD with momentum 0.9 (the trainer's, fixed:
  ``core.engine.trainer``) on a grid ten times lower (``momentum_lrs``; with momentum m a steady gradient
  moves the weights lr / (1 - m) per step, so the grids cover the same step sizes, this one a half-decade
  further up); Adam (``adam_lrs``), whose step does not scale with the gradient, on its own grid. The
  defaults were measured to bracket the seeds' best learning rates (``at_bottom``/``at_top`` in the
  result count the seeds whose best sits at an end of the grid, where it may be too narrow).
- batch size x p, with plain SGD at one fixed ``batch_lr`` and the same number of steps: a larger batch
  has less gradient noise per step and also sees more passes over the training set.

One batched sweep (``core.engine.sweep``) per (optimizer, learning rate, batch size), holding every
p x seed; a cell both grids share is trained once. Seed s means the same training digits, initial weights
and minibatch order in every cell, so each claim is a paired test over seeds (``core.analysis.verdicts``).
The score of a run is its final ``metric`` on the validation set (validation loss by default). A run that
diverged (a non-finite or exploding loss) scores NaN: it is never a best learning rate, and a paired
difference that needs its number leaves that seed out (the grid counts diverged runs per cell).

The claims, their directions taken from the paper and fixed before any run:

- ``higher lr``: per seed, the learning rate with the best score (ties: the lower one) is higher with
  dropout than without, compared on a log scale, for each optimizer and each p > 0;
- ``momentum``: at each side's own best learning rate, momentum beats plain SGD with dropout, and its gain
  is larger with dropout than without (needs both ``sgd`` and ``sgd+momentum``);
- ``batch``: the gain from dropout (score at p = 0 minus score at p) is larger at the largest batch size
  than at the smallest, whose own gradient noise already regularizes.

A claim that does not hold, or stays unclear, is a result: these are the paper's recommendations for
large networks trained for long, on a small network trained for seconds, and the report says whatever the
numbers say.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

from core.analysis.verdicts import Verdict, by_seed, check_larger, combine, num, pct, summarize
from core.engine.config import (DATASETS, ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig,
                                check_number)
from core.engine.plain import strict_json
from core.engine.sweep import Progress, Sweep, run_sweep

KEY = "dropout-lr"
TITLE = "Batch size and learning rate under dropout"
MOMENTUM = 0.9  # SGD's momentum in core.engine.trainer (fixed there)
LR_OPTIMIZERS = ("sgd", "sgd+momentum", "adam")
METRICS = ("val_loss", "val_err", "train_loss", "train_err")
SCORES = ("val_loss", "val_err")
MAX_SEEDS, MAX_PS, MAX_GRID = 20, 4, 9
CLAIMS = {
    "higher lr": "With dropout the best learning rate is higher than without (Srivastava et al. 2014, "
                 "appendix A.2: 10-100 times higher), for each optimizer.",
    "momentum": "Momentum helps dropout, and more than it helps the same network without dropout (A.2: high "
                "momentum with dropout; here 0.9 against none), each at its own best learning rate.",
    "batch": "Dropout's gain is larger with large minibatches than with small ones, whose own gradient noise "
             "already regularizes (plain SGD, one learning rate, the same number of steps).",
}


def _numbers(name: str, values: Any, lo: float, hi: float, *, integer: bool = False, least: int = 2) -> tuple:
    """``values`` as a sorted tuple without repeats, each checked; ConfigError naming ``name`` otherwise."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ConfigError(f"{name} must be a list of numbers, got {values!r}")
    values = list(values)
    for v in values:
        check_number(name, v, lo, hi, integer=integer)
    out = tuple(sorted({int(v) if integer else float(v) for v in values}))
    if not least <= len(out) <= MAX_GRID:
        raise ConfigError(f"{name} needs {least} to {MAX_GRID} different values, got {len(out)}")
    return out


@dataclass(frozen=True)
class LRSettings:
    """The network (``depth`` hidden layers of ``width``, dropout ``p`` after each), its data, the two grids."""

    dataset: str = "digits"
    noise: float = 0.0
    n_train: int = 300
    n_val: int = 1000
    width: int = 128
    depth: int = 2
    ps: tuple[float, ...] = (0.0, 0.5)
    optimizers: tuple[str, ...] = LR_OPTIMIZERS
    sgd_lrs: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0)
    momentum_lrs: tuple[float, ...] = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
    adam_lrs: tuple[float, ...] = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03)
    batch_size: int = 32  # the learning-rate grid's
    batch_sizes: tuple[int, ...] = (8, 32, 128)
    batch_lr: float = 0.1  # the batch grid's (plain SGD)
    steps: int = 1000
    seeds: int = 8
    metric: str = "val_loss"

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ConfigError(f"dataset must be one of {', '.join(DATASETS)}; got {self.dataset!r}")
        check_number("noise", self.noise, 0.0, 1.0)
        check_number("n_train", self.n_train, 20, 2000, integer=True)
        check_number("n_val", self.n_val, 20, 2000, integer=True)
        check_number("width", self.width, 2, 256, integer=True)
        check_number("depth", self.depth, 1, 4, integer=True)
        object.__setattr__(self, "ps", _numbers("ps", self.ps, 0.0, 0.9))
        if self.ps[0] != 0.0 or len(self.ps) > MAX_PS:
            raise ConfigError(f"ps must hold 0 (the baseline) and 1 to {MAX_PS - 1} drop probabilities above it, "
                              f"got {list(self.ps)}")
        if isinstance(self.optimizers, str) or not self.optimizers:
            raise ConfigError(f"optimizers must be a list of some of {', '.join(LR_OPTIMIZERS)}, got {self.optimizers!r}")
        for opt in self.optimizers:
            if opt not in LR_OPTIMIZERS:
                raise ConfigError(f"optimizers must be some of {', '.join(LR_OPTIMIZERS)}; got {opt!r}")
        object.__setattr__(self, "optimizers", tuple(o for o in LR_OPTIMIZERS if o in self.optimizers))
        for name in ("sgd_lrs", "momentum_lrs", "adam_lrs"):
            object.__setattr__(self, name, _numbers(name, getattr(self, name), 1e-5, 10.0))
        check_number("batch_size", self.batch_size, 1, self.n_train, integer=True)
        object.__setattr__(self, "batch_sizes", _numbers("batch_sizes", self.batch_sizes, 1, self.n_train, integer=True))
        check_number("batch_lr", self.batch_lr, 1e-5, 10.0)
        check_number("steps", self.steps, 10, 20_000, integer=True)
        check_number("seeds", self.seeds, 2, MAX_SEEDS, integer=True)  # a paired verdict needs an error bar
        if self.metric not in SCORES:
            raise ConfigError(f"metric must be one of {', '.join(SCORES)}; got {self.metric!r}")
        self.run_config("sgd", self.batch_lr, self.batch_size, self.ps[-1], self.seeds - 1)  # the data and model fit

    def lrs(self, optimizer: str) -> tuple[float, ...]:
        return {"sgd": self.sgd_lrs, "sgd+momentum": self.momentum_lrs, "adam": self.adam_lrs}[optimizer]

    def run_config(self, optimizer: str, lr: float, batch_size: int, p: float, seed: int) -> RunConfig:
        return RunConfig(DataConfig(self.dataset, self.noise, self.n_train, self.n_val, seed),
                         ModelConfig(num_hiddens=(self.width,) * self.depth, p_hidden=(p,) * self.depth),
                         TrainConfig(optimizer=optimizer, lr=lr, batch_size=batch_size))

    def lr_cells(self) -> list[tuple[str, float, int]]:
        return [(opt, lr, self.batch_size) for opt in self.optimizers for lr in self.lrs(opt)]

    def batch_cells(self) -> list[tuple[str, float, int]]:
        return [("sgd", self.batch_lr, b) for b in self.batch_sizes]

    def sweeps(self) -> list[tuple[tuple[str, float, int], Sweep]]:
        """One sweep per distinct (optimizer, lr, batch size) of both grids, each holding every p x seed."""
        cells = list(dict.fromkeys(self.lr_cells() + self.batch_cells()))
        return [(cell, Sweep(tuple(self.run_config(*cell, p, seed) for p in self.ps for seed in range(self.seeds)),
                             steps=self.steps)) for cell in cells]

    def to_json(self) -> dict[str, Any]:
        return strict_json(asdict(self))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LRSettings:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**data)


def work(settings: LRSettings) -> float:
    """Estimated multiply-adds of the whole run (``Sweep.work`` summed over the sweeps)."""
    return float(sum(sweep.work() for _, sweep in settings.sweeps()))


# -- judging ---------------------------------------------------------------------------------------
def best_lr(scores: dict[float, dict[int, float]]) -> dict[int, float]:
    """``scores``: lr -> (seed -> score, lower is better). Per seed, the lr with the lowest finite score
    (a diverged run, NaN, is never best; ties go to the lower lr); NaN when every lr diverged."""
    seeds = sorted({s for per_seed in scores.values() for s in per_seed})
    out = {}
    for s in seeds:
        finite = [(v[s], lr) for lr, v in scores.items() if s in v and math.isfinite(v[s])]
        out[s] = min(finite)[1] if finite else math.nan
    return out


def best_score(scores: dict[float, dict[int, float]]) -> dict[int, float]:
    """Per seed, the lowest finite score over the lrs (NaN when every lr diverged)."""
    seeds = sorted({s for per_seed in scores.values() for s in per_seed})
    return {s: min((v[s] for v in scores.values() if s in v and math.isfinite(v[s])), default=math.nan)
            for s in seeds}


def _log10(per_seed: dict[int, float]) -> dict[int, float]:
    return {s: math.log10(v) if math.isfinite(v) and v > 0 else math.nan for s, v in per_seed.items()}


def _scores(members: list[dict[str, Any]], settings: LRSettings, optimizer: str, p: float) -> dict[float, dict[int, float]]:
    return {lr: by_seed(members, settings.metric, optimizer=optimizer, lr=lr, batch_size=settings.batch_size, p=p)
            for lr in settings.lrs(optimizer)}


def best_rows(members: list[dict[str, Any]], settings: LRSettings) -> list[dict[str, Any]]:
    """Per optimizer and p: each seed's best lr and score, their geometric mean, and how many seeds sit at
    an end of the grid (there the grid may be too narrow)."""
    rows = []
    for opt in settings.optimizers:
        grid = settings.lrs(opt)
        for p in settings.ps:
            scores = _scores(members, settings, opt, p)
            lrs, best = best_lr(scores), best_score(scores)
            logs = [v for v in _log10(lrs).values() if math.isfinite(v)]
            rows.append({"optimizer": opt, "p": p, "seeds": sorted(lrs), "best_lr": [lrs[s] for s in sorted(lrs)],
                         "geomean_lr": 10 ** (sum(logs) / len(logs)) if logs else math.nan,
                         "best_score": [best[s] for s in sorted(lrs)],
                         "at_bottom": sum(v == grid[0] for v in lrs.values()),
                         "at_top": sum(v == grid[-1] for v in lrs.values())})
    return rows


def judge(members: list[dict[str, Any]], settings: LRSettings) -> tuple[tuple[str, Verdict], ...]:
    fmt = pct if settings.metric == "val_err" else num
    word = "validation error" if settings.metric == "val_err" else "validation loss"
    dropped = [p for p in settings.ps if p > 0]
    verdicts = []
    checks = []
    for opt in settings.optimizers:
        base = _log10(best_lr(_scores(members, settings, opt, 0.0)))
        for p in dropped:
            checks.append(check_larger(f"{opt}: the best learning rate is higher at p = {p:g} than at p = 0",
                                       _log10(best_lr(_scores(members, settings, opt, p))), base, num,
                                       (f"log10 best lr at p={p:g}", "at p=0")))
    verdicts.append(("higher lr", combine(checks)))
    if {"sgd", "sgd+momentum"} <= set(settings.optimizers):
        def gain(p: float) -> tuple[dict[int, float], dict[int, float], dict[int, float]]:
            plain = best_score(_scores(members, settings, "sgd", p))
            momentum = best_score(_scores(members, settings, "sgd+momentum", p))
            return plain, momentum, {s: plain[s] - momentum[s] for s in plain if s in momentum}
        *_, gain_off = gain(0.0)
        checks = []
        for p in dropped:
            plain, momentum, gain_on = gain(p)
            checks.append(check_larger(f"at p = {p:g}, momentum lowers the best {word}", plain, momentum, fmt,
                                       ("plain SGD", "momentum")))
            checks.append(check_larger(f"momentum's gain is larger at p = {p:g} than at p = 0", gain_on, gain_off, fmt,
                                       (f"gain at p={p:g}", "at p=0")))
        verdicts.append(("momentum", combine(checks)))
    small, large = min(settings.batch_sizes), max(settings.batch_sizes)

    def batch_gain(batch: int, p: float) -> dict[int, float]:
        where = {"optimizer": "sgd", "lr": settings.batch_lr, "batch_size": batch}
        off, on = by_seed(members, settings.metric, p=0.0, **where), by_seed(members, settings.metric, p=p, **where)
        return {s: off[s] - on[s] for s in off if s in on}

    verdicts.append(("batch", combine(
        check_larger(f"dropout's gain (p = {p:g}) is larger at batch {large} than at batch {small}",
                     batch_gain(large, p), batch_gain(small, p), fmt, (f"gain at batch {large}", f"at batch {small}"))
        for p in dropped)))
    return tuple(verdicts)


# -- the run ---------------------------------------------------------------------------------------
@dataclass
class LRResult:
    settings: LRSettings
    grid: list[dict[str, Any]] = field(default_factory=list)  # per grid, optimizer, lr, batch, p: mean and se
    best: list[dict[str, Any]] = field(default_factory=list)  # per optimizer and p: each seed's best lr
    verdicts: tuple[tuple[str, Verdict], ...] = ()
    elapsed: float = 0.0
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        return strict_json({
            "experiment": KEY, "title": TITLE, "claims": CLAIMS, "config": self.settings.to_json(),
            "momentum": MOMENTUM, "elapsed_s": round(self.elapsed, 3), "cancelled": self.cancelled,
            "grid": self.grid, "best": self.best,
            "verdicts": [{"claim": name, "text": CLAIMS[name], **v.to_json()} for name, v in self.verdicts]})


def grid_rows(members: list[dict[str, Any]], settings: LRSettings) -> list[dict[str, Any]]:
    """The two grids' cells, one row per (optimizer, lr, batch size, p): each metric's mean and se over seeds."""
    rows = []
    for grid, cells in (("lr", settings.lr_cells()), ("batch", settings.batch_cells())):
        for cell in cells:
            inside = [m for m in members if (m["optimizer"], m["lr"], m["batch_size"]) == cell]
            rows += [{"grid": grid, **row} for row in summarize(inside, ("optimizer", "lr", "batch_size", "p"), METRICS)]
    return rows


def run_lr(settings: LRSettings | None = None, progress: Callable[[Progress], None] | None = None,
           cancelled: Callable[[], bool] | None = None) -> LRResult:
    """Train every sweep in turn (progress counts steps over all of them), then tabulate and judge.
    Cancelled: no rows and no verdicts, and it says so."""
    settings = settings or LRSettings()
    start = time.perf_counter()
    plan = settings.sweeps()
    total = sum(sweep.total_steps() for _, sweep in plan)
    done, members = 0, []
    for (opt, lr, batch), sweep in plan:
        def report(p: Progress, before: int = done) -> None:
            if progress is not None:
                progress(Progress(before + p.steps_done, total, time.perf_counter() - start))
        if cancelled is not None and cancelled():
            return LRResult(settings, elapsed=time.perf_counter() - start, cancelled=True)
        result = run_sweep(sweep, progress=report, cancelled=cancelled)
        if result.cancelled:
            return LRResult(settings, elapsed=time.perf_counter() - start, cancelled=True)
        members += [{**m, "optimizer": opt, "lr": lr, "batch_size": batch} for m in result.members]
        done += sweep.total_steps()
    return LRResult(settings, grid_rows(members, settings), best_rows(members, settings), judge(members, settings),
                    time.perf_counter() - start)


# -- the command line's table ----------------------------------------------------------------------
def _cell(row: dict[str, Any], metric: str) -> str:
    value, se = row.get(metric), row.get(metric + "_se")
    if value is None:
        return f"{'diverged':>15}"
    show = (lambda x: f"{100 * x:.1f}%") if metric.endswith("err") else (lambda x: f"{x:.3f}")
    text = show(value) + ("" if se is None else f"±{show(se)}")
    return f"{text:>13}{'*' if row['diverged'] else ' '} "


def lines(out: dict[str, Any]) -> list[str]:
    """The command line's tables (mean ± se over seeds; * = some seeds diverged), best lrs and verdicts."""
    cfg, metric = out["config"], out["config"]["metric"]
    ps = cfg["ps"]
    rows = [f"{out['title']}: {cfg['dataset']}, n={cfg['n_train']}, {cfg['depth']} x {cfg['width']} units, "
            f"{cfg['steps']} steps, {cfg['seeds']} seeds; final {metric} and train_loss"]
    if out["cancelled"]:
        return rows + [f"cancelled after {out['elapsed_s']:.1f} s"]
    head = "".join(f"{f'{metric} p={p:g}':>16}{f'train p={p:g}':>16}" for p in ps)
    for grid, title in (("lr", f"learning rate x p (batch {cfg['batch_size']})"),
                        ("batch", f"batch size x p (sgd, lr {cfg['batch_lr']:g})")):
        rows += ["", f"  {title}", f"  {'optimizer':<13}{'lr':>8}{'batch':>7}  {head}"]
        cells = {(r["optimizer"], r["lr"], r["batch_size"], r["p"]): r for r in out["grid"] if r["grid"] == grid}
        for opt, lr, batch in dict.fromkeys(k[:3] for k in cells):
            parts = "".join(_cell(cells[(opt, lr, batch, p)], metric) + _cell(cells[(opt, lr, batch, p)], "train_loss")
                            for p in ps if (opt, lr, batch, p) in cells)
            rows.append(f"  {opt:<13}{lr:>8g}{batch:>7}  {parts}")
    rows += ["", "  best learning rate per seed (lowest final " + metric + ")"]
    for b in out["best"]:
        lrs = " ".join("-" if v is None else f"{v:g}" for v in b["best_lr"])
        mean = "-" if b["geomean_lr"] is None else f"{b['geomean_lr']:.3g}"
        rows.append(f"  {b['optimizer']:<13} p={b['p']:<4g} {lrs}   (geometric mean {mean}; at the grid's bottom: "
                    f"{b['at_bottom']}, top: {b['at_top']})")
    rows.append("")
    for v in out["verdicts"]:
        rows.append(f"  [{v['status']}] {v['claim']}: {v['text']}")
        rows += [f"      {c['status']}: {c['text']} - {c['detail']}" for c in v["checks"]]
    rows.append(f"done in {out['elapsed_s']:.1f} s")
    return rows
