"""The wire between the app and a worker process: requests, replies and posts over one socket, both ways."""
from __future__ import annotations

import itertools
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any, Callable

CALL_TIMEOUT = 5.0
"""Seconds to wait for the other end's answer (the app then shows the last snapshot instead)."""


class WorkerGone(RuntimeError):
    """The other end of a link closed (a worker died, or the app went away)."""


class RemoteError(RuntimeError):
    """The other end raised while handling a call; the message says what."""


class _Broken(Exception):
    """A message arrived that this end cannot read: the link closes."""


class Link:
    """Requests, replies and one-way posts over a ``Connection``, from any thread, both ways.

    Messages are pickled here with the standard pickle (torch's multiprocessing pickler would try
    to share tensors through file descriptors). ``serve`` reads until the other end closes,
    runs each handler in the reading thread, or in a thread pool for the kinds in ``slow``
    (they may wait), and returns why it stopped.
    """

    def __init__(self, conn: Connection, handlers: dict[str, Callable[..., Any]], slow: frozenset[str] = frozenset()):
        self._conn = conn
        self._handlers = handlers
        self._slow = slow
        self._send_lock = threading.Lock()
        self._close_lock = threading.Lock()
        self._pending: dict[int, list] = {}  # id -> [event, ok, value]
        self._ids = itertools.count(1)
        self._closed: str | None = None
        self.broken: str | None = None  # why it closed, when it was this end that could not go on
        self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="link") if slow else None

    @property
    def closed(self) -> str | None:
        """Why the link is closed, or None while it is open."""
        return self._closed

    def post(self, kind: str, *args: Any) -> None:
        self._write(("post", 0, kind, args))

    def call(self, kind: str, *args: Any, timeout: float = CALL_TIMEOUT) -> Any:
        """Send a request and wait for its reply; TimeoutError, WorkerGone or RemoteError otherwise."""
        msg_id = next(self._ids)
        slot = self._pending[msg_id] = [threading.Event(), False, None]
        try:
            self._write(("req", msg_id, kind, args))
            if not slot[0].wait(timeout):
                raise TimeoutError(f"no answer to {kind} within {timeout:.0f} s")
        finally:
            self._pending.pop(msg_id, None)
        if self._closed is not None and not slot[0].is_set():
            raise WorkerGone(self._closed)
        ok, value = slot[1], slot[2]
        if ok is None:
            raise WorkerGone(value)
        if not ok:
            raise RemoteError(value)
        return value

    def close(self) -> None:
        """Close this end (safe from any thread, more than once: the fd is closed exactly once)."""
        with self._close_lock:
            if not self._conn.closed:
                try:
                    self._conn.close()
                except OSError:
                    pass

    def serve(self) -> str:
        """Read and dispatch until the other end closes, or until a message cannot be read or handled
        here (it fails to unpickle, say): then the link closes with that reason, so its owner learns
        of it (the app replaces the worker), rather than this thread dying in silence."""
        try:
            while True:
                data = self._conn.recv_bytes()
                try:
                    message = pickle.loads(data)
                except Exception as exc:  # noqa: BLE001 - a message we cannot read: the wire is not to be trusted
                    raise _Broken(f"a message could not be read ({type(exc).__name__}: {exc})") from None
                self._dispatch(message)
        except (EOFError, OSError) as exc:
            reason = "closed" if isinstance(exc, EOFError) else f"{type(exc).__name__}: {exc}"
        except _Broken as exc:
            reason = self.broken = str(exc)
        except Exception as exc:  # noqa: BLE001 - last resort: say why, never vanish
            reason = self.broken = f"the link failed ({type(exc).__name__}: {exc})"
        self._closed = reason
        self.close()  # the other end reads end-of-file: both sides know
        for slot in list(self._pending.values()):
            slot[1], slot[2] = None, reason
            slot[0].set()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        return reason

    def _write(self, message: tuple) -> None:
        if self._closed is not None:
            raise WorkerGone(self._closed)
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            with self._send_lock:
                self._conn.send_bytes(data)
        except (OSError, ValueError) as exc:  # ValueError: the connection was closed here
            raise WorkerGone(f"{type(exc).__name__}: {exc}") from None

    def _dispatch(self, message: tuple) -> None:
        tag, msg_id, kind, payload = message if len(message) == 4 else (*message, None)
        if tag in ("ok", "err"):
            slot = self._pending.get(msg_id)
            if slot is not None:
                slot[1], slot[2] = tag == "ok", kind
                slot[0].set()
            return
        if kind in self._slow:
            self._pool.submit(self._handle, tag, msg_id, kind, payload)
        else:
            self._handle(tag, msg_id, kind, payload)

    def _handle(self, tag: str, msg_id: int, kind: str, args: tuple) -> None:
        try:
            reply: tuple = ("ok", msg_id, self._handlers[kind](*args))
        except Exception as exc:  # noqa: BLE001 - the caller gets the message, the link lives on
            reply = ("err", msg_id, f"{type(exc).__name__}: {exc}")
        if tag == "req":
            try:
                self._write(reply)
            except WorkerGone:
                pass  # the caller is gone: nobody to answer
            except Exception as exc:  # noqa: BLE001 - an answer that cannot be pickled: say so instead
                try:
                    self._write(("err", msg_id, f"the answer to {kind} could not be sent ({type(exc).__name__}: "
                                 f"{exc})"))
                except WorkerGone:
                    pass
