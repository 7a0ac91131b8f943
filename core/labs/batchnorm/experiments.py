"""Lesson 8's experiments by key, as ``python -m core reproduce <key>`` and the page's background job run them.

``bn-shift`` (core.labs.batchnorm.shift), ``bn-fixes`` (fixes), ``bn-mc`` (mc) and ``dropout-lr`` (lr): each
module has ``KEY``, a settings class with ``from_json``/``to_json``, ``work``, a run function and ``lines``
(the command line's table). A ``Request`` names one experiment and its settings: what the page hands the
worker pool.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from core.engine.config import ConfigError
from core.engine.sweep import Progress


@dataclass(frozen=True)
class Entry:
    module: str
    settings: str
    run: str


ENTRIES = {
    "bn-shift": Entry("shift", "ShiftSettings", "measure_shift"),
    "bn-fixes": Entry("fixes", "FixSettings", "run_fixes"),
    "bn-mc": Entry("mc", "MCSettings", "run_mc"),
    "dropout-lr": Entry("lr", "LRSettings", "run_lr"),
}
KEYS = tuple(ENTRIES)
"""The lesson's order: the shift, what it costs and its fixes, MC dropout with BatchNorm, batch size and lr."""


def module(key: str) -> Any:
    if key not in ENTRIES:
        raise ConfigError(f"experiment must be one of {', '.join(KEYS)}; got {key!r}")
    return importlib.import_module(f"core.labs.batchnorm.{ENTRIES[key].module}")


@dataclass(frozen=True)
class Request:
    key: str
    settings: Any


def settings_of(key: str, changes: dict[str, Any] | None = None) -> Any:
    """``key``'s settings: its defaults with ``changes`` (a setting it does not have is a ConfigError)."""
    settings_cls = getattr(module(key), ENTRIES[key].settings)
    return settings_cls.from_json({**settings_cls().to_json(), **(changes or {})})


def request(key: str, changes: dict[str, Any] | None = None) -> Request:
    return Request(key, settings_of(key, changes))


def run_request(req: Request, progress: Callable[[Progress], None] | None = None,
                cancelled: Callable[[], bool] | None = None) -> Any:
    return getattr(module(req.key), ENTRIES[req.key].run)(req.settings, progress, cancelled)


def request_work(req: Request) -> float:
    return float(module(req.key).work(req.settings))


def report_lines(out: dict[str, Any]) -> list[str]:
    return module(out["experiment"]).lines(out)
