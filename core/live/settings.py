"""How this server runs its trainers: ``DROPOUT_LAB_*`` environment variables, read once per process.

See the README's "Running for a class". ``DROPOUT_LAB_TRAINERS`` (``processes``, the default, or
``threads``), ``DROPOUT_LAB_WORKERS`` (default: the CPU count), ``DROPOUT_LAB_MAX_TRAINERS``
(default ``DEFAULT_MAX_TRAINERS``; 0 = no cap), ``DROPOUT_LAB_MAX_JOBS`` (background jobs at
once, default: one per worker; 0 = no cap), ``DROPOUT_LAB_JOB_BUDGET`` (the most estimated work one
job may ask for, default ``DEFAULT_JOB_BUDGET``), ``DROPOUT_LAB_MAX_RUNS`` and
``DROPOUT_LAB_MAX_RUNS_PER_BROWSER`` (runs that may exist at once, training or not; 0 = no cap),
``DROPOUT_LAB_CODE_EXERCISES`` (``on``, the default, or ``off``: whether the interview page runs a
learner's code at all, in ``core.live.sandbox``), ``DROPOUT_LAB_CODE_RUNS`` (learner-code processes at
once, default ``DEFAULT_CODE_RUNS``), ``DROPOUT_LAB_REFRESH`` (seconds between two redraws
of a live view) and ``DROPOUT_LAB_REDRAWS`` (redraws per second for all live views of the app process
together: see ``core.live.redraw``), both read by the pages.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping

DEFAULT_MAX_TRAINERS = 40
DEFAULT_MAX_RUNS = 200
"""Runs that may exist at once per app process, training or not: five per student of a class of 40."""
DEFAULT_MAX_RUNS_PER_BROWSER = 12
"""Runs one browser (all its tabs) may hold: a lesson page holds one to three, so four pages' worth."""
DEFAULT_JOB_BUDGET = 5e11
"""Most estimated multiply-adds one background job may ask for (``core.engine.sweep.Sweep.work``):
about ten times lesson 3's largest default experiment (Fig. 10, 4.9e10), a few minutes of one core."""
DEFAULT_CODE_RUNS = 2
"""Learner-code processes at once: each imports torch (about 0.25 GB and a second of one core)."""
DEFAULT_REFRESH = 0.35
DEFAULT_REDRAWS = 10.0


@dataclass(frozen=True)
class ServerSettings:
    """How this server runs its trainers, from ``DROPOUT_LAB_*`` environment variables.

    A value that makes no sense is replaced by the default and named in ``problems`` (the app
    shows them), rather than stopping a class at the door."""

    trainers: str = "processes"  # or "threads"
    workers: int = 1
    max_trainers: int | None = DEFAULT_MAX_TRAINERS  # None: no cap
    refresh: float = DEFAULT_REFRESH
    redraws: float = DEFAULT_REDRAWS
    max_jobs: int | None = None  # background jobs at once; None: no cap (from_env's default: one per worker)
    job_budget: float = DEFAULT_JOB_BUDGET
    max_runs: int | None = DEFAULT_MAX_RUNS  # runs that exist at once; None: no cap
    max_runs_per_browser: int | None = DEFAULT_MAX_RUNS_PER_BROWSER
    code_exercises: bool = True
    code_runs: int = DEFAULT_CODE_RUNS
    problems: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ServerSettings":
        env = os.environ if env is None else env
        problems: list[str] = []
        trainers = env.get("DROPOUT_LAB_TRAINERS", "").strip().lower() or "processes"
        if trainers not in ("processes", "threads"):
            problems.append(f"DROPOUT_LAB_TRAINERS must be 'processes' or 'threads', not {trainers!r}: "
                            "using processes.")
            trainers = "processes"
        workers = _number(env, "DROPOUT_LAB_WORKERS", int, os.cpu_count() or 1, 1, 256, problems)
        cap = _number(env, "DROPOUT_LAB_MAX_TRAINERS", int, DEFAULT_MAX_TRAINERS, 0, 100_000, problems)
        refresh = _number(env, "DROPOUT_LAB_REFRESH", float, DEFAULT_REFRESH, 0.1, 10.0, problems)
        redraws = _number(env, "DROPOUT_LAB_REDRAWS", float, DEFAULT_REDRAWS, 1.0, 1000.0, problems)
        jobs = _number(env, "DROPOUT_LAB_MAX_JOBS", int, workers, 0, 10_000, problems)
        budget = _number(env, "DROPOUT_LAB_JOB_BUDGET", float, DEFAULT_JOB_BUDGET, 1e6, 1e18, problems)
        runs = _number(env, "DROPOUT_LAB_MAX_RUNS", int, DEFAULT_MAX_RUNS, 0, 1_000_000, problems)
        per_browser = _number(env, "DROPOUT_LAB_MAX_RUNS_PER_BROWSER", int, DEFAULT_MAX_RUNS_PER_BROWSER, 0, 10_000,
                              problems)
        code = env.get("DROPOUT_LAB_CODE_EXERCISES", "").strip().lower() or "on"
        if code not in ("on", "off"):
            problems.append(f"DROPOUT_LAB_CODE_EXERCISES must be 'on' or 'off', not {code!r}: using on.")
            code = "on"
        code_runs = _number(env, "DROPOUT_LAB_CODE_RUNS", int, DEFAULT_CODE_RUNS, 1, 256, problems)
        return cls(trainers, workers, cap or None, refresh, redraws, jobs or None, budget, runs or None,
                   per_browser or None, code == "on", code_runs, tuple(problems))


def over_budget(work: float, budget: float) -> str | None:
    """Why a job of ``work`` estimated multiply-adds may not run under ``budget``, or None if it may."""
    if work <= budget:
        return None
    return (f"this run would take about {work:.1e} multiply-adds, {work / budget:.0f} times what this server "
            f"allows one run ({budget:.1e}, DROPOUT_LAB_JOB_BUDGET). Use fewer seeds, fewer or narrower layers, "
            "fewer epochs or fewer training points.")


def _number(env: Mapping[str, str], name: str, kind: type, default: float, low: float, high: float,
            problems: list[str]) -> Any:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        what = "a whole number" if kind is int else "a number"
        problems.append(f"{name} must be {what} from {low:g} to {high:g}, not {raw!r}: using {default:g}.")
        return default
    return value
