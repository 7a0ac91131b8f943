"""Where a teacher's rooms live, so that every app process serving the class sees the same room.

``SQLiteStore`` (the default): one file in WAL mode, shared by the processes of one machine, nothing to
install. ``RedisStore``: a Redis server (``DROPOUT_LAB_ROOMS=redis://host:port/db``) for a class spread
over several machines, spoken to with the few commands it needs over a plain socket (no client library).
Both keep the same three things per room: the room (a JSON text and the hash of the teacher's token),
its members, and each poll's answers (member -> option); every key outlives the room by ``ttl`` seconds.
A store that cannot be reached raises ``StoreDown``.
"""
from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

DEFAULT_PATH = Path.home() / ".cache" / "dropout-lab" / "rooms.sqlite3"


class StoreDown(Exception):
    """The store could not be reached or refused a command; the message says which and why."""


class Store(Protocol):
    def create(self, code: str, room: str, token_hash: str, ttl: float) -> bool: ...
    def load(self, code: str) -> tuple[str, str] | None: ...
    def save(self, code: str, room: str, ttl: float) -> None: ...
    def join(self, code: str, member: str, limit: int, ttl: float) -> tuple[bool, int]: ...
    def members(self, code: str) -> int: ...
    def answer(self, code: str, poll: int, member: str, option: str, ttl: float) -> None: ...
    def answers(self, code: str, poll: int) -> dict[str, str]: ...
    def delete(self, code: str) -> None: ...


def open_store(spec: str | None = None) -> Store:
    """The store ``spec`` names (default: ``DROPOUT_LAB_ROOMS``): ``redis://…``, ``sqlite:///path``, a
    path, or nothing for ``DEFAULT_PATH``. Raises ``StoreDown`` for a spec it cannot use."""
    spec = (os.environ.get("DROPOUT_LAB_ROOMS", "") if spec is None else spec).strip()
    if spec.startswith(("redis://", "rediss://")):
        return RedisStore(spec)
    if spec.startswith("sqlite://"):
        spec = spec[len("sqlite://"):]
    if "://" in spec:
        raise StoreDown(f"DROPOUT_LAB_ROOMS must be redis://host:port/db or a file path, not {spec!r}")
    return SQLiteStore(Path(spec) if spec else DEFAULT_PATH)


class SQLiteStore:
    """Rooms in one SQLite file (WAL: readers never wait for the writer), one connection per thread."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._db() as db:
                db.executescript(
                    "CREATE TABLE IF NOT EXISTS rooms (code TEXT PRIMARY KEY, room TEXT NOT NULL, token TEXT NOT NULL,"
                    " until REAL NOT NULL);"
                    "CREATE TABLE IF NOT EXISTS members (code TEXT, member TEXT, PRIMARY KEY (code, member));"
                    "CREATE TABLE IF NOT EXISTS answers (code TEXT, poll INTEGER, member TEXT, option TEXT,"
                    " PRIMARY KEY (code, poll, member));")
        except (OSError, sqlite3.Error) as exc:
            raise StoreDown(f"the room file {self.path} cannot be used ({exc})") from None

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=10000")
            self._local.db = db
        return db

    def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        try:
            return self._db().execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreDown(f"the room file {self.path} cannot be used ({exc})") from None

    def create(self, code: str, room: str, token_hash: str, ttl: float) -> bool:
        now = time.time()
        self._purge(now)
        try:
            self._run("INSERT INTO rooms VALUES (?, ?, ?, ?)", (code, room, token_hash, now + ttl))
        except StoreDown as exc:
            if "UNIQUE" in str(exc):
                return False
            raise
        return True

    def load(self, code: str) -> tuple[str, str] | None:
        rows = self._run("SELECT room, token FROM rooms WHERE code = ? AND until > ?", (code, time.time()))
        return rows[0] if rows else None

    def save(self, code: str, room: str, ttl: float) -> None:
        self._run("UPDATE rooms SET room = ?, until = ? WHERE code = ?", (room, time.time() + ttl, code))

    def join(self, code: str, member: str, limit: int, ttl: float) -> tuple[bool, int]:
        db = self._db()
        try:
            db.execute("BEGIN IMMEDIATE")  # count and add as one step, whichever process comes first
            try:
                known = db.execute("SELECT 1 FROM members WHERE code = ? AND member = ?", (code, member)).fetchall()
                count = db.execute("SELECT COUNT(*) FROM members WHERE code = ?", (code,)).fetchone()[0]
                joined = bool(known) or count < limit
                if not known and joined:
                    db.execute("INSERT INTO members VALUES (?, ?)", (code, member))
                    count += 1
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreDown(f"the room file {self.path} cannot be used ({exc})") from None
        return joined, count

    def members(self, code: str) -> int:
        return self._run("SELECT COUNT(*) FROM members WHERE code = ?", (code,))[0][0]

    def answer(self, code: str, poll: int, member: str, option: str, ttl: float) -> None:
        self._run("INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)", (code, poll, member, option))

    def answers(self, code: str, poll: int) -> dict[str, str]:
        return dict(self._run("SELECT member, option FROM answers WHERE code = ? AND poll = ?", (code, poll)))

    def delete(self, code: str) -> None:
        for table in ("rooms", "members", "answers"):
            self._run(f"DELETE FROM {table} WHERE code = ?", (code,))

    def _purge(self, now: float) -> None:
        for code, in self._run("SELECT code FROM rooms WHERE until <= ?", (now,)):
            self.delete(code)


class RedisStore:
    """Rooms in Redis: ``room:CODE`` (a hash: room, token), ``members:CODE`` (a set) and
    ``answers:CODE:POLL`` (a hash), each with an expiry. One short-lived connection per command batch."""

    def __init__(self, url: str, timeout: float = 3.0) -> None:
        parts = urlparse(url)
        self.url = f"{parts.scheme}://{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or ''}"
        if parts.scheme == "rediss":
            raise StoreDown("rediss:// (Redis over TLS) is not supported: use redis:// on a private network")
        self.host, self.port, self.timeout = parts.hostname or "localhost", parts.port or 6379, timeout
        self.password = unquote(parts.password) if parts.password else None
        try:
            self.db = int(parts.path.strip("/") or 0)
        except ValueError:
            raise StoreDown(f"{url!r}: the database after the / must be a number") from None
        self.call("PING")

    def call(self, *commands: str | tuple) -> list:
        """Send each command (a name, or a tuple of its words) on one connection; return the replies."""
        batch = [c if isinstance(c, tuple) else (c,) for c in commands]
        if self.db:
            batch.insert(0, ("SELECT", str(self.db)))
        if self.password:
            batch.insert(0, ("AUTH", self.password))
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout) as sock:
                sock.sendall(b"".join(_encode(words) for words in batch))
                stream = sock.makefile("rb")
                replies = [_read(stream) for _ in batch]
        except (OSError, EOFError) as exc:
            raise StoreDown(f"the Redis server at {self.url} cannot be reached ({exc})") from None
        errors = [r for r in replies if isinstance(r, _Error)]
        if errors:
            raise StoreDown(f"the Redis server at {self.url} refused a command ({errors[0]})")
        return replies[len(batch) - len(commands):]

    def create(self, code: str, room: str, token_hash: str, ttl: float) -> bool:
        key, seconds = f"room:{code}", str(int(ttl))
        created, *_ = self.call(("HSETNX", key, "token", token_hash))
        if not created:
            return False
        self.call(("HSET", key, "room", room), ("EXPIRE", key, seconds))
        return True

    def load(self, code: str) -> tuple[str, str] | None:
        room, token = self.call(("HMGET", f"room:{code}", "room", "token"))[0]
        return (room.decode(), token.decode()) if room is not None and token is not None else None

    def save(self, code: str, room: str, ttl: float) -> None:
        key = f"room:{code}"
        self.call(("HSET", key, "room", room), ("EXPIRE", key, str(int(ttl))))

    def join(self, code: str, member: str, limit: int, ttl: float) -> tuple[bool, int]:
        key = f"members:{code}"
        added, count, _ = self.call(("SADD", key, member), ("SCARD", key), ("EXPIRE", key, str(int(ttl))))
        if added and count > limit:  # two joined at once for the last place: the later one leaves again
            self.call(("SREM", key, member))
            return False, count - 1
        return True, count

    def members(self, code: str) -> int:
        return self.call(("SCARD", f"members:{code}"))[0]

    def answer(self, code: str, poll: int, member: str, option: str, ttl: float) -> None:
        key = f"answers:{code}:{poll}"
        self.call(("HSET", key, member, option), ("EXPIRE", key, str(int(ttl))))

    def answers(self, code: str, poll: int) -> dict[str, str]:
        flat = self.call(("HGETALL", f"answers:{code}:{poll}"))[0]
        return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}

    def delete(self, code: str) -> None:
        polls = self.call(("KEYS", f"answers:{code}:*"))[0]
        self.call(("DEL", f"room:{code}", f"members:{code}", *[k.decode() for k in polls]))


class _Error(str):
    """A Redis error reply."""


def _encode(words: tuple) -> bytes:
    out = [b"*%d\r\n" % len(words)]
    for word in words:
        data = str(word).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _read(stream):
    """One RESP reply: a status, error, integer, bulk string (bytes or None) or array of them."""
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise EOFError("the connection closed mid-reply")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body.decode()
    if kind == b"-":
        return _Error(body.decode())
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        if size < 0:
            return None
        data = stream.read(size + 2)
        return data[:-2]
    if kind == b"*":
        size = int(body)
        return None if size < 0 else [_read(stream) for _ in range(size)]
    raise EOFError(f"an unexpected reply {line[:20]!r}")
