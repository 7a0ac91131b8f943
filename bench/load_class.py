"""A class of N students on the Playground at once: how fast does one server answer them?

Each simulated student is a real Streamlit session driven over the app's websocket
(``/_stcore/stream``) with the browser's own protocol: protobuf ``BackMsg`` in, ``ForwardMsg``
out. A student opens the Playground (its first run starts an A/B training run that plays at
once), sets "Max epochs" to 100000 so the run never finishes during the test, keeps the live
fragment ticking on the timer the server asks for (``auto_rerun``), and every ``--interval``
seconds (±50 %, seeded) moves the "Dropout p, hidden layer 1" slider to another value.

Measured, per design (``DROPOUT_LAB_TRAINERS=threads|processes``) and class size N:

- slider-to-chart latency: from sending the slider move until the first decision map titled
  ``A: p=<new value>`` arrives; a move not shown within ``--timeout`` s counts as missed.
  A student moves again only once the last move was shown (or missed), as a learner who
  watches the result would; only moves sent inside the measured window count;
- epochs/s per student: from the ``Epoch X of Y`` progress text over the measured window;
- server CPU (% of one core: utime + stime of the whole process tree, workers included) and
  the sum of RSS, sampled once a second; the load generator's own CPU (it shares the cores),
  and "other": the machine's CPU used by neither (anything else running skews every number);
- errors (exception elements, ``st.error`` alerts, dropped websockets), sessions that saw
  "The class is full" (queued), and trainer threads still alive after every tab closed
  (OS thread name ``dropout-trainer`` anywhere in the server's process tree), right after
  closing and after up to 15 s.

``--sweepers K`` makes K of each class's sessions students of lesson 3 instead: each opens the page
with a link to a Hinton-style experiment (3 seeds) at a noise level nobody asked for yet, presses
Run, waits for the verdict and starts again, so the server trains a sweep for each press while the
rest of the class plays (reported: sweeps finished in the window and their median Run-to-verdict
time; slider latencies are the Playground students').

Targets, on 2 cores with 30 sessions: p90 slider-to-chart <= 1.5 s, >= 3 epochs/s per
student, no errors, no leaked trainers.

Run from the repository root (each design and size gets a fresh server, stopped afterwards,
Ctrl-C included)::

    .venv/bin/python bench/load_class.py --sessions 10,30,60 --designs threads,processes \\
        --duration 60 --warmup 10 --interval 4 [--apps 2] [--seed 0] [--json results.json]

``--apps 2`` starts two servers and sends half the class to each (a sticky-session proxy).
``--url http://host:port[,http://...]`` targets servers that are already running (say a
reverse proxy) and starts none; give ``--pid`` to still sample their processes.
``--workers``, ``--max-trainers`` and ``--refresh`` pass ``DROPOUT_LAB_WORKERS``,
``DROPOUT_LAB_MAX_TRAINERS`` and ``DROPOUT_LAB_REFRESH`` to the servers started here, ``--env
NAME=VALUE`` anything else. ``--designs`` does not apply with ``--url``.
``-v`` prints every slider move with the chart title that showed it.

How close to a browser: the first ``rerun_script`` names the page (``page_name``); later ones
send the page's script hash, as the frontend does. Ticks are sent by a repeating timer that,
like the browser's ``setInterval``, does not wait for the previous run to finish; a full run
clears the timers and its ``auto_rerun`` message starts them again. Large elements are kept
in a message cache with the browser's ageing rules and advertised in ``cached_message_hashes``,
so the server sends references for charts that did not change, as it does to a browser.
Differences: no HTTP page or static-file loads, and widget states are sent only for the two
widgets a student touches (the server keeps the others' last values, which is what a browser's
full widget list would say too).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator, NamedTuple

from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ContextInfo
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

REPO_ROOT = Path(__file__).resolve().parents[1]
PAGE = "playground"
SLIDER_LABEL = "Dropout p, hidden layer 1"
MAX_EPOCHS_LABEL = "Max epochs"
MAX_EPOCHS = 100_000
P_CHOICES = tuple(round(0.05 * i, 2) for i in range(19))  # 0.0 .. 0.9
MAP_A = b"Decision map, A: p="
CLASS_FULL = b"The class is full"
SWEEP_PAGE = "overfitting"
RUN_LABEL = "▶ Run: "
SWEEP_TIMEOUT = 300.0
EPOCH_RE = re.compile(r"Epoch ([0-9.]+) of ([0-9]+)")
TRAINER_COMM = "dropout-trainer"  # core.live.runner.OS_THREAD_NAME
SERVER_START_TIMEOUT = 60.0
SERVER_STOP_TIMEOUT = 10.0
LEAK_WAIT = 15.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------------------------------------
# One simulated student: a Streamlit session over the websocket
# ---------------------------------------------------------------------------------------------
class Digest(NamedTuple):
    """What a student needs from one element; kept for cached elements, whose repeats come as refs."""
    kind: str  # "map_a", "progress" or "error"
    text: str


@dataclass
class CacheEntry:
    digest: Digest | None
    run_count: int
    fragment_id: str


@dataclass
class Move:
    value: float
    sent: float  # time.monotonic()
    measured: bool  # sent inside the measured window
    latency: float | None = None  # None: not shown within the timeout
    title: str | None = None


@dataclass
class Window:
    """The measured window, shared by every student; ``end`` is None while it is open."""
    start: float | None = None
    end: float | None = None

    def contains(self, t: float) -> bool:
        return self.start is not None and t >= self.start and (self.end is None or t < self.end)


@dataclass
class Settings:
    interval: float
    timeout: float
    load_timeout: float
    verbose: bool


class Student:
    page, query = PAGE, ""

    def __init__(self, index: int, base_url: str, rng: random.Random, settings: Settings, window: Window):
        self.index, self.base_url, self.rng = index, base_url.rstrip("/"), rng
        self.settings, self.window = settings, window
        self.ws: ClientConnection | None = None
        url = f"{self.base_url}/{self.page}" + (f"?{self.query}" if self.query else "")
        self.context = ContextInfo(timezone="UTC", timezone_offset=0, locale="en-US", url=url, is_embedded=False,
                                   color_scheme="light")
        self.page_hash = ""
        self.widget_ids: dict[str, str] = {}  # label -> widget id
        self.widget_states: dict[str, WidgetState] = {}  # what this student has set
        self.p: float | None = None
        self.max_epochs_shown: int | None = None
        self.last_progress = ""  # the progress bar's text: says why a run is not training
        # the browser's message cache (frontend ForwardMsgCache): hash -> entry
        self.cache: dict[str, CacheEntry] = {}
        self.run_count = 0
        self.max_cached_age = 2
        self.new_session_since_send = False
        self.timers: dict[str, tuple[float, asyncio.Task]] = {}
        self.pending: Move | None = None
        self.move_shown = asyncio.Event()
        self.moves: list[Move] = []
        self.epochs: list[tuple[float, float]] = []  # (time, epoch)
        self.errors: Counter[str] = Counter()
        self.runs: Counter[str] = Counter()  # script runs started in the measured window: "full" or "fragment"
        self.queued = False
        self.first_map = asyncio.Event()
        self.loaded = asyncio.Event()  # a first decision map, or the page says the class is full
        self.load_seconds: float | None = None
        self.moving = True
        self.closing = False
        self.reader: asyncio.Task | None = None

    # -- the lesson -------------------------------------------------------------------------------
    async def attend(self, delay: float) -> None:
        """Arrive after ``delay`` s, load the page, raise Max epochs, then move the slider until told to stop."""
        await asyncio.sleep(delay)
        ws_url = re.sub(r"^http", "ws", self.base_url) + "/_stcore/stream"
        t0 = time.monotonic()
        try:
            # Browsers send no pings; the client's own pings could time out on a busy server
            # and drop a connection a browser would keep.
            self.ws = await connect(ws_url, subprotocols=["streamlit"], compression=None, max_size=None,
                                    ping_interval=None, open_timeout=self.settings.load_timeout, close_timeout=5)
        except (OSError, asyncio.TimeoutError) as exc:
            self.errors[f"connect: {exc!r}"] += 1
            return
        self.reader = asyncio.create_task(self._receive())
        await self._send_rerun()
        if not await self._wait(self.loaded, self.settings.load_timeout):
            self.errors[f"no chart within {self.settings.load_timeout:.0f} s"] += 1
            return
        self.load_seconds = time.monotonic() - t0
        max_epochs_id = self.widget_ids.get(MAX_EPOCHS_LABEL)
        if max_epochs_id is not None:
            self.widget_states[max_epochs_id] = WidgetState(id=max_epochs_id, double_value=MAX_EPOCHS)
            await self._send_rerun()
        await self._move_until_stopped()

    async def _move_until_stopped(self) -> None:
        loop = asyncio.get_running_loop()
        slider_id = self.widget_ids.get(SLIDER_LABEL)
        if slider_id is None:
            self.errors["no p slider on the page"] += 1
            return
        last_sent = loop.time()
        while self.moving and not self.closing:
            wait = last_sent + self.settings.interval * self.rng.uniform(0.5, 1.5) - loop.time()
            await asyncio.sleep(max(0.0, wait))
            if not self.moving or self.closing:
                return
            value = self.rng.choice([p for p in P_CHOICES if p != self.p])
            self.p = value
            self.widget_states[slider_id] = WidgetState(id=slider_id, double_array_value={"data": [value]})
            now = time.monotonic()
            move = self.pending = Move(value, now, self.window.contains(now))
            self.moves.append(move)
            self.move_shown.clear()
            last_sent = loop.time()
            await self._send_rerun()
            if not await self._wait(self.move_shown, self.settings.timeout):
                self.pending = None
                if self.settings.verbose:
                    print(f"  [s{self.index:02d}] p -> {value}: not shown within {self.settings.timeout:.0f} s",
                          flush=True)

    @property
    def awaiting_move(self) -> bool:
        return self.pending is not None

    def stop_moving(self) -> None:
        self.moving = False

    async def close(self) -> None:
        self.closing = True
        self._cancel_timers(list(self.timers))
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader

    async def _wait(self, event: asyncio.Event, timeout: float) -> bool:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        return event.is_set()

    # -- what the browser sends -------------------------------------------------------------------
    async def _send_rerun(self, fragment_id: str = "") -> None:
        msg = BackMsg()
        state = msg.rerun_script
        if self.page_hash:
            state.page_script_hash = self.page_hash
        else:  # first load: the frontend names the page by its url path
            state.page_name = self.page
        state.query_string = self.query
        if fragment_id:
            state.fragment_id = fragment_id
            state.is_auto_rerun = True
        state.widget_states.widgets.extend(self.widget_states.values())
        state.cached_message_hashes.extend(self.cache)
        state.context_info.CopyFrom(self.context)
        self.new_session_since_send = False
        assert self.ws is not None
        with contextlib.suppress(ConnectionClosed):  # the reader reports the drop
            await self.ws.send(msg.SerializeToString())

    async def _tick(self, fragment_id: str, interval: float) -> None:
        """The frontend's setInterval: fires on schedule whether or not the last run has finished."""
        loop = asyncio.get_running_loop()
        due = loop.time() + interval
        while not self.closing:
            await asyncio.sleep(max(0.0, due - loop.time()))
            await self._send_rerun(fragment_id)
            due = max(due + interval, loop.time())

    def _cancel_timers(self, fragment_ids: list[str]) -> None:
        for fragment_id in fragment_ids:
            entry = self.timers.pop(fragment_id, None)
            if entry is not None:
                entry[1].cancel()

    # -- what the server sends --------------------------------------------------------------------
    async def _receive(self) -> None:
        assert self.ws is not None
        with contextlib.suppress(ConnectionClosed):
            async for data in self.ws:
                self._on_message(data)  # type: ignore[arg-type]
        if not self.closing:
            self.errors[f"websocket closed by the server (code {self.ws.close_code})"] += 1
            self._cancel_timers(list(self.timers))

    def _on_message(self, data: bytes) -> None:
        msg = ForwardMsg()
        msg.ParseFromString(data)
        kind = msg.WhichOneof("type")
        if kind == "delta":
            if msg.delta.WhichOneof("type") == "new_element":
                digest = self._on_element(msg.delta.new_element, data)
                if msg.metadata.cacheable:
                    self._cache(msg, digest)
                if digest is not None:
                    self._apply(digest)
        elif kind == "ref_hash":
            entry = self.cache.get(msg.ref_hash)
            if entry is None:
                self.errors["reference to a message not in the cache"] += 1
            else:
                entry.run_count = self.run_count
                if entry.digest is not None:
                    self._apply(entry.digest)
        elif kind == "new_session":
            if self.window.contains(time.monotonic()):
                self.runs["fragment" if msg.metadata.run.fragment_ids else "full"] += 1
            self.new_session_since_send = True
            self.max_cached_age = msg.new_session.config.max_cached_message_age or self.max_cached_age
            if not msg.metadata.run.fragment_ids:  # a full run: the frontend drops every timer
                self.page_hash = msg.new_session.page_script_hash
                self._cancel_timers(list(self.timers))
        elif kind == "navigation":
            self.page_hash = msg.navigation.page_script_hash
        elif kind == "auto_rerun":
            self._on_auto_rerun(msg.auto_rerun.fragment_id, msg.auto_rerun.interval)
        elif kind == "stop_auto_rerun":
            self._cancel_timers(list(msg.stop_auto_rerun.fragment_ids))
        elif kind == "script_finished":
            self._age_cache(msg)
        elif kind == "session_event" and msg.session_event.HasField("script_compilation_exception"):
            self.errors["script compilation error"] += 1
        if not self.queued and CLASS_FULL in data:
            self.queued = True
            self.loaded.set()

    def _on_element(self, element: Element, data: bytes) -> Digest | None:
        kind = element.WhichOneof("type")
        if kind == "plotly_chart":
            # A substring search of the raw frame: no need to decode the ~35 kB figure JSON.
            start = data.find(MAP_A)
            if start < 0:
                return None
            end = data.find(b'"', start)
            return Digest("map_a", json.loads(b'"' + data[start:end] + b'"'))  # "/" arrives as \u002f
        if kind == "progress":
            return Digest("progress", element.progress.text)
        if kind == "exception":
            return Digest("error", f"exception {element.exception.type}: {element.exception.message[:120]}")
        if kind == "alert" and element.alert.format == Alert.ERROR:
            return Digest("error", f"st.error: {element.alert.body[:120]}")
        if kind in ("slider", "number_input"):
            widget = getattr(element, kind)
            self.widget_ids[widget.label] = widget.id
            if widget.label == SLIDER_LABEL and self.p is None:
                self.p = (list(widget.value) or list(widget.default) or [None])[0]
        return None

    def _apply(self, digest: Digest) -> None:
        now = time.monotonic()
        if digest.kind == "map_a":
            self.first_map.set()
            self.loaded.set()
            move = self.pending
            # "Decision map, A: p=0.3/0.5, input p=0.1": layer 1's p comes first
            try:
                shown = float(digest.text[len(MAP_A):].split(",")[0].split("/")[0])
            except ValueError:
                self.errors[f"unexpected map title {digest.text!r}"] += 1
                return
            if move is not None and abs(shown - move.value) < 1e-9:
                move.latency, move.title, self.pending = now - move.sent, digest.text, None
                self.move_shown.set()
                if self.settings.verbose:
                    print(f"  [s{self.index:02d}] p -> {move.value}: shown after {move.latency:.2f} s in "
                          f"{digest.text!r}", flush=True)
        elif digest.kind == "progress":
            self.last_progress = digest.text
            match = EPOCH_RE.search(digest.text)
            if match:
                self.epochs.append((now, float(match.group(1))))
                self.max_epochs_shown = int(match.group(2))
        else:
            self.errors[digest.text] += 1

    def _on_auto_rerun(self, fragment_id: str, interval: float) -> None:
        old = self.timers.get(fragment_id)
        if old is not None and old[0] == interval:
            return  # the frontend keeps a running timer with the same interval
        self._cancel_timers([fragment_id])
        if not self.closing:
            self.timers[fragment_id] = (interval, asyncio.create_task(self._tick(fragment_id, interval)))

    def _cache(self, msg: ForwardMsg, digest: Digest | None) -> None:
        entry = self.cache.get(msg.hash)
        if entry is None:
            self.cache[msg.hash] = CacheEntry(digest, self.run_count, msg.delta.fragment_id)
        else:
            entry.run_count = self.run_count

    def _age_cache(self, msg: ForwardMsg) -> None:
        """The frontend's rule: after a run that finished (not one cut short for a rerun), and only
        if no rerun was requested since its new_session, expire entries not used for
        max_cached_message_age runs; a fragment run ages only that fragment's entries."""
        if msg.script_finished == ForwardMsg.FINISHED_EARLY_FOR_RERUN or not self.new_session_since_send:
            return
        fragments = set(msg.metadata.run.fragment_ids)
        self.run_count += 1
        for key, entry in list(self.cache.items()):
            if fragments and entry.fragment_id not in fragments:
                continue
            if self.run_count - entry.run_count > self.max_cached_age:
                del self.cache[key]


class SweepSession(Student):
    """One visit of a sweeping student to lesson 3: opens the page with a link, presses Run, waits
    for the verdict."""

    page = SWEEP_PAGE

    def __init__(self, query: str, *args: Any) -> None:
        self.query = query
        super().__init__(*args)
        self.run_button = asyncio.Event()
        self.run_id: str | None = None
        self.verdict = asyncio.Event()

    def _on_element(self, element: Element, data: bytes) -> Digest | None:
        kind = element.WhichOneof("type")
        if kind == "button" and element.button.label.startswith(RUN_LABEL):
            self.run_id = element.button.id
            self.run_button.set()
        if kind == "alert" and element.alert.body.startswith("**Verdict"):
            self.verdict.set()
            return None
        return super()._on_element(element, data)

    async def sweep(self) -> float | None:
        """Seconds from pressing Run to the verdict, or None (the reason in ``errors``)."""
        ws_url = re.sub(r"^http", "ws", self.base_url) + "/_stcore/stream"
        try:
            self.ws = await connect(ws_url, subprotocols=["streamlit"], compression=None, max_size=None,
                                    ping_interval=None, open_timeout=self.settings.load_timeout, close_timeout=5)
        except (OSError, asyncio.TimeoutError) as exc:
            self.errors[f"connect: {exc!r}"] += 1
            return None
        self.reader = asyncio.create_task(self._receive())
        try:
            await self._send_rerun()
            if not await self._wait(self.run_button, self.settings.load_timeout):
                self.errors["no Run button on lesson 3"] += 1
                return None
            t0 = time.monotonic()
            self.widget_states[self.run_id] = WidgetState(id=self.run_id, trigger_value=True)
            await self._send_rerun()
            del self.widget_states[self.run_id]  # a trigger is sent once, as the browser does
            if not await self._wait(self.verdict, SWEEP_TIMEOUT):
                self.errors[f"no verdict within {SWEEP_TIMEOUT:.0f} s"] += 1
                return None
            return time.monotonic() - t0
        finally:
            await self.close()


class Sweeper:
    """A student who runs lesson 3's sweeps one after another while the class plays, each on a noise
    level no one asked for before (so each trains: no shared run, no cached result)."""

    def __init__(self, index: int, base_url: str, rng: random.Random, settings: Settings, window: Window):
        self.index, self.base_url, self.rng, self.settings, self.window = index, base_url, rng, settings, window
        self.loaded = asyncio.Event()
        self.sweeps: list[dict[str, float]] = []  # {"sent": t, "seconds": s} inside the window
        self.errors: Counter[str] = Counter()
        self.moving = True
        self.current: SweepSession | None = None

    async def attend(self, delay: float) -> None:
        await asyncio.sleep(delay)
        self.loaded.set()
        while self.moving:
            noise = round(self.rng.uniform(0.2, 0.9), 4)
            self.current = SweepSession(f"experiment=hinton&seeds=3&noise={noise}", self.index, self.base_url,
                                        self.rng, self.settings, self.window)
            sent = time.monotonic()
            seconds = await self.current.sweep()
            self.errors.update(self.current.errors)
            if self.settings.verbose:
                print(f"  [w{self.index:02d}] sweep at noise {noise}: "
                      f"{'verdict after %.1f s' % seconds if seconds is not None else dict(self.current.errors)}",
                      flush=True)
            if seconds is not None and self.window.contains(sent):
                self.sweeps.append({"sent": sent, "seconds": seconds})

    @property
    def awaiting_move(self) -> bool:
        return False

    def stop_moving(self) -> None:
        self.moving = False

    async def close(self) -> None:
        self.moving = False
        if self.current is not None:
            await self.current.close()


# ---------------------------------------------------------------------------------------------
# The server's process tree: CPU, memory, trainer threads
# ---------------------------------------------------------------------------------------------
def _read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:  # the process or thread ended meanwhile
        return None


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/PID/stat split after the command name (which may hold spaces): [state, ppid, ...]."""
    text = _read_text(f"/proc/{pid}/stat")
    return None if text is None else text[text.rfind(")") + 2:].split()


def process_tree(roots: list[int]) -> list[int]:
    """The roots and all their descendants, including children started since the last call."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry.name))
    tree: list[int] = []
    todo = [pid for pid in roots if os.path.exists(f"/proc/{pid}")]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(children.get(pid, []))
    return tree


def trainer_threads(roots: list[int]) -> int:
    count = 0
    for pid in process_tree(roots):
        with contextlib.suppress(OSError):
            for task in os.scandir(f"/proc/{pid}/task"):
                count += (_read_text(f"{task.path}/comm") or "").strip() == TRAINER_COMM
    return count


def machine_busy_ticks() -> int:
    """CPU time used by everything on the machine (all cores), from /proc/stat, in clock ticks."""
    fields = (_read_text("/proc/stat") or "").split()[1:9]
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in fields)
    return user + nice + system + irq + softirq + steal


class TreeSampler:
    """CPU and RSS of process trees, once a second. CPU is summed per (pid, start time) so a
    process that starts mid-window counts from its start and a reused pid is not confused.
    The whole machine's CPU is taken too: what neither the servers nor this script used is
    other work on the same cores, which skews every number."""

    def __init__(self, roots: list[int]):
        self.roots = roots
        self.last: dict[tuple[int, str], int] = {}
        self.cpu_ticks = 0
        self.samples: list[dict[str, float]] = []
        self.t0 = time.monotonic()
        self.machine0 = machine_busy_ticks()
        self._sample(record=False)

    def _sample(self, record: bool = True) -> None:
        rss = 0
        ticks_before = self.cpu_ticks
        for pid in process_tree(self.roots):
            fields = _stat_fields(pid)
            statm = _read_text(f"/proc/{pid}/statm")
            if fields is None or statm is None:
                continue
            key = (pid, fields[19])  # field 22 of stat: start time
            ticks = int(fields[11]) + int(fields[12])  # utime + stime
            self.cpu_ticks += max(0, ticks - self.last.get(key, ticks if not record else 0))
            self.last[key] = ticks
            rss += int(statm.split()[1]) * PAGE_SIZE
        if record:
            t = time.monotonic()
            previous = self.samples[-1]["t"] if self.samples else 0.0
            cpu = (self.cpu_ticks - ticks_before) / CLOCK_TICKS / max(t - self.t0 - previous, 1e-9) * 100
            self.samples.append({"t": round(t - self.t0, 3), "cpu_pct": round(cpu, 1), "rss_mb": round(rss / 2**20, 1)})

    async def run(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._sample()

    def cpu_percent(self) -> float:
        return self.cpu_ticks / CLOCK_TICKS / (time.monotonic() - self.t0) * 100

    def machine_percent(self) -> float:
        return (machine_busy_ticks() - self.machine0) / CLOCK_TICKS / (time.monotonic() - self.t0) * 100


# ---------------------------------------------------------------------------------------------
# App servers
# ---------------------------------------------------------------------------------------------
class AppServer(NamedTuple):
    url: str
    proc: subprocess.Popen
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env_extra: dict[str, str], log: Path) -> AppServer:
    port = _free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env={**os.environ, **env_extra}, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return AppServer(f"http://127.0.0.1:{port}", proc, log)


def wait_healthy(server: AppServer) -> None:
    """Only the health endpoint: the page itself (torch imports) is waited for by a probe session."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while True:
        if server.proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.proc.returncode}:\n{_tail(server.log)}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        if time.monotonic() > deadline:
            raise RuntimeError(f"streamlit not healthy after {SERVER_START_TIMEOUT:.0f} s:\n{_tail(server.log)}")
        time.sleep(0.2)


def _start_time(pid: int) -> str | None:
    fields = _stat_fields(pid)
    return None if fields is None else fields[19]  # field 22 of stat


def stop_server(server: AppServer) -> None:
    """SIGTERM the server's process group, SIGKILL what lingers, then any descendant that left the group
    (checked by start time, so a pid the system gave to someone else meanwhile is left alone)."""
    tree = {pid: _start_time(pid) for pid in process_tree([server.proc.pid])}
    if server.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.proc.wait(SERVER_STOP_TIMEOUT)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.proc.wait(SERVER_STOP_TIMEOUT)
    for pid, started in tree.items():
        if started is not None and _start_time(pid) == started:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def _tail(log: Path, chars: int = 3000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


@contextlib.contextmanager
def app_servers(count: int, env_extra: dict[str, str], log_dir: Path, label: str) -> Iterator[list[AppServer]]:
    servers: list[AppServer] = []
    try:
        for i in range(count):
            servers.append(start_server(env_extra, log_dir / f"{label}-app{i}.log"))
        for server in servers:
            wait_healthy(server)
        yield servers
    finally:
        for server in servers:
            stop_server(server)


# ---------------------------------------------------------------------------------------------
# One class: N students, measured
# ---------------------------------------------------------------------------------------------
@dataclass
class ClassResult:
    design: str
    apps: int
    sessions: int
    summary: dict[str, Any] = field(default_factory=dict)
    students: list[dict[str, Any]] = field(default_factory=list)
    sweepers: list[dict[str, Any]] = field(default_factory=list)
    server_samples: list[dict[str, float]] = field(default_factory=list)


async def probe(url: str, settings: Settings, roots: list[int]) -> None:
    """Load the page once (the first run imports torch) and wait until its trainer is gone again."""
    student = Student(-1, url, random.Random(0), settings, Window())
    student.moving = False
    await student.attend(0.0)
    await student.close()
    if not student.first_map.is_set():
        raise RuntimeError(f"{url}/{PAGE} drew no decision map: {dict(student.errors)}")
    deadline = time.monotonic() + LEAK_WAIT
    while roots and trainer_threads(roots) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)


async def run_class(design: str, urls: list[str], roots: list[int], n: int, args: argparse.Namespace) -> ClassResult:
    settings = Settings(args.interval, args.timeout, args.load_timeout, args.verbose)
    for url in urls:
        await probe(url, settings, roots)
    window = Window()
    sweeping = set(range(0, n, n // args.sweepers)[: args.sweepers]) if args.sweepers else set()
    students = [(Sweeper if i in sweeping else Student)(i, urls[i % len(urls)], random.Random(f"{args.seed}-{i}"),
                                                         settings, window) for i in range(n)]
    lessons = [asyncio.create_task(s.attend(i * args.arrival / n)) for i, s in enumerate(students)]
    loading = [asyncio.create_task(s.loaded.wait()) for s in students]
    await asyncio.wait(loading, timeout=args.arrival + args.load_timeout)
    for task in loading:
        task.cancel()
    print(f"  {sum(s.loaded.is_set() for s in students)}/{n} sessions loaded; warming up {args.warmup:.0f} s",
          flush=True)
    await asyncio.sleep(args.warmup)

    sampler = TreeSampler(roots)
    sampling = asyncio.create_task(sampler.run())
    usage_before, wall_before = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    window.start = time.monotonic()
    await asyncio.sleep(args.duration)
    window.end = time.monotonic()
    usage_after = resource.getrusage(resource.RUSAGE_SELF)
    sampling.cancel()
    server_cpu = sampler.cpu_percent() if roots else None
    machine_cpu = sampler.machine_percent()
    gen_cpu = ((usage_after.ru_utime + usage_after.ru_stime) - (usage_before.ru_utime + usage_before.ru_stime)) \
        / (window.end - wall_before) * 100

    for s in students:
        s.stop_moving()
    deadline = time.monotonic() + args.timeout
    while any(s.awaiting_move for s in students) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    await asyncio.gather(*(s.close() for s in students))
    for task in lessons:
        task.cancel()
    await asyncio.gather(*lessons, return_exceptions=True)

    leaked_now = trainer_threads(roots) if roots else None
    leaked_later = leaked_now
    deadline = time.monotonic() + LEAK_WAIT
    while leaked_later and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        leaked_later = trainer_threads(roots)

    result = ClassResult(design, len(urls), n, server_samples=sampler.samples)
    result.students = [_student_record(s, window) for s in students if not isinstance(s, Sweeper)]
    result.sweepers = [{"index": s.index, "sweeps": s.sweeps, "errors": dict(s.errors)}
                       for s in students if isinstance(s, Sweeper)]
    result.summary = _summarize(result.students, sampler.samples, server_cpu, gen_cpu, machine_cpu, leaked_now,
                                leaked_later, args.timeout)
    sweeps = [x["seconds"] for w in result.sweepers for x in w["sweeps"]]
    result.summary.update(sweepers=len(result.sweepers), sweeps_done=len(sweeps),
                          sweep_s_median=_percentile(sweeps, 0.5),
                          errors=result.summary["errors"] + sum(sum(w["errors"].values()) for w in result.sweepers))
    return result


def _epochs_per_second(samples: list[tuple[float, float]], window: Window) -> float | None:
    """Epochs gained over the window / time between its first and last reading; a reset (a new run)
    is not counted as negative progress."""
    inside = [(t, e) for t, e in samples if window.contains(t)]
    if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
        return None
    gained = sum(max(0.0, b[1] - a[1]) for a, b in zip(inside, inside[1:]))
    return gained / (inside[-1][0] - inside[0][0])


def _student_record(s: Student, window: Window) -> dict[str, Any]:
    assert window.start is not None
    return {
        "index": s.index,
        "url": s.base_url,
        "load_s": s.load_seconds,
        "max_epochs_shown": s.max_epochs_shown,
        "epochs_per_s": _epochs_per_second(s.epochs, window),
        "last_progress": s.last_progress,
        "runs": dict(s.runs),
        "cached_messages": len(s.cache),  # grows when ticks overlap runs (the frontend then skips ageing)
        "moves": [{**asdict(m), "sent": round(m.sent - window.start, 3)} for m in s.moves if m.measured],
        "errors": dict(s.errors),
        "queued": s.queued,
    }


def _percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _summarize(students: list[dict[str, Any]], samples: list[dict[str, float]], server_cpu: float | None,
               gen_cpu: float, machine_cpu: float, leaked_now: int | None, leaked_later: int | None,
               timeout: float) -> dict[str, Any]:
    moves = [m for s in students for m in s["moves"]]
    shown = [m["latency"] for m in moves if m["latency"] is not None]
    with_missed = shown + [timeout] * (len(moves) - len(shown))
    rates = [s["epochs_per_s"] for s in students if s["epochs_per_s"] is not None]
    return {
        "latency_median_s": _percentile(shown, 0.5),
        "latency_p90_s": _percentile(shown, 0.9),
        "latency_max_s": max(shown, default=None),
        "latency_p90_missed_as_timeout_s": _percentile(with_missed, 0.9),
        "moves_shown": len(shown),
        "moves_missed": len(moves) - len(shown),
        "epochs_per_s_median": _percentile(rates, 0.5),
        "epochs_per_s_min": min(rates, default=None),
        "students_without_epochs": len(students) - len(rates),
        "server_cpu_pct": server_cpu,
        "server_rss_mb_mean": _percentile([x["rss_mb"] for x in samples], 0.5) if samples else None,
        "server_rss_mb_peak": max((x["rss_mb"] for x in samples), default=None),
        "loadgen_cpu_pct": gen_cpu,
        "machine_cpu_pct": machine_cpu,
        # with --url and no --pid the servers are not measured, so they count as "other" here
        "other_cpu_pct": max(0.0, machine_cpu - gen_cpu - (server_cpu or 0.0)),
        "errors": sum(sum(s["errors"].values()) for s in students),
        "queued_sessions": sum(s["queued"] for s in students),
        "leaked_trainers_at_close": leaked_now,
        "leaked_trainers_after_wait": leaked_later,
    }


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
COLUMNS = [
    ("design", 9), ("apps", 4), ("N", 4), ("lat med", 7), ("p90", 6), ("max", 6), ("shown/miss", 10),
    ("ep/s med", 8), ("ep/s min", 8), ("srv CPU%", 8), ("RSS MB", 7), ("gen CPU%", 8), ("other%", 6),
    ("errors", 6), ("queued", 6), ("leaked", 7), ("sweeps", 6), ("sweep s", 7),
]
LEGEND = ("lat: slider-to-chart s over the moves shown; ep/s: epochs/s per student; CPU in % of one core;\n"
          "RSS: peak sum; gen: this script; other: the rest of the machine; leaked: trainers at close>after 15 s;\n"
          "sweeps: lesson 3 runs the --sweepers finished in the window, sweep s: their median Run-to-verdict time")


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def table(results: list[ClassResult]) -> str:
    lines = ["  ".join(f"{name:>{width}}" for name, width in COLUMNS)]
    for r in results:
        s = r.summary
        leaked = "-" if s["leaked_trainers_at_close"] is None else \
            f"{s['leaked_trainers_at_close']}>{s['leaked_trainers_after_wait']}"
        cells = [
            r.design, str(r.apps), str(r.sessions), _fmt(s["latency_median_s"]), _fmt(s["latency_p90_s"]),
            _fmt(s["latency_max_s"]), f"{s['moves_shown']}/{s['moves_missed']}", _fmt(s["epochs_per_s_median"], 1),
            _fmt(s["epochs_per_s_min"], 1), _fmt(s["server_cpu_pct"], 0), _fmt(s["server_rss_mb_peak"], 0),
            _fmt(s["loadgen_cpu_pct"], 0), _fmt(s["other_cpu_pct"], 0), str(s["errors"]),
            str(s["queued_sessions"]), leaked, f"{s['sweeps_done']}" if s["sweepers"] else "-",
            _fmt(s["sweep_s_median"], 1),
        ]
        lines.append("  ".join(f"{cell:>{width}}" for cell, (_, width) in zip(cells, COLUMNS)))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------
def _csv(kind: type) -> Any:
    return lambda text: [kind(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--sessions", type=_csv(int), default=[10, 30], help="class sizes, comma-separated")
    p.add_argument("--sweepers", type=int, default=0,
                   help="of each class, how many run lesson 3 sweeps one after another instead of the Playground")
    p.add_argument("--designs", type=_csv(str), default=["threads"], help="threads and/or processes")
    p.add_argument("--duration", type=float, default=60.0, help="measured window, s")
    p.add_argument("--warmup", type=float, default=10.0, help="s after every session loaded, before measuring")
    p.add_argument("--interval", type=float, default=4.0, help="mean s between slider moves (±50 %%)")
    p.add_argument("--timeout", type=float, default=15.0, help="s after which a move not shown counts as missed")
    p.add_argument("--arrival", type=float, default=5.0, help="s over which the class connects")
    p.add_argument("--load-timeout", type=float, default=120.0, help="s a session may take to draw its first chart")
    p.add_argument("--apps", type=int, default=1, help="app servers to start; the class is split between them")
    p.add_argument("--url", type=_csv(str), default=None,
                   help="running server(s) to target instead of starting any, comma-separated")
    p.add_argument("--pid", type=int, action="append", default=[],
                   help="with --url: a server process to sample (repeatable)")
    p.add_argument("--workers", help="DROPOUT_LAB_WORKERS for the servers started here")
    p.add_argument("--max-trainers", help="DROPOUT_LAB_MAX_TRAINERS for the servers started here")
    p.add_argument("--refresh", help="DROPOUT_LAB_REFRESH for the servers started here")
    p.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                   help="more environment for the servers started here (repeatable)")
    p.add_argument("--seed", type=int, default=0, help="seeds each student's slider values and timing")
    p.add_argument("--json", type=Path, help="write the raw results here")
    p.add_argument("-v", "--verbose", action="store_true", help="print every slider move and the title that showed it")
    args = p.parse_args(argv)
    unknown = set(args.designs) - {"threads", "processes"}
    if unknown:
        p.error(f"unknown design(s): {', '.join(sorted(unknown))}")
    if any("=" not in item for item in args.env):
        p.error("--env takes NAME=VALUE")
    return args


def server_env(design: str, args: argparse.Namespace) -> dict[str, str]:
    env = {"DROPOUT_LAB_TRAINERS": design}
    for name, value in (("WORKERS", args.workers), ("MAX_TRAINERS", args.max_trainers), ("REFRESH", args.refresh)):
        if value is not None:
            env[f"DROPOUT_LAB_{name}"] = str(value)
    env.update(item.split("=", 1) for item in args.env)
    return env


def idle_check(seconds: float = 2.0) -> None:
    """Warn when other work already uses the cores: the app would get less than they have to give."""
    before = machine_busy_ticks()
    time.sleep(seconds)
    busy = (machine_busy_ticks() - before) / CLOCK_TICKS / seconds * 100
    if busy > 20:
        print(f"  warning: before starting, other processes used {busy:.0f} % of a core; "
              "every number below is skewed by them", flush=True)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A SIGTERM or SIGHUP must also get to the finally clauses that stop the servers.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    signal.signal(signal.SIGHUP, _raise_interrupt)
    log_dir = Path(tempfile.mkdtemp(prefix="load_class-"))
    results: list[ClassResult] = []
    try:
        for design in (["external"] if args.url else args.designs):
            for n in args.sessions:
                label = f"{design}-{args.apps if not args.url else len(args.url)}x-{n}"
                print(f"{label}: {n} sessions, {args.duration:.0f} s measured", flush=True)
                if args.url:
                    results.append(asyncio.run(run_class(design, args.url, args.pid, n, args)))
                    continue
                idle_check()
                with app_servers(args.apps, server_env(design, args), log_dir, label) as servers:
                    roots = [s.proc.pid for s in servers]
                    results.append(asyncio.run(run_class(design, [s.url for s in servers], roots, n, args)))
    except KeyboardInterrupt as exc:
        print(f"interrupted ({str(exc) or 'Ctrl-C'}): servers stopped", file=sys.stderr)
        return 130
    finally:
        if results:
            print()
            print(table(results))
            print(LEGEND)
            print("targets (2 cores, 30 sessions): p90 <= 1.5 s, >= 3 epochs/s per student, 0 errors, 0 leaked")
            print(f"server logs: {log_dir}")
        if args.json and results:
            args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
