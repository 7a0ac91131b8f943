"""What the interview's judges share: a learner's file loaded as a module, and a report of named checks.

A report is plain data (it travels back from the sandbox as strict JSON)::

    {"status": "accepted" | "rejected" | "unusable", "error": sentence or None,
     "checks": [{"check", "passed", "message"}], "failures": [{"check", "message"}],
     "misconceptions": [keys of lessons/bank/misconceptions.toml, in check order]}

``unusable`` means nothing could be graded (a syntax error, the name missing, an import that failed).
"""
from __future__ import annotations

import traceback
from typing import Any, Callable

Emit = Callable[[dict], None] | None
Z = 5.0  # standard errors a statistical check allows


class Unusable(Exception):
    """Nothing can be graded: the message says why, in one sentence."""


class Report:
    def __init__(self) -> None:
        self.checks: list[dict[str, Any]] = []
        self.misconceptions: list[str] = []

    def add(self, check: str, passed: bool, message: str = "", misconception: str | None = None) -> bool:
        self.checks.append({"check": check, "passed": bool(passed), "message": message})
        if not passed and misconception and misconception not in self.misconceptions:
            self.misconceptions.append(misconception)
        return bool(passed)

    def run(self, check: str, fn: Callable[[], tuple[bool, str, str | None]]) -> bool:
        """One check: ``fn`` returns (passed, message, misconception); an exception from the learner's code fails it."""
        try:
            passed, message, misconception = fn()
        except Exception as exc:  # the learner's code raised: that is this check's failure, not the judge's
            return self.add(check, False, f"your code raised {last_line(exc)}")
        return self.add(check, passed, message, misconception)

    def result(self) -> dict[str, Any]:
        failures = [{"check": c["check"], "message": c["message"]} for c in self.checks if not c["passed"]]
        return {"status": "rejected" if failures else "accepted", "error": None, "checks": self.checks,
                "failures": failures, "misconceptions": self.misconceptions}


def unusable_report(error: str) -> dict[str, Any]:
    return {"status": "unusable", "error": error, "checks": [], "failures": [], "misconceptions": []}


def last_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip().splitlines()
    return text[-1] if text else type(exc).__name__


def load_solution(path: str, name: str) -> Any:
    """The learner's file run as a module; ``name`` taken from it. Raises Unusable with a sentence."""
    try:
        with open(path, encoding="utf-8") as fh:
            source = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise Unusable(f"the file could not be read ({last_line(exc)})") from None
    try:
        code = compile(source, "solution.py", "exec")
    except SyntaxError as exc:
        raise Unusable(f"line {exc.lineno}: {exc.msg} (a syntax error, so nothing ran)") from None
    namespace: dict[str, Any] = {"__name__": "solution", "__file__": path}
    try:
        exec(code, namespace)  # noqa: S102 - learner code, inside the locked sandbox process
    except Exception as exc:
        line = next((f.lineno for f in reversed(traceback.extract_tb(exc.__traceback__))
                     if f.filename == "solution.py"), None)
        where = f" at line {line}" if line else ""
        raise Unusable(f"running your file raised {last_line(exc)}{where}, before anything could be graded") from None
    if name not in namespace:
        raise Unusable(f"your file defines no {name}")
    return namespace[name]
