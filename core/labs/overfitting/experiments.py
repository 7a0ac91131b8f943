"""The dropout papers' experiments as sweeps: each builds its members, runs them batched,
summarizes over seeds and judges the paper's claim against the numbers.

The page (pages/03_overfitting.py) and the command line (``python -m core reproduce``)
both call ``run_experiment``: one code path, so the page and the JSON always agree.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Callable

from core.analysis.early_stopping import stopped
from core.engine.config import ConfigError, DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine.plain import strict_json
from core.engine.sweep import Progress, Sweep, SweepResult, run_sweep
from core.labs.overfitting.verdicts import (
    REGULARIZERS,
    Verdict,
    judge_data_size,
    judge_fixed_pn,
    judge_rate_u_shape,
    judge_regularizers,
    judge_early_stopping,
    judge_train_val,
    summarize,
)

MAX_SEEDS = 20


@dataclass(frozen=True)
class Settings:
    """What a learner may change about an experiment; each experiment reads what it needs.

    ``hidden`` is the hidden widths (one per layer). ``rates`` are drop probabilities
    (Fig. 9a/9b), ``sizes`` training-set sizes (Fig. 10), ``p`` the dropout rate of the
    "with dropout" side elsewhere. ``steps`` (optional) trains for that many minibatch
    steps instead of ``epochs`` epochs, the same for every training-set size.
    """

    dataset: str = "circles"
    noise: float = 0.6
    n_train: int = 80
    n_val: int = 1000
    hidden: tuple[int, ...] = (128, 128)
    seeds: int = 8
    epochs: int = 300
    steps: int | None = None
    rates: tuple[float, ...] = (0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 0.9)
    sizes: tuple[int, ...] = (20, 40, 80, 160, 320, 640)
    p: float = 0.5
    weight_decay: float = 1e-4
    max_norm: float = 1.0
    lr: float = 0.003
    batch_size: int = 16

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(w) for w in self.hidden))
        # Sorted and without repeats: a repeated rate would count its seeds twice in the error bars.
        object.__setattr__(self, "rates", tuple(sorted({float(p) for p in self.rates})))
        object.__setattr__(self, "sizes", tuple(sorted({int(n) for n in self.sizes})))
        if not 1 <= self.seeds <= MAX_SEEDS:
            raise ConfigError(f"seeds must be in [1, {MAX_SEEDS}], got {self.seeds!r}")
        for p in (*self.rates, self.p):
            if not 0.0 <= p < 1.0:
                raise ConfigError(f"a dropout rate p (drop probability) must be in [0, 1), got {p!r}")
        # Everything else is checked by the run configs it builds; the sizes, by check_settings
        # for the experiments that use them.
        self.run_config(seed=self.seeds - 1)

    def run_config(self, *, p: float = 0.0, seed: int = 0, n_train: int | None = None,
                   hidden: tuple[int, ...] | None = None, weight_decay: float = 0.0, max_norm: float = 0.0) -> RunConfig:
        hidden = self.hidden if hidden is None else hidden
        n_train = self.n_train if n_train is None else n_train
        return RunConfig(
            data=DataConfig(self.dataset, self.noise, n_train, self.n_val, seed),
            model=ModelConfig(num_hiddens=hidden, p_hidden=(p,) * len(hidden)),
            train=TrainConfig(lr=self.lr, weight_decay=weight_decay, max_norm=max_norm, batch_size=self.batch_size,
                              max_epochs=self.epochs),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Settings:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**data)


def _fig9a(s: Settings) -> Sweep:
    members = [s.run_config(p=p, seed=seed) for p in s.rates for seed in range(s.seeds)]
    return Sweep(tuple(members), steps=s.steps)


def kept_width(width: int, p: float) -> int:
    """The width that keeps the expected number of kept units, (1 - p) * width, at ``width``."""
    return min(256, round(width / (1.0 - p)))


def _fig9b(s: Settings) -> Sweep:
    members, labels = [], []
    for p in s.rates:
        for seed in range(s.seeds):
            members.append(s.run_config(p=p, seed=seed))
            labels.append("fixed n")
            members.append(s.run_config(p=p, seed=seed, hidden=tuple(kept_width(w, p) for w in s.hidden)))
            labels.append("fixed (1−p)·n")
    return Sweep(tuple(members), tuple(labels), steps=s.steps)


def _fig10(s: Settings) -> Sweep:
    members, labels = [], []
    for n in s.sizes:
        for seed in range(s.seeds):
            for p, label in ((0.0, "no dropout"), (s.p, "dropout")):
                members.append(s.run_config(p=p, seed=seed, n_train=n))
                labels.append(label)
    return Sweep(tuple(members), tuple(labels), steps=s.steps)


def _hinton(s: Settings) -> Sweep:
    members, labels = [], []
    for seed in range(s.seeds):
        for p, label in ((0.0, "no dropout"), (s.p, "dropout")):
            members.append(s.run_config(p=p, seed=seed))
            labels.append(label)
    return Sweep(tuple(members), tuple(labels), steps=s.steps, curve_points=60)


def _table9(s: Settings) -> Sweep:
    kinds = {
        "none": {}, "L2": {"weight_decay": s.weight_decay}, "max-norm": {"max_norm": s.max_norm},
        "dropout": {"p": s.p}, "dropout + max-norm": {"p": s.p, "max_norm": s.max_norm},
        "dropout + L2": {"p": s.p, "weight_decay": s.weight_decay},
    }
    assert tuple(kinds) == REGULARIZERS
    members, labels = [], []
    for label, extra in kinds.items():
        for seed in range(s.seeds):
            members.append(s.run_config(seed=seed, **extra))
            labels.append(label)
    return Sweep(tuple(members), tuple(labels), steps=s.steps)


METRICS = ("val_err", "train_err", "val_loss", "train_loss")


@dataclass(frozen=True)
class Experiment:
    key: str
    title: str
    source: str
    claim: str
    defaults: Settings
    build: Callable[[Settings], Sweep]
    group_by: tuple[str, ...]  # member fields that define one row of the summary
    judge: Callable[[list[dict[str, Any]]], Verdict]
    uses: tuple[str, ...]  # the settings this experiment reads beyond the common ones


EXPERIMENTS: dict[str, Experiment] = {e.key: e for e in (
    Experiment(
        "fig9a", "Validation error vs the dropout rate", "Srivastava et al. 2014, Fig. 9a",
        "Validation error is U-shaped in p: too little and too much dropout both hurt, and at very high p "
        "the network underfits (its training error rises).",
        Settings(), _fig9a, ("p",), judge_rate_u_shape, ("rates",),
    ),
    Experiment(
        "fig9b", "Keeping (1 − p)·n fixed", "Srivastava et al. 2014, Fig. 9b",
        "Making the layers wider as p grows, so that (1 - p)·n units are kept on average, helps most at the "
        "high-p end, where a fixed-width network underfits.",
        Settings(hidden=(24, 24), seeds=6, rates=(0.0, 0.5, 0.8, 0.9)), _fig9b, ("label", "p"), judge_fixed_pn, ("rates",),
    ),
    Experiment(
        "fig10", "The gain from dropout vs training-set size", "Srivastava et al. 2014, Fig. 10",
        "Dropout gains little on the smallest training sets (the network can still overfit them, dropout's "
        "noise and all) and on the largest (little overfitting left to prevent); the gain is largest in between.",
        Settings(steps=1500, seeds=10), _fig10, ("label", "n_train"), judge_data_size, ("sizes", "p"),
    ),
    Experiment(
        "hinton", "Training loss up, validation loss down", "After Hinton et al. 2012",
        "Hinton et al. (2012) report lower test errors with dropout; the mechanism checked here, as the app "
        "measures it: with dropout the training loss ends higher and the validation loss lower than without.",
        Settings(), _hinton, ("label",), judge_train_val, ("p",),
    ),
    Experiment(
        "table9", "A regularizer shoot-out", "Srivastava et al. 2014, Table 9",
        "On the same data and seeds, dropout combined with max-norm gives the lowest validation error of the "
        "regularizers compared: L2, max-norm, dropout + L2 and dropout + max-norm from the paper's table, plus "
        "no regularizer and plain dropout as baselines.",
        Settings(), _table9, ("label",), judge_regularizers, ("p", "weight_decay", "max_norm"),
    ),
)}


@dataclass
class ExperimentResult:
    experiment: str
    settings: Settings
    sweep: SweepResult
    rows: list[dict[str, Any]]
    verdict: Verdict | None
    rival: Verdict | None = None  # hinton: dropout against the no-dropout run stopped at its best epoch

    @property
    def cancelled(self) -> bool:
        return self.sweep.cancelled

    def to_json(self) -> dict[str, Any]:
        e = EXPERIMENTS[self.experiment]
        return strict_json({
            "experiment": e.key, "title": e.title, "source": e.source, "claim": e.claim,
            "config": self.settings.to_json(), **self.sweep.to_json(), "summary": self.rows,
            "verdict": None if self.verdict is None else self.verdict.to_json(),
            **({"rival": self.rival.to_json()} if self.rival is not None else {}),
        })


def check_settings(key: str, settings: Settings) -> None:
    """Refuse, before training, what the experiment's claim cannot be judged on."""
    e = EXPERIMENTS[key]
    if "rates" in e.uses and len(set(settings.rates)) < 3:
        raise ConfigError(f"{e.source} needs at least three dropout rates (two ends and a middle)")
    if "sizes" in e.uses:
        if len(set(settings.sizes)) < 3:
            raise ConfigError(f"{e.source} needs at least three training-set sizes (two ends and a middle)")
        for n in settings.sizes:
            settings.run_config(n_train=n)  # each size must make a valid run (digits: n + n_val <= 1797)


def experiment_work(key: str, settings: Settings | None = None) -> float:
    """Estimated multiply-adds of experiment ``key`` on ``settings`` (``Sweep.work``), for the budget."""
    e = EXPERIMENTS[key]
    return e.build(settings or e.defaults).work()


def run_experiment(
    key: str, settings: Settings | None = None,
    progress: Callable[[Progress], None] | None = None, cancelled: Callable[[], bool] | None = None,
) -> ExperimentResult:
    if key not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {key!r}; choose one of {', '.join(EXPERIMENTS)}")
    e = EXPERIMENTS[key]
    settings = settings or e.defaults
    check_settings(key, settings)
    result = run_sweep(e.build(settings), progress=progress, cancelled=cancelled)
    if result.cancelled:
        return ExperimentResult(key, settings, result, [], None)
    rows = summarize(result.members, e.group_by, METRICS)
    rival = None
    if key == "hinton":  # early stopping, the rival: the no-dropout runs at their best epoch
        names = {"no dropout": STOPPED, "dropout": BOTH}
        early = [{**stopped(m), "label": names[m["label"]]} for m in result.members]
        rows += summarize(early, e.group_by, METRICS)
        rival = judge_early_stopping(result.members + early)
    return ExperimentResult(key, settings, result, rows, e.judge(result.members), rival)


STOPPED, BOTH = "no dropout, stopped early", "dropout, stopped early"

