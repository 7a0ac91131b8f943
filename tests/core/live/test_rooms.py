"""Rooms, against both stores: SQLite (a file shared by processes) and Redis (a real redis-server)."""
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.live.room_store import RedisStore, SQLiteStore, StoreDown, open_store
from core.live.rooms import CODE_LENGTH, CODE_LETTERS, Room, RoomError, Rooms, normal_code

ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A redis-server of our own, on a free port, gone after the module."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server; .ci/run does)")
    port, folder = _free_port(), tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url, deadline = f"redis://127.0.0.1:{port}/0", time.monotonic() + 30
    while True:
        try:
            RedisStore(url)
            break
        except StoreDown:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"redis-server did not answer on port {port} within 30 s")
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(params=["sqlite", "redis"])
def spec(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "rooms.sqlite3")
    return request.getfixturevalue("redis_url")


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


def test_a_room_round_trip_locks_pushes_and_counts_a_poll(spec):
    rooms = Rooms(open_store(spec), size=3, hours=1)
    room, token = rooms.open("playground")
    assert len(room.code) == CODE_LENGTH and set(room.code) <= set(CODE_LETTERS)
    assert rooms.get(room.code.lower()) == room  # a code typed in lower case finds the room
    rooms.change(room.code, token, locked=("Network",), hidden=("Training",))
    rooms.push(room.code, token, "too-much-dropout")
    rooms.ask(room.code, token, "lower_val_loss", "Whose validation loss ends lower?", ("A", "B"))
    for member, option in [("s1", "A"), ("s2", "B"), ("s3", "A"), ("s2", "A")]:  # s2 changes their mind
        rooms.join(room.code, member)
        rooms.answer(room.code, member, 1, option)
    seen = rooms.get(room.code)
    assert (seen.locked, seen.hidden, seen.preset, seen.pushes) == (("Network",), ("Training",), "too-much-dropout", 1)
    assert seen.version == 3 and seen.poll.number == 1 and not seen.poll.revealed
    assert rooms.tally(room.code, 1) == {"A": 3, "B": 0} and rooms.members(room.code) == 3
    assert rooms.mine(room.code, "s2", 1) == "A" and rooms.mine(room.code, "s9", 1) is None
    rooms.reveal(room.code, token, "B", "B ended at 0.41, A at 0.52.")
    assert rooms.get(room.code).poll.result == "B"
    with pytest.raises(RoomError, match="answers are closed"):
        rooms.answer(room.code, "s1", 1, "B")
    rooms.ask(room.code, token, "bigger_gap", "Whose gap is larger?", ("A", "B"))
    assert rooms.tally(room.code, 2) == {"A": 0, "B": 0}
    with pytest.raises(RoomError, match="no longer open"):
        rooms.answer(room.code, "s1", 1, "A")
    with pytest.raises(RoomError, match="not one of"):
        rooms.answer(room.code, "s1", 2, "C")


def test_only_the_token_controls_a_room_and_it_is_stored_hashed(spec):
    store = open_store(spec)
    rooms = Rooms(store, size=3, hours=1)
    room, token = rooms.open("playground")
    assert token not in store.load(room.code)[1]
    for wrong in (None, "", token + "x", "guess"):
        with pytest.raises(RoomError, match="does not control"):
            rooms.change(room.code, wrong, locked=("Data",))
    with pytest.raises(RoomError, match="does not control"):
        rooms.close(room.code, "guess")
    rooms.close(room.code, token)
    with pytest.raises(RoomError, match=f"There is no room {room.code}"):
        rooms.get(room.code)


def test_a_full_room_a_bad_code_and_an_expired_room_each_get_a_sentence(spec):
    clock = Clock()
    rooms = Rooms(open_store(spec), size=2, hours=1, clock=clock)
    room, _ = rooms.open("playground")
    rooms.join(room.code, "s1")
    rooms.join(room.code, "s2")
    rooms.join(room.code, "s1")  # joining again (a rerun, a second look) takes no new place
    with pytest.raises(RoomError, match=r"is full \(2 students\)"):
        rooms.join(room.code, "s3")
    for bad in ("", "abc", "K7MQ2!", "O0O0O", "x" * 500, "<script>"):
        with pytest.raises(RoomError, match="A room code is 5 letters"):
            rooms.get(bad)
    assert normal_code(f" {room.code[:2].lower()}-{room.code[2:]} ") == room.code
    clock.now += 3601
    with pytest.raises(RoomError, match=f"Room {room.code} has expired"):
        rooms.get(room.code)


def test_a_store_that_is_down_is_a_sentence_not_a_traceback(tmp_path):
    with pytest.raises(StoreDown, match="cannot be reached"):
        Rooms(open_store(f"redis://127.0.0.1:{_free_port()}/0"))
    with pytest.raises(StoreDown, match="must be redis://"):
        open_store("mysql://host/db")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(StoreDown, match="cannot be used"):
        open_store(str(tmp_path / "a-file" / "rooms.sqlite3"))
    store = SQLiteStore(tmp_path / "rooms.sqlite3")
    rooms = Rooms(store, size=2, hours=1)
    room, _ = rooms.open("playground")
    (tmp_path / "rooms.sqlite3").unlink()  # the file goes away under a running server
    for name in ("rooms.sqlite3-wal", "rooms.sqlite3-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    store._local.db.close()
    store._local.db = None
    tmp_path.chmod(0o500)  # and cannot be made again
    try:
        with pytest.raises(RoomError, match="room store is not reachable"):
            rooms.get(room.code)
    finally:
        tmp_path.chmod(0o700)


ANSWER = """
import sys
from core.live.room_store import open_store
from core.live.rooms import Rooms
rooms = Rooms(open_store(sys.argv[1]), size=5, hours=1)
code = sys.argv[2]
rooms.join(code, "other-process")
room = rooms.get(code)
rooms.answer(code, "other-process", room.poll.number, "B")
print(room.locked, room.preset)
"""


def test_two_processes_share_a_room_through_the_sqlite_file(tmp_path):
    spec = str(tmp_path / "rooms.sqlite3")
    rooms = Rooms(open_store(spec), size=5, hours=1)
    room, token = rooms.open("playground")
    rooms.change(room.code, token, locked=("Data",), preset="spirals")
    rooms.ask(room.code, token, "k", "Whose?", ("A", "B"))
    rooms.join(room.code, "here")
    rooms.answer(room.code, "here", 1, "A")
    out = subprocess.run([sys.executable, "-c", ANSWER, spec, room.code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "('Data',) spirals"  # the other process saw the teacher's room
    assert rooms.tally(room.code, 1) == {"A": 1, "B": 1} and rooms.members(room.code) == 2


def test_a_room_survives_its_json():
    room = Room(code="K7MQ2", page="playground", opened=1.0, expires=2.0, locked=("Data",), pushes=2)
    assert Room.from_json(room.to_json()) == room
