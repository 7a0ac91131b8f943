"""Lesson 6's "spatial" experiment: no dropout, element, channel and block dropout on the same CNN, judged.

Every kind trains on every seed, at the same drop probability ``p`` in every conv layer (``none``
has no dropout). Seeds are paired: seed s means the same training digits, the same initial weights
and the same minibatch order for every kind, so a kind is compared with another seed by seed
(``core.analysis.verdicts``: a paired t-test at the two-sided 5 % level). All members train as one
batched sweep (``core.engine.sweep.run_sweep``). The claims, each fixed before looking at the data:

- dropping elements beats no dropout (a lower final validation loss);
- dropping whole channels beats dropping elements (Tompson et al. 2015: neighbouring activations
  are correlated, so a dropped element is rebuilt from its neighbours and barely regularizes);
- dropping blocks beats dropping elements (Ghiasi et al. 2018, DropBlock, for the same reason).

Each is reported as holds / does not hold / unclear, with its numbers. These are claims about
large networks on large images; on a small CNN on 8x8 digits trained for seconds they need not
hold, and the result says whatever the numbers say.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Callable

from core.analysis.verdicts import Verdict, by_seed, check_larger, combine, num, summarize
from core.engine.config import (DIGITS_SIZE, MAX_CONV_LAYERS, CNNConfig, ConfigError, DataConfig, RunConfig,
                                TrainConfig, check_number)
from core.engine.plain import strict_json
from core.engine.sweep import Progress, Sweep, SweepResult, run_sweep

KINDS = ("none", "element", "channel", "block")
IMAGE_SIZES = (8, 16)
MAX_SEEDS = 20
MAX_EPOCHS = 200
METRICS = ("val_loss", "val_err", "train_loss", "train_err")

TITLE = "Element, channel or block dropout?"
CLAIM = ("At the same drop probability, dropping whole channels or blocks of a feature map regularizes a CNN "
         "better than dropping single elements (whose neighbours rebuild them), and element-wise dropout still "
         "beats none: lower validation loss, seed for seed.")

# (winner, loser, words): the winner's final validation loss is claimed to be lower.
CLAIMS = (
    ("element", "none", "element-wise dropout gives a lower validation loss than no dropout"),
    ("channel", "element", "channel dropout gives a lower validation loss than element-wise dropout"),
    ("block", "element", "block dropout (DropBlock) gives a lower validation loss than element-wise dropout"),
)


@dataclass(frozen=True)
class SpatialSettings:
    """What a learner may change about the spatial experiment; checked when made (ConfigError sentences).

    ``p`` is the drop probability of every conv layer for the three dropout kinds; ``channels`` the
    maps per conv layer; ``image_size`` 16 upsamples the 8x8 digits (neighbours then correlate more)."""

    p: float = 0.3
    seeds: int = 8
    epochs: int = 100
    n_train: int = 300
    n_val: int = 1000
    image_size: int = 8
    block_size: int = 3
    channels: tuple[int, ...] = (8, 8)
    lr: float = 0.003
    batch_size: int = 32

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(self.channels))
        check_number("p", self.p, 0.01, 0.95)
        check_number("seeds", self.seeds, 2, MAX_SEEDS, integer=True)
        check_number("epochs", self.epochs, 1, MAX_EPOCHS, integer=True)
        check_number("n_val", self.n_val, 100, 1000, integer=True)
        check_number("n_train", self.n_train, 20, DIGITS_SIZE - self.n_val, integer=True)
        if self.image_size not in IMAGE_SIZES:
            raise ConfigError(f"image_size must be 8 or 16, got {self.image_size!r}")
        check_number("block_size", self.block_size, 1, self.image_size, integer=True)
        check_number("number of conv layers", len(self.channels), 1, MAX_CONV_LAYERS, integer=True)
        for c in self.channels:
            check_number("channels", c, 1, 32, integer=True)
        check_number("lr", self.lr, 1e-5, 1.0)
        check_number("batch_size", self.batch_size, 1, self.n_train, integer=True)

    def run_config(self, kind: str, seed: int) -> RunConfig:
        """The member of ``kind`` on ``seed``: every conv layer drops with ``kind`` at ``p`` (none: p = 0)."""
        layers = len(self.channels)
        p = 0.0 if kind == "none" else self.p
        return RunConfig(
            DataConfig("digits", 0.0, self.n_train, self.n_val, seed),
            CNNConfig(channels=self.channels, kinds=(kind,) * layers, p_hidden=(p,) * layers,
                      image_size=self.image_size, block_size=self.block_size),
            TrainConfig(lr=self.lr, batch_size=self.batch_size, max_epochs=self.epochs),
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SpatialSettings:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**data)


def spatial_sweep(settings: SpatialSettings) -> Sweep:
    """Every kind on every seed, labelled by kind, as one sweep."""
    pairs = [(kind, seed) for kind in KINDS for seed in range(settings.seeds)]
    return Sweep(tuple(settings.run_config(kind, seed) for kind, seed in pairs), tuple(kind for kind, _ in pairs))


def spatial_work(settings: SpatialSettings | None = None) -> float:
    """Estimated multiply-adds of the experiment (``Sweep.work``), for the server's budget."""
    return spatial_sweep(settings or SpatialSettings()).work()


def judge_spatial(members: list[dict[str, Any]]) -> tuple[tuple[str, Verdict], ...]:
    """One verdict per claim (``CLAIMS``), on the members' final validation losses, seed for seed."""
    loss = {kind: by_seed(members, "val_loss", label=kind) for kind in KINDS}
    return tuple(
        (f"{winner} beats {loser}",
         combine([check_larger(words, loss[loser], loss[winner], num, (loser, winner))]))
        for winner, loser, words in CLAIMS
    )


@dataclass
class SpatialResult:
    settings: SpatialSettings
    sweep: SweepResult
    rows: list[dict[str, Any]]  # per kind: each metric's mean and se over the seeds
    verdicts: tuple[tuple[str, Verdict], ...]  # empty when cancelled

    @property
    def cancelled(self) -> bool:
        return self.sweep.cancelled

    def to_json(self) -> dict[str, Any]:
        return strict_json({
            "experiment": "spatial", "title": TITLE, "claim": CLAIM, "config": self.settings.to_json(),
            **self.sweep.to_json(), "summary": self.rows,
            "verdicts": [{"claim": name, **verdict.to_json()} for name, verdict in self.verdicts],
        })


def run_spatial(
    settings: SpatialSettings | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> SpatialResult:
    """Train the sweep, summarize per kind, judge the claims. Cancelled: no rows, no verdicts, and it says so."""
    settings = settings or SpatialSettings()
    result = run_sweep(spatial_sweep(settings), progress=progress, cancelled=cancelled)
    if result.cancelled:
        return SpatialResult(settings, result, [], ())
    return SpatialResult(settings, result, summarize(result.members, ("label",), METRICS), judge_spatial(result.members))
