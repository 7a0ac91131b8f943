"""Lesson 8's experiments by key (``core.engine.registry``): ``bn-shift`` (core.labs.batchnorm.shift),
``bn-fixes`` (fixes), ``bn-mc`` (mc) and ``dropout-lr`` (lr)."""
from __future__ import annotations

from core.engine.registry import Entry, Experiments, Request

TABLE = Experiments("core.labs.batchnorm", {
    "bn-shift": Entry("shift", "ShiftSettings", "measure_shift"),
    "bn-fixes": Entry("fixes", "FixSettings", "run_fixes"),
    "bn-mc": Entry("mc", "MCSettings", "run_mc"),
    "dropout-lr": Entry("lr", "LRSettings", "run_lr"),
})
KEYS = TABLE.keys
"""The lesson's order: the shift, what it costs and its fixes, MC dropout with BatchNorm, batch size and lr."""
module, settings_of, request = TABLE.module, TABLE.settings_of, TABLE.request
run_request, request_work, report_lines = TABLE.run_request, TABLE.request_work, TABLE.report_lines
__all__ = ["KEYS", "TABLE", "Request", "module", "settings_of", "request", "run_request", "request_work",
           "report_lines"]
