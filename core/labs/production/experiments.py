"""Lesson 9's experiments by key (``core.engine.registry``): ``leak`` (core.labs.production.leak), serving
accuracy against the context layer's p over seeds, and ``serving`` (serving), the export's determinism check
and the cost of Monte-Carlo passes per request."""
from __future__ import annotations

from core.engine.registry import Entry, Experiments, Request

TABLE = Experiments("core.labs.production", {
    "leak": Entry("leak", "LeakSettings", "run_leak"),
    "serving": Entry("serving", "ServingSettings", "run_serving"),
})
KEYS = TABLE.keys
"""The lesson's order: the leaked feature, then serving."""
module, settings_of, request = TABLE.module, TABLE.settings_of, TABLE.request
run_request, request_work, report_lines = TABLE.run_request, TABLE.request_work, TABLE.report_lines
__all__ = ["KEYS", "TABLE", "Request", "module", "settings_of", "request", "run_request", "request_work",
           "report_lines"]
