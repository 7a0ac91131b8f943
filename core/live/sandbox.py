"""Run a learner's code in a throwaway, locked-down process, never in the app or a worker.

``run(task, source, args)`` writes ``source`` as ``solution.py`` into a fresh empty temporary folder and
starts ``python -I core/live/sandbox_child.py`` there: isolated mode (no PYTHON* variables, no user site,
no script folder on the path), an empty environment, no inherited file descriptors, its own session (so
that a timeout kills everything it started). The child imports ``task`` (``module:function``, our code),
then locks itself (``sandbox_child``'s docstring says how) and calls ``function(path, emit, **args)``.
Limits: CPU seconds, address space, file size and open files, and a wall-clock timeout here.

The ``Outcome`` says what happened in words a page can show: done (with the task's JSON result), or the
limit that stopped it, or the exception's last line. At most ``Sandbox.slots`` children run at once (a
class pressing Submit together waits in line rather than sinking the server).
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

CHILD = Path(__file__).with_name("sandbox_child.py")
ROOT = Path(__file__).resolve().parents[2]
MAX_SOURCE = 100_000  # characters of learner code


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 20
    memory_mb: int = 1536  # address space: torch alone maps about 650 MB
    file_size_kb: int = 256
    wall_seconds: float = 30.0


@dataclass(frozen=True)
class Outcome:
    status: str  # done, time limit, cpu limit, memory limit, file-size limit, not allowed, error, crashed, busy
    message: str  # a sentence for the page ("" when done)
    result: Any = None
    printed: str = ""  # what the learner's code printed, the last 2,000 characters
    events: list = field(default_factory=list)
    landlock: bool = False  # whether the kernel's Landlock locked the process as well
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "done"


class Sandbox:
    """The one gate every learner-code run goes through: ``slots`` at once, each under ``limits``."""

    def __init__(self, slots: int = 2, limits: Limits = Limits()):
        self.slots, self.limits = slots, limits
        self._gate = threading.BoundedSemaphore(slots)

    def run(self, task: str, source: str, args: dict[str, Any] | None = None, *, limits: Limits | None = None,
            on_event: Callable[[dict], None] | None = None, wait: float = 60.0) -> Outcome:
        if len(source) > MAX_SOURCE:
            return Outcome("error", f"The code is {len(source):,} characters long; at most {MAX_SOURCE:,} are read.")
        if not self._gate.acquire(timeout=wait):
            return Outcome("busy", f"Every one of this server's {self.slots} code runners stayed busy for {wait:.0f} s. "
                                   "Try again in a moment.")
        try:
            return _run(task, source, args or {}, limits or self.limits, on_event)
        finally:
            self._gate.release()


def _run(task: str, source: str, args: dict, limits: Limits, on_event) -> Outcome:
    folder = tempfile.mkdtemp(prefix="dropout-lab-code-")
    started = time.monotonic()
    try:
        Path(folder, "solution.py").write_text(source, encoding="utf-8")
        command = [sys.executable, "-I", str(CHILD), str(ROOT), task, json.dumps(args), json.dumps(asdict(limits))]
        child = subprocess.Popen(command, cwd=folder, env={}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True)
        lines: queue.Queue = queue.Queue()
        reader = threading.Thread(target=_read, args=(child.stdout, lines), daemon=True, name="sandbox-reader")
        reader.start()
        got: dict[str, Any] = {"EVENT": []}
        deadline = started + limits.wall_seconds
        timed_out = False
        while True:
            try:
                line = lines.get(timeout=max(0.0, min(0.1, deadline - time.monotonic())))
            except queue.Empty:
                line = ""
            if line is None:  # the child closed its output: it has ended
                break
            if line:
                kind, _, payload = line.partition(" ")
                try:
                    value = json.loads(payload)
                except json.JSONDecodeError:
                    continue
                if kind == "EVENT":
                    got["EVENT"].append(value)
                    if on_event is not None:
                        on_event(value)
                else:
                    got[kind] = value
            if time.monotonic() >= deadline:
                timed_out = True
                break
        _kill(child)
        code = child.wait()
        return _outcome(got, code, timed_out, limits, time.monotonic() - started)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _read(stream, lines: queue.Queue) -> None:
    for raw in iter(stream.readline, b""):
        lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
    lines.put(None)


def _kill(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)  # its session: whatever it started goes too
    except (ProcessLookupError, PermissionError):
        pass


def _outcome(got: dict, code: int, timed_out: bool, limits: Limits, seconds: float) -> Outcome:
    common = dict(printed=got.get("PRINTED", ""), events=got["EVENT"], seconds=round(seconds, 2),
                  landlock=bool(got.get("LOCKED", {}).get("landlock")))
    if "RESULT" in got:
        return Outcome("done", "", got["RESULT"], **common)
    if timed_out:
        return Outcome("time limit", f"Stopped after {limits.wall_seconds:g} s, the time limit: an endless loop, or "
                                     "far too much work?", **common)
    if code in (-signal.SIGXCPU, -signal.SIGKILL) and "EXCEPTION" not in got and "MEMORY" not in got:
        if code == -signal.SIGXCPU or seconds >= limits.cpu_seconds:
            return Outcome("cpu limit", f"Stopped after {limits.cpu_seconds} s of CPU time, the limit: an endless "
                                        "loop, or far too much work?", **common)
    if "MEMORY" in got:
        return Outcome("memory limit", f"Stopped: it asked for more than {limits.memory_mb:,} MB of memory, the "
                                       "limit.", **common)
    error = got.get("EXCEPTION")
    if error is not None:
        line = error.get("line", "")
        if error.get("errno") == 27 or "File too large" in line:
            return Outcome("file-size limit", f"Stopped: it wrote a file larger than {limits.file_size_kb} KB, the "
                                              "limit.", **common)
        if "can't allocate memory" in line or "not enough memory" in line:
            return Outcome("memory limit", f"Stopped: it asked for more than {limits.memory_mb:,} MB of memory, the "
                                           f"limit ({line}).", **common)
        if error.get("type") == "PermissionError" and "not allowed" in line:
            return Outcome("not allowed", f"Stopped: {line.split(': ', 1)[-1]}.", **common)
        return Outcome("error", f"It raised {line}", **common)
    if "LOCKED" not in got:
        return Outcome("crashed", f"The exercise runner could not start (exit status {code}).", **common)
    how = f"signal {signal.Signals(-code).name}" if code < 0 and -code in signal.valid_signals() else f"exit status {code}"
    return Outcome("crashed", f"The process ended ({how}) before it reported a result.", **common)


def execute(path: str, emit: Callable[[dict], None], **_: Any) -> dict:
    """The plainest task: run the learner's file as a script; its ``result`` variable, if JSON-able, comes back."""
    import runpy  # noqa: PLC0415

    namespace = runpy.run_path(path, run_name="__main__")
    result = namespace.get("result")
    return {"result": result if isinstance(result, (int, float, str, list, dict, bool, type(None))) else repr(result)}
