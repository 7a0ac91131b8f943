"""Frozen configs for one Playground run: the data, the model, the training.

A config is what the widgets return, what a preset stores, what a link carries
and what a test builds. Each validates itself on construction and raises
``ConfigError`` with a sentence a learner can read.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math

from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar

import numpy as np

PLANE_DATASETS = ("moons", "circles", "xor", "gaussians", "spirals")
DATASETS = PLANE_DATASETS + ("digits",)
"""The 2-D sets (the Playground's) and the 8x8 digits that ship with scikit-learn (sweeps)."""
DIGITS_SIZE = 1797  # images in scikit-learn's digits set; train and validation are drawn from them
ACTIVATIONS = ("relu", "tanh", "gelu", "selu", "sigmoid")
OPTIMIZERS = ("sgd", "sgd+momentum", "adam")
DEVICES = ("auto", "cpu", "cuda")
MAX_HIDDEN_LAYERS = 4
MLP_VARIANTS = ("standard", "gaussian", "alpha", "dropconnect", "concrete")
"""Dropout variants an MLP layer may use (``core.engine.variants.VARIANTS``, the ones with ``in_mlp``)."""
MAX_NUISANCE = 50
"""At most this many irrelevant noise inputs can be appended to a 2-D set (``DataConfig.nuisance``)."""
UPLOADED = "uploaded"
"""``DataConfig.dataset`` of points a learner uploaded (``core.engine.upload``), carried in the config itself."""
UPLOAD_LIMIT = 1.5
"""Uploaded coordinates lie in [-UPLOAD_LIMIT, UPLOAD_LIMIT]: the upload scales each axis into it, inside the
decision maps' square (``core.engine.datasets.EXTENT``)."""
N_POINTS = (20, 2000)
"""The fewest and the most training (and validation) points a run has."""
Point = tuple[float, float, int]
"""An uploaded point: x, y and its class (0 or 1)."""


class ConfigError(ValueError):
    """A config value is out of range; the message names the field and the range."""


class JsonSettings:
    """``to_json`` / ``from_json`` for a frozen settings dataclass: every field as it is, and a setting it does
    not have refused by name (the settings' own checks run when the class is made)."""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Any:
        unknown = set(data) - set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**data)


def _check_range(name: str, value: float, lo: float, hi: float, *, hi_open: bool = False) -> None:
    ok = lo <= value < hi if hi_open else lo <= value <= hi
    if not ok:
        bracket = ")" if hi_open else "]"
        raise ConfigError(f"{name} must be in [{lo}, {hi}{bracket}, got {value!r}")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def check_number(name: str, value: Any, lo: float, hi: float, *, hi_open: bool = False, integer: bool = False) -> None:
    """Like the configs' own checks, for settings given by code: a number (a whole one if
    ``integer``; never a bool) in [lo, hi] (or [lo, hi)), else ConfigError naming the field."""
    if integer and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
        raise ConfigError(f"{name} must be a whole number in [{lo}, {hi}], got {value!r}")
    if not isinstance(value, (int, float, np.integer, np.floating)) or isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    ok = lo <= value < hi if hi_open else lo <= value <= hi
    if not ok:
        raise ConfigError(f"{name} must be in [{lo}, {hi}{')' if hi_open else ']'}, got {value!r}")


check_choice = _check_choice


# The defaults are what a newcomer sees first: a small, noisy training set and a wide
# network, so that the same network without dropout visibly overfits within 300 epochs.


@dataclass(frozen=True)
class DataConfig:
    dataset: str = "moons"
    noise: float = 0.5
    n_train: int = 40
    n_val: int = 400
    seed: int = 0
    nuisance: int = 0  # irrelevant noise inputs appended to the two real ones (2-D sets only)
    # uploaded data only: its points, in the config so that they travel to a worker and equal uploads compare
    # equal; not in a flat dict or a link (``to_flat``), where ``upload``, their fingerprint, names them
    train_points: tuple[Point, ...] = field(default=(), repr=False, metadata={"flat": False})
    val_points: tuple[Point, ...] = field(default=(), repr=False, metadata={"flat": False})
    upload: str = ""  # the points' fingerprint, set here from them: "" unless the dataset is "uploaded"

    def __post_init__(self) -> None:
        _check_choice("dataset", self.dataset, DATASETS + (UPLOADED,))
        _check_range("noise", self.noise, 0.0, 1.0)
        _check_range("n_train", self.n_train, *N_POINTS)
        _check_range("n_val", self.n_val, *N_POINTS)
        _check_range("seed", self.seed, 0, 2**31 - 1)
        _check_range("nuisance inputs", self.nuisance, 0, MAX_NUISANCE)
        self._check_points()
        if self.nuisance and self.dataset not in PLANE_DATASETS + (UPLOADED,):
            raise ConfigError(f"nuisance inputs are added to the 2-D sets only, not to {self.dataset!r}")
        if self.dataset == "digits" and self.n_train + self.n_val > DIGITS_SIZE:
            raise ConfigError(
                f"digits has {DIGITS_SIZE} images: n_train + n_val must be at most that, "
                f"got {self.n_train} + {self.n_val}"
            )

    def _check_points(self) -> None:
        """Uploaded data: its points as plain tuples, as many as n_train and n_val say, each in the plane's
        square with a class 0 or 1, both classes among the training points; no points for any other set."""
        if self.dataset != UPLOADED:
            if self.train_points or self.val_points or self.upload:
                raise ConfigError(f"points are carried by uploaded data only, not by {self.dataset!r}")
            return
        if self.noise != 0.0:
            raise ConfigError("uploaded points have no noise setting: noise must be 0")
        for name, points, n in (("train_points", self.train_points, self.n_train),
                                ("val_points", self.val_points, self.n_val)):
            try:
                points = tuple((float(x), float(y), int(c)) for x, y, c in points)
            except (TypeError, ValueError):
                raise ConfigError(f"{name} must be (x, y, class) triples of numbers") from None
            if len(points) != n:
                raise ConfigError(f"{name} holds {len(points)} points but n_{name[:-7]} is {n}; a link cannot "
                                  "carry uploaded points: upload the file again")
            for x, y, c in points:
                if not (math.isfinite(x) and math.isfinite(y) and abs(x) <= UPLOAD_LIMIT and abs(y) <= UPLOAD_LIMIT):
                    raise ConfigError(f"uploaded coordinates must be finite and within ±{UPLOAD_LIMIT}, got {(x, y)}")
                if c not in (0, 1):
                    raise ConfigError(f"an uploaded point's class must be 0 or 1, got {c}")
            object.__setattr__(self, name, points)
        if len({c for _, _, c in self.train_points}) < 2:
            raise ConfigError("the uploaded training points must hold both classes")
        digest = hashlib.sha256(repr((self.train_points, self.val_points)).encode()).hexdigest()[:12]
        object.__setattr__(self, "upload", digest)  # whatever was given: a fingerprint always fits its points


@dataclass(frozen=True)
class ModelConfig:
    """An MLP from 2 inputs to 2 classes. ``p_hidden[i]`` is the DROP probability after hidden layer i."""

    arch: ClassVar[str] = "mlp"
    num_hiddens: tuple[int, ...] = (128, 128)
    activation: str = "relu"
    p_input: float = 0.0
    p_hidden: tuple[float, ...] = (0.5, 0.5)
    classic: bool = False
    batchnorm: bool = False  # BatchNorm1d after each hidden Linear (before the activation)
    variants: tuple[str, ...] = ()  # per hidden layer, one of MLP_VARIANTS; () = standard dropout everywhere

    def __post_init__(self) -> None:
        object.__setattr__(self, "num_hiddens", tuple(int(w) for w in self.num_hiddens))
        object.__setattr__(self, "p_hidden", tuple(float(p) for p in self.p_hidden))
        object.__setattr__(self, "variants", tuple(str(v) for v in self.variants))
        if all(v == "standard" for v in self.variants):
            object.__setattr__(self, "variants", ())  # one spelling for "standard everywhere"
        _check_range("number of hidden layers", len(self.num_hiddens), 1, MAX_HIDDEN_LAYERS)
        for w in self.num_hiddens:
            _check_range("hidden width", w, 2, 256)
        if len(self.p_hidden) != len(self.num_hiddens):
            raise ConfigError(
                f"p_hidden needs one drop probability per hidden layer "
                f"({len(self.num_hiddens)}), got {len(self.p_hidden)}"
            )
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_range("p_input", self.p_input, 0.0, 1.0, hi_open=True)
        for p in self.p_hidden:
            _check_range("p_hidden", p, 0.0, 1.0, hi_open=True)
        if self.variants:
            if len(self.variants) != len(self.num_hiddens):
                raise ConfigError(f"variants needs one dropout variant per hidden layer "
                                  f"({len(self.num_hiddens)}), got {len(self.variants)}")
            for v in self.variants:
                _check_choice("dropout variant", v, MLP_VARIANTS)
            if self.classic:
                raise ConfigError("classic (unscaled) dropout is for the standard variant only")
            for v, p in zip(self.variants, self.p_hidden):
                if v == "concrete" and p == 0.0:
                    raise ConfigError("concrete dropout learns p from a starting value in (0, 1); p = 0 is not one")

    def layer_variants(self) -> tuple[str, ...]:
        """The dropout variant of each hidden layer (``standard`` where none is set)."""
        return self.variants or ("standard",) * len(self.num_hiddens)

    def with_p(self, p_input: float | None = None, p_hidden: tuple[float, ...] | None = None) -> ModelConfig:
        return replace(
            self,
            p_input=self.p_input if p_input is None else p_input,
            p_hidden=self.p_hidden if p_hidden is None else tuple(p_hidden),
        )

    def same_architecture(self, other: ModelConfig) -> bool:
        """True when weights of one model fit the other (dropout rates may differ)."""
        return (self.num_hiddens, self.activation) == (other.num_hiddens, other.activation)


CNN_KINDS = ("none", "element", "channel", "block")
"""Dropout kinds of a convolutional layer (``core.engine.spatial``); ``none`` has no dropout layer."""
CNN_IMAGE_SIZES = (8, 16, 24)
"""The digits are 8x8; larger sizes upsample them (bilinear), so neighbouring pixels correlate more."""
MAX_CONV_LAYERS = 3


@dataclass(frozen=True)
class CNNConfig:
    """A small CNN on the digits: per conv layer a 3x3 convolution (``channels[i]`` maps), the activation,
    then dropout of ``kinds[i]`` with drop probability ``p_hidden[i]``; then 2x2 max-pooling and one
    Linear layer to the classes. ``p_input`` drops input pixels (element-wise). ``image_size``
    upsamples the 8x8 digits first. ``block_size`` and ``ramp_steps`` are DropBlock's."""

    arch: ClassVar[str] = "cnn"
    channels: tuple[int, ...] = (8, 8)
    kinds: tuple[str, ...] = ("channel", "channel")
    p_hidden: tuple[float, ...] = (0.3, 0.3)
    p_input: float = 0.0
    activation: str = "relu"
    image_size: int = 8
    block_size: int = 3
    ramp_steps: int = 0
    classic: bool = False  # kept for the trainer's sake; the CNN's dropout is always inverted

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "kinds", tuple(str(k) for k in self.kinds))
        object.__setattr__(self, "p_hidden", tuple(float(p) for p in self.p_hidden))
        _check_range("number of conv layers", len(self.channels), 1, MAX_CONV_LAYERS)
        for c in self.channels:
            _check_range("channels", c, 1, 64)
        for name, values in (("kinds", self.kinds), ("p_hidden", self.p_hidden)):
            if len(values) != len(self.channels):
                raise ConfigError(f"{name} needs one value per conv layer ({len(self.channels)}), got {len(values)}")
        for kind in self.kinds:
            _check_choice("dropout kind", kind, CNN_KINDS)
        for p in self.p_hidden:
            _check_range("p_hidden", p, 0.0, 1.0, hi_open=True)
        _check_range("p_input", self.p_input, 0.0, 1.0, hi_open=True)
        _check_choice("activation", self.activation, ACTIVATIONS)
        if self.image_size not in CNN_IMAGE_SIZES:
            raise ConfigError(f"image_size must be one of {', '.join(map(str, CNN_IMAGE_SIZES))}; got {self.image_size!r}")
        _check_range("block_size", self.block_size, 1, self.image_size)
        _check_range("ramp_steps", self.ramp_steps, 0, 1_000_000)
        if self.classic:
            raise ConfigError("the CNN's dropout is inverted only; classic=True is for the MLP")

    def with_p(self, p_input: float | None = None, p_hidden: tuple[float, ...] | None = None) -> CNNConfig:
        return replace(
            self,
            p_input=self.p_input if p_input is None else p_input,
            p_hidden=self.p_hidden if p_hidden is None else tuple(p_hidden),
        )

    def same_architecture(self, other: Any) -> bool:
        """True when weights of one model fit the other (dropout kinds and rates may differ)."""
        return isinstance(other, CNNConfig) and \
            (self.channels, self.activation, self.image_size) == (other.channels, other.activation, other.image_size)


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str = "adam"
    lr: float = 0.003
    weight_decay: float = 0.0
    max_norm: float = 0.0  # 0 = off; else each unit's incoming weight vector is clipped to this L2 norm
    batch_size: int = 16
    max_epochs: int = 300
    device: str = "auto"

    def __post_init__(self) -> None:
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_range("lr", self.lr, 1e-5, 10.0)
        _check_range("weight_decay", self.weight_decay, 0.0, 1.0)
        _check_range("max_norm", self.max_norm, 0.0, 100.0)
        _check_range("batch_size", self.batch_size, 1, 2000)
        _check_range("max_epochs", self.max_epochs, 1, 100_000)
        _check_choice("device", self.device, DEVICES)


@dataclass(frozen=True)
class RunConfig:
    """One run: the data, the model (an MLP's ``ModelConfig`` or a ``CNNConfig``), the training."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig | CNNConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_flat(self) -> dict[str, Any]:
        return to_flat(self)

    @classmethod
    def from_flat(cls, flat: dict[str, Any]) -> RunConfig:
        return from_flat(flat)

    def __post_init__(self) -> None:
        if isinstance(self.model, CNNConfig) and self.data.dataset != "digits":
            raise ConfigError(f"the CNN trains on the digits (8x8 images), not on {self.data.dataset!r}")


_PARTS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}
_TUPLE_FIELDS = {"num_hiddens": int, "p_hidden": float, "channels": int, "kinds": str, "variants": str}


def to_flat(cfg: RunConfig) -> dict[str, Any]:
    """``{"data.noise": 0.3, "model.p_hidden": "0.5,0.5", ...}``: plain str/int/float/bool values only."""
    flat: dict[str, Any] = {}
    for part in _PARTS:
        sub = getattr(cfg, part)
        for f in _flat_fields(sub):
            value = getattr(sub, f.name)
            if isinstance(value, tuple):
                value = ",".join(str(v) for v in value)
            flat[f"{part}.{f.name}"] = value
    return flat


def _flat_fields(sub: Any) -> list[dataclasses.Field]:
    """The fields a flat dict carries: all but uploaded points (``DataConfig.upload`` names them)."""
    return [f for f in fields(sub) if f.metadata.get("flat", True)]


def _coerce(name: str, raw: Any, default: Any) -> Any:
    """Turn a plain value (possibly a string from a URL) into the type of ``default``."""
    try:
        if name in _TUPLE_FIELDS:
            items = raw if isinstance(raw, (list, tuple)) else str(raw).split(",")
            return tuple(_TUPLE_FIELDS[name](str(v).strip()) for v in items if str(v).strip())
        if isinstance(default, bool):
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if isinstance(default, int):
            number = float(raw)
            if not number.is_integer():
                raise ValueError
            return int(number)
        if isinstance(default, float):
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: cannot read {raw!r} as {type(default).__name__}") from None


def from_flat(flat: dict[str, Any], base: RunConfig | None = None) -> RunConfig:
    """Build a RunConfig from a flat dict; missing keys keep ``base`` (default: the defaults).

    Unknown keys raise ``ConfigError``, so a mistyped link is reported, not ignored.
    """
    base = base or RunConfig()
    updates: dict[str, dict[str, Any]] = {part: {} for part in _PARTS}
    for key, raw in flat.items():
        part, _, name = key.partition(".")
        if part not in _PARTS or name not in {f.name for f in _flat_fields(getattr(base, part))}:
            raise ConfigError(f"unknown setting {key!r}")
        updates[part][name] = _coerce(name, raw, getattr(getattr(base, part), name))
    return RunConfig(**{part: replace(getattr(base, part), **updates[part]) for part in _PARTS})
