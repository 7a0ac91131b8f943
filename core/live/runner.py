"""What every live runner shares: one thread that owns the trainers, commands in, snapshots out.

A subclass sets up its trainers and ``_epochs_per_second`` (None: unpaced) and
``_publish_interval``, calls ``_start()`` once ``_snapshot`` holds a first snapshot, and
implements the hooks the loop calls: ``_apply`` (one command; returns how many single steps it
asks for), ``_step_once``, ``_step_count``, ``_steps_per_epoch``, ``_check_end`` and
``_publish``. A command that raises KeyError, ValueError or TypeError is ignored with a message
in the next snapshot; anything else that escapes ends the run in state ``error`` with a
message. The thread never vanishes silently and never touches Streamlit.

A runner may be given a ``Gate``: the cap on how many runs of a server train at once. A run
that is told to play asks the gate for a place first; when the class is full it waits in
state ``queued`` (its message says where it stands in line) and starts by itself when the
gate grants it a place. Leaving ``playing`` in any way gives the place back.
"""
from __future__ import annotations

import queue
import threading
import time
from abc import ABC, abstractmethod
from typing import Any, Callable, Protocol

OS_THREAD_NAME = "dropout-trainer"
"""The trainer thread's name as the OS sees it (``top -H``, /proc/PID/task/*/comm)."""
THREAD_NAME = "dropout-lab-trainer"
MAX_CATCH_UP = 0.2
"""Seconds a paced run may fall behind its schedule before the schedule restarts."""
ADMIT = "__admit__"
"""The private command a gate's notification becomes: a place, or a new position in line."""


class Gate(Protocol):
    """Places for training runs (see ``core.live.admission.Admission``)."""

    cap: int | None

    def request(self, runner: "ThreadedRunner") -> int:
        """A place for ``runner``: 0 if it may train now, else its position in the queue (1 = next)."""

    def release(self, runner: "ThreadedRunner") -> None:
        """``runner`` stopped training or left the queue; safe to call when it holds nothing."""


MAX_STEPS = 10_000
"""Most single steps one ``step`` command may ask for."""
MAX_SPEED = 10_000.0
"""Fastest pace a run may be set to, in epochs per second (None: as fast as the CPU allows)."""


def check_steps(n: Any) -> int:
    """``n`` as a whole number of steps in [1, MAX_STEPS], or ValueError with a sentence."""
    # the range first: NaN and inf fail it, and int(n) of a number past it could overflow
    if isinstance(n, bool) or not isinstance(n, (int, float)) or not 1 <= n <= MAX_STEPS or n != int(n):
        raise ValueError(f"n must be a whole number of steps from 1 to {MAX_STEPS}, got {n!r}")
    return int(n)


def check_count(name: str, n: Any, lo: int, hi: int) -> int:
    """``n`` as a whole number in [lo, hi], or ValueError naming ``name``."""
    if isinstance(n, bool) or not isinstance(n, (int, float)) or not lo <= n <= hi or n != int(n):  # as above
        raise ValueError(f"{name} must be a whole number from {lo} to {hi}, got {n!r}")
    return int(n)


def check_speed(eps: Any) -> float | None:
    """``eps`` epochs per second as a number in (0, MAX_SPEED], or None (unpaced); else ValueError."""
    if eps is None:
        return None
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 < eps <= MAX_SPEED:  # refuses NaN
        raise ValueError(f"epochs_per_second must be a number above 0 and at most {MAX_SPEED:g}, or None "
                         f"(as fast as possible), got {eps!r}")
    return float(eps)


NO_ANSWER = -1
"""The position a gate gives when it could not ask for a place: the run waits, and the gate asks again."""


def queued_message(position: int, cap: int | None) -> str:
    if position == NO_ANSWER:
        return ("Waiting for a training place: the server did not answer in time. It asks again every "
                "second; the run starts by itself once it has a place.")
    ahead = "it is next in line" if position == 1 else f"{position - 1} runs are ahead of it"
    return (f"The class is full: this server trains at most {cap} runs at once. Your run is queued ({ahead}) "
            "and starts by itself as soon as a place frees up.")


UNWATCHED = ("It was not on screen for {seconds:g} s (a tab in the background?), so its share of the server "
             "went to the others. Press Play to carry on.")


class ThreadedRunner(ABC):
    def __init__(self, gate: Gate | None = None, unwatched_pause: float | None = None) -> None:
        """``gate``: the cap on runs training at once. ``unwatched_pause``: pause a playing run when
        nobody asked for a snapshot or sent a command for that many seconds (None: never)."""
        self._gate = gate
        self._unwatched_pause = unwatched_pause
        self._watched = time.monotonic()
        self._gated = ""  # "", "queued" or "admitted": what this run holds of the gate
        self._commands: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._changed = threading.Condition()
        self._wake = threading.Event()
        self._state = "ready"
        self._message: str | None = None
        self._version = 0
        self._snapshot: dict[str, Any] = {}
        self._thread = threading.Thread(target=self._loop, name=THREAD_NAME, daemon=True)

    def _start(self) -> None:
        self._thread.start()

    # -- the interface: commands in, snapshots out ---------------------------------------------
    def send(self, command: str, **kwargs: Any) -> None:
        self._watched = time.monotonic()
        self._commands.put((command, kwargs))
        self._wake.set()

    def snapshot(self) -> dict[str, Any]:
        self._watched = time.monotonic()
        with self._changed:
            return self._snapshot

    def wait_for(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        """Wait until a published snapshot satisfies ``predicate`` (or ``timeout`` passes); return the latest."""
        deadline = self._watched = time.monotonic()
        deadline += timeout
        with self._changed:
            while not predicate(self._snapshot):
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    break
                self._changed.wait(left)
            return self._snapshot

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread and wait for it; safe to call more than once."""
        self.send("stop")
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def notify(self, position: int) -> None:
        """The gate's word: 0 = a place is yours, n = you are n-th in the queue. Any thread may call it."""
        self._commands.put((ADMIT, {"position": position}))  # not through send: subclasses vet commands there
        self._wake.set()

    # -- what a subclass provides ---------------------------------------------------------------
    _epochs_per_second: float | None
    _publish_interval: float

    @abstractmethod
    def _apply(self, command: str, args: dict[str, Any]) -> int:
        """Apply one command; return the number of single steps it asks for."""

    @abstractmethod
    def _step_once(self) -> None:
        """One training step (of every run the runner owns)."""

    @abstractmethod
    def _step_count(self) -> int:
        """Steps taken so far (of the lead run): the pace is kept on these."""

    @abstractmethod
    def _steps_per_epoch(self) -> int:
        ...

    @abstractmethod
    def _check_end(self) -> bool:
        """Set the state after a step (finished, diverged...); True when training must stop."""

    @abstractmethod
    def _publish(self) -> None:
        """Build a snapshot from the trainers and hand it out under ``_changed``."""

    def _continue_finished(self) -> bool:
        """Play was pressed on a finished run: extend it and return True, or False to stay finished
        (a runner whose end is a setting, like max epochs, is continued by changing that)."""
        return False

    # -- the lifecycle every runner shares ------------------------------------------------------
    def _lifecycle(self, command: str, args: dict[str, Any]) -> int | None:
        """play, pause, step (``n`` steps, default 1) and set_speed, checked and applied alike for every
        runner: the number of single steps asked for, or None when ``command`` is another one."""
        if command in ("play", "step") and self._state in ("diverged", "error"):
            raise ValueError(f"the run {'diverged' if self._state == 'diverged' else 'stopped'}; reset to start again")
        if command == "play":
            if self._state == "finished" and self._continue_finished():
                self._set_state("playing")
            elif self._state in ("ready", "paused"):
                self._set_state("playing")
            return 0
        if command == "pause":
            if self._state == "playing":
                self._set_state("paused")
            return 0
        if command == "step":
            n = check_steps(args.get("n", 1))
            if self._state in ("ready", "paused", "playing", "queued", "finished"):
                self._set_state("paused")
                return n
            return 0
        if command == "set_speed":
            self._epochs_per_second = check_speed(args.get("epochs_per_second"))
            return 0
        return None

    def _set_state(self, state: str, message: str | None = None) -> None:
        """Change state and publish once, with the message that goes with it: a reader never sees
        the new state without its reason."""
        self._state = state
        if state in ("playing", "paused"):
            self._message = message
        self._sync_gate()
        self._publish()

    def _sync_gate(self) -> None:
        """Ask the gate for a place when told to play; give it back when training stops."""
        if self._gate is None:
            return
        if self._state == "playing" and self._gated != "admitted":
            position = self._gate.request(self)
            if position == 0:
                self._gated = "admitted"
            else:
                self._gated = "queued"
                self._state, self._message = "queued", queued_message(position, self._gate.cap)
        elif self._state not in ("playing", "queued") and self._gated:
            self._gated = ""
            self._gate.release(self)

    def _on_gate(self, position: int) -> None:
        if self._state != "queued":
            self._sync_gate()  # paused or stopped meanwhile: give back what arrived
            if position == 0 and self._gated != "admitted":
                self._gate.release(self)
            return
        if position == 0:
            self._gated, self._state, self._message = "admitted", "playing", None
        else:
            self._message = queued_message(position, self._gate.cap)
        self._publish()

    # -- the thread ----------------------------------------------------------------------------
    def _serve(self) -> None:
        pending = 0
        paced_since: tuple[float, int] | None = None  # (time, step) when pacing last restarted
        last_publish = 0.0
        while True:
            playing = self._state == "playing"
            try:
                block = not playing and pending == 0
                command, args = self._commands.get(block=block, timeout=None if block else 0)
            except queue.Empty:
                command = None
            if command is not None:
                if command == "stop":
                    self._set_state("stopped")
                    return
                if command == ADMIT:
                    self._on_gate(int(args["position"]))
                    continue
                if command == "pause" and self._state == "queued":
                    self._set_state("paused")  # leaves the queue
                    continue
                try:
                    pending += self._apply(command, args)
                except KeyError as exc:
                    self._message = f"ignored {command}: it needs a value for {exc}"
                except (ValueError, TypeError, ArithmeticError) as exc:  # int(inf), 10**400 / 1.0
                    self._message = f"ignored {command}: {exc}"
                self._sync_gate()
                self._publish()
                paced_since = None
                continue  # drain every queued command before training
            if playing and self._unwatched():
                continue
            try:
                if playing:
                    wait = self._pacing_wait(paced_since)
                    if paced_since is None or wait < -MAX_CATCH_UP:
                        # (Re)start the schedule: after falling behind (a busy CPU), carry on at the
                        # set pace instead of bursting to catch up.
                        paced_since = (time.monotonic(), self._step_count())
                    if wait > 0:
                        self._wake.wait(min(wait, 0.05))  # sleep, but wake for a command
                        self._wake.clear()
                        continue
                self._step_once()
            except Exception as exc:  # noqa: BLE001 - any failure becomes a message, never a dead thread
                self._state, self._message = "error", f"training stopped: {type(exc).__name__}: {exc}"
            pending = max(0, pending - 1)
            done = self._check_end()
            self._sync_gate()  # finished, diverged or failed: the place goes to the next in line
            if done:
                pending = 0
            now = time.monotonic()
            if done or (pending == 0 and self._state != "playing") or now - last_publish >= self._publish_interval:
                self._publish()
                last_publish = now

    def _unwatched(self) -> bool:
        """Pause a playing run nobody has looked at for a while: it need not train faster than it is
        watched, and the CPU it would take goes to the runs that are."""
        if self._unwatched_pause is None or time.monotonic() - self._watched <= self._unwatched_pause:
            return False
        self._set_state("paused", UNWATCHED.format(seconds=self._unwatched_pause))
        return True

    def _pacing_wait(self, paced_since: tuple[float, int] | None) -> float:
        """Seconds until the next step is due at the set pace (negative: behind schedule)."""
        if self._epochs_per_second is None or paced_since is None:
            return 0.0
        t0, steps0 = paced_since
        due = t0 + (self._step_count() - steps0) / (self._epochs_per_second * self._steps_per_epoch())
        return due - time.monotonic()

    def _loop(self) -> None:
        name_os_thread(OS_THREAD_NAME)
        try:
            self._serve()
        except Exception as exc:  # noqa: BLE001 - last resort: say what happened, never vanish silently
            if self._gate is not None and self._gated:
                self._gate.release(self)
            with self._changed:
                self._version += 1
                self._state, self._message = "error", f"training stopped: {type(exc).__name__}: {exc}"
                self._snapshot = {**self._snapshot, "version": self._version, "state": self._state,
                                  "message": self._message}
                self._changed.notify_all()


def name_os_thread(name: str) -> None:
    """Name the calling OS thread (Linux), so a trainer can be seen from outside the process."""
    try:
        import ctypes  # noqa: PLC0415

        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # 15 = PR_SET_NAME
    except (OSError, AttributeError):
        pass


class LockstepRunner(ThreadedRunner):
    """A runner of several trainers (``self._trainers``, the lead first) stepped in lockstep: one step
    of each in turn. The lead's step count and epoch length are the run's."""

    _trainers: list[Any]

    def _step_once(self) -> None:
        for trainer in self._trainers:
            trainer.step()

    def _step_count(self) -> int:
        return self._trainers[0].step_count

    def _steps_per_epoch(self) -> int:
        lead = self._trainers[0]
        return -(-lead.n_train // lead.cfg.train.batch_size)

    FINISHED_NOTE = ""
    """Said after "reached max epochs (N)" (a runner whose Play trains on says so)."""

    def _run_label(self, index: int) -> str:
        """How a message names run ``index`` when there are several."""
        return f"Run {'ABC'[index]}"

    def _check_end(self) -> bool:
        for index, trainer in enumerate(self._trainers):
            if trainer.diverged:
                label = f"{self._run_label(index)}: " if len(self._trainers) > 1 else ""
                self._state, self._message = "diverged", label + trainer.diverged
                return True
        if self._state == "error":
            return True
        if self._trainers[0].finished:
            epochs = self._trainers[0].cfg.train.max_epochs
            self._state, self._message = "finished", f"reached max epochs ({epochs}){self.FINISHED_NOTE}."
            return True
        return False
