"""A lab's experiments by key, as ``python -m core reproduce <key>`` and its page's background job run them.

Each experiment lives in a module of the lab with a settings class (``from_json``/``to_json``, checked when
made), ``work(settings)`` (the estimate the job budget reads), a run function ``run(settings, progress,
cancelled)`` and ``lines(out)`` (the command line's table of its JSON). An ``Experiments`` table names them;
a ``Request`` names one experiment and its settings: what a page hands the worker pool. A module is imported
when first asked for, so each run pulls in only what its own experiment needs.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable

from core.engine.config import ConfigError


@dataclass(frozen=True)
class Entry:
    module: str  # the module's name inside the lab's package
    settings: str  # its settings class
    run: str  # its run function


@dataclass(frozen=True)
class Request:
    key: str
    settings: Any


class Experiments:
    """The table of one lab (``package``: where its modules live)."""

    def __init__(self, package: str, entries: dict[str, Entry]):
        self.package = package
        self.entries = dict(entries)
        self.keys = tuple(entries)

    def module(self, key: str) -> ModuleType:
        if key not in self.entries:
            raise ConfigError(f"experiment must be one of {', '.join(self.keys)}; got {key!r}")
        return importlib.import_module(f"{self.package}.{self.entries[key].module}")

    def settings_of(self, key: str, changes: dict[str, Any] | None = None) -> Any:
        """``key``'s settings: its defaults with ``changes`` (a setting it does not have is a ConfigError)."""
        settings_cls = getattr(self.module(key), self.entries[key].settings)
        return settings_cls.from_json({**settings_cls().to_json(), **(changes or {})})

    def request(self, key: str, changes: dict[str, Any] | None = None) -> Request:
        return Request(key, self.settings_of(key, changes))

    def run_request(self, req: Request, progress: Callable[[Any], None] | None = None,
                    cancelled: Callable[[], bool] | None = None) -> Any:
        return getattr(self.module(req.key), self.entries[req.key].run)(req.settings, progress, cancelled)

    def request_work(self, req: Request) -> float:
        return float(self.module(req.key).work(req.settings))

    def report_lines(self, out: dict[str, Any]) -> list[str]:
        return self.module(out["experiment"]).lines(out)
