"""Lesson 7's experiments by key, as ``python -m core reproduce <key>`` and the page's background job run them.

Each module (``dropconnect``, ``gaussian``, ``alpha_selu``, ``rnn``, ``droppath``, ``concrete``, ``early``)
has ``KEY``, ``TITLE``, ``CLAIM``, ``Settings``, ``work`` and ``run`` (``core.labs.variants.common``). A
``Request`` names one experiment and its settings; it is what the page hands the worker pool.
"""
from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

from core.engine.config import ConfigError
from core.engine.sweep import Progress
from core.labs.variants.common import VariantResult

_MODULE_NAMES = {"dropconnect": "dropconnect", "gaussian": "gaussian", "alpha-selu": "alpha_selu",
                 "variational-rnn": "rnn", "droppath": "droppath", "concrete": "concrete", "early-dropout": "early"}
KEYS = tuple(_MODULE_NAMES)
"""The lesson's order: dropconnect, gaussian, alpha-selu, variational-rnn, droppath, concrete, early-dropout."""


class _Modules(dict):
    """key -> its module, imported when first asked for (each pulls in only what its own experiment needs)."""

    def __missing__(self, key: str) -> ModuleType:
        if key not in _MODULE_NAMES:
            raise KeyError(key)
        module = importlib.import_module(f"core.labs.variants.{_MODULE_NAMES[key]}")
        self[key] = module
        return module

    def __contains__(self, key: object) -> bool:
        return key in _MODULE_NAMES


MODULES: dict[str, ModuleType] = _Modules()


@dataclass(frozen=True)
class Request:
    key: str
    settings: Any

    @property
    def module(self) -> ModuleType:
        return MODULES[self.key]


def settings_of(key: str, changes: dict[str, Any] | None = None) -> Any:
    """``key``'s settings: its defaults with ``changes`` (a setting it does not have is a ConfigError)."""
    if key not in MODULES:
        raise ConfigError(f"experiment must be one of {', '.join(KEYS)}; got {key!r}")
    settings_cls = MODULES[key].Settings
    return settings_cls.from_json({**settings_cls().to_json(), **(changes or {})})


def request(key: str, changes: dict[str, Any] | None = None) -> Request:
    return Request(key, settings_of(key, changes))


def run_request(req: Request, progress: Callable[[Progress], None] | None = None,
                cancelled: Callable[[], bool] | None = None) -> VariantResult:
    return req.module.run(req.settings, progress, cancelled)


def request_work(req: Request) -> float:
    return float(req.module.work(req.settings))


def _fmt(x: Any) -> str:
    if isinstance(x, float):
        return f"{x:.4g}" if math.isfinite(x) else "n/a"
    return str(x)


def report_lines(out: dict[str, Any]) -> list[str]:
    """The command line's table for one result's JSON: the claim, each side's numbers, the signature, the verdicts."""
    lines = [f"{out['title']}: {out['claim']}"]
    for row in out["summary"]:
        numbers = "   ".join(f"{k} {_fmt(row[k])} ± {_fmt(row.get(k + '_se', math.nan))}"
                               for k in row if k not in ("label", "seeds") and not k.endswith("_se"))
        lines.append(f"  {row['label']:<10} {numbers}")
    scalars = {k: v for k, v in out["signature"].items() if isinstance(v, (int, float, str))}
    if scalars:
        lines.append("  signature: " + ", ".join(f"{k} {_fmt(v)}" for k, v in scalars.items()))
    for v in out["verdicts"]:
        for c in v["checks"]:
            lines.append(f"  [{c['status']}] {c['text']}: {c['detail']}")
    if out.get("note"):
        lines.append(f"  note: {out['note']}")
    lines.append(f"done in {out['elapsed_s']:.1f} s")
    return lines
