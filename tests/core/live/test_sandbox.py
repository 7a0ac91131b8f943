"""Learner code runs only in a throwaway, locked process: hostile code is stopped or harmless, the page gets
a sentence saying which limit stopped it, and this process (standing in for the server) is unaffected."""
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from core.live import sandbox
from core.live.sandbox import Limits, Sandbox
from core.live.settings import ServerSettings

ROOT = Path(__file__).resolve().parents[3]
FAST = Limits(cpu_seconds=2, memory_mb=1536, file_size_kb=64, wall_seconds=6)
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox's limits are Linux's")


def run(source: str, limits: Limits = FAST):
    return Sandbox(limits=limits).run("core.live.sandbox:execute", textwrap.dedent(source))


def test_plain_code_runs_and_its_result_and_prints_come_back():
    out = run("print('hello')\nresult = sum(range(10))")
    assert out.ok and out.result == {"result": 45} and "hello" in out.printed


def test_the_child_starts_with_an_empty_environment_and_an_empty_folder_of_its_own():
    out = run("import os, sys\nresult = [dict(os.environ), sorted(os.listdir('.')), sys.flags.isolated, os.getcwd()]")
    env, files, isolated, cwd = out.result["result"]
    assert set(env) <= {"LC_CTYPE"}  # Python itself sets LC_CTYPE when the locale is C (PEP 538)
    assert files == ["solution.py"] and isolated == 1
    assert cwd != os.getcwd() and not Path(cwd).exists()  # removed afterwards


def test_no_file_descriptor_of_the_server_is_inherited():
    leaked = os.open(os.devnull, os.O_RDONLY)  # os.open makes it non-inheritable; close_fds must also hold
    os.set_inheritable(leaked, True)
    try:
        out = run("import os\nresult = sorted(int(f) for f in os.listdir('/proc/self/fd'))")
    finally:
        os.close(leaked)
    assert leaked not in out.result["result"]


def test_an_endless_loop_is_stopped_by_the_cpu_limit():
    out = run("while True:\n    pass")
    assert out.status == "cpu limit" and "CPU" in out.message and out.seconds < FAST.wall_seconds + 5


def test_a_sleeping_loop_is_stopped_by_the_wall_clock():
    out = run("import time\nwhile True:\n    time.sleep(0.5)", Limits(cpu_seconds=5, wall_seconds=3))
    assert out.status == "time limit" and "3 s" in out.message


def test_a_memory_bomb_is_stopped_by_the_memory_limit():
    out = run("blocks = []\nwhile True:\n    blocks.append(bytearray(2**28))")
    assert out.status == "memory limit" and "1,536 MB" in out.message


def test_a_fork_loop_is_stopped_before_the_first_child():
    out = run("import os\nwhile True:\n    os.fork()")
    assert out.status == "not allowed" and "fork" in out.message


def test_no_subprocess_shell_or_socket():
    assert run("import subprocess\nsubprocess.run(['true'])").status == "not allowed"
    assert run("import os\nos.system('true')").status == "not allowed"
    assert run("import socket\nsocket.socket().connect(('127.0.0.1', 8501))").status == "not allowed"


def test_the_servers_environment_cannot_be_read(monkeypatch):
    monkeypatch.setenv("DROPOUT_LAB_SECRET_FOR_TEST", "hunter2")
    assert "hunter2" not in str(run("import os\nresult = dict(os.environ)").result)
    out = run("import os\nresult = open(f'/proc/{os.getppid()}/environ').read()")
    assert not out.ok and "hunter2" not in str(out.result)
    out = run("import os\nresult = open('/proc/1/environ').read()")
    assert not out.ok


def test_writing_or_deleting_outside_its_folder_is_refused(tmp_path):
    target = tmp_path / "keep.txt"
    target.write_text("server data")
    for code in (f"open({str(target)!r}, 'w').write('x')",
                 f"import os\nos.remove({str(target)!r})",
                 f"import os\nfd = os.open({str(target)!r}, os.O_WRONLY | os.O_TRUNC)",
                 f"import pathlib\npathlib.Path({str(tmp_path / 'new.txt')!r}).write_text('x')",
                 f"import shutil\nshutil.rmtree({str(tmp_path)!r})"):
        out = run(code)
        assert not out.ok and "not allowed" in out.message, code
    assert target.read_text() == "server data" and sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_writing_inside_its_folder_works_up_to_the_file_size_limit():
    assert run("open('a.txt', 'w').write('x' * 100)\nresult = len(open('a.txt').read())").result == {"result": 100}
    out = run("open('big.bin', 'wb').write(b'x' * 10**6)")
    assert out.status == "file-size limit" and "64 KB" in out.message


def test_the_kernel_refuses_writes_too_where_it_has_landlock(tmp_path):
    """The audit hook is one layer; Landlock is the kernel's, which ctypes or C code cannot get round."""
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT / 'core' / 'live')!r})
        import sandbox_child
        inside = {str(tmp_path / 'inside')!r}
        os.mkdir(inside)
        if not sandbox_child._landlock(inside):
            print('no landlock'); sys.exit(0)
        open(os.path.join(inside, 'ok.txt'), 'w').write('fine')
        try:
            open({str(tmp_path / 'outside.txt')!r}, 'w')
        except PermissionError:
            print('refused')
    """)
    out = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=60)
    if out.stdout.strip() == "no landlock":
        pytest.skip("this kernel has no Landlock")
    assert out.stdout.strip() == "refused" and not (tmp_path / "outside.txt").exists()
    assert (tmp_path / "inside" / "ok.txt").read_text() == "fine"


def test_signals_and_ctypes_are_refused():
    assert run("import os, signal\nos.kill(os.getppid(), signal.SIGTERM)").status == "not allowed"
    assert run("import ctypes\nctypes.CDLL(None).getpid()").status == "not allowed"


def test_an_exception_is_reported_by_its_last_line():
    out = run("def f():\n    raise ValueError('the mask has the wrong shape')\nf()")
    assert out.status == "error" and out.message == "It raised ValueError: the mask has the wrong shape"
    assert run("def (").message.startswith("It raised SyntaxError")
    assert run("raise SystemExit(3)").status == "error"


def test_a_busy_server_says_so_instead_of_queueing_forever():
    gate = Sandbox(slots=1, limits=Limits(cpu_seconds=5, wall_seconds=4))
    first = threading.Thread(target=gate.run, args=("core.live.sandbox:execute", "import time\ntime.sleep(3)"))
    first.start()
    deadline = time.monotonic() + 30
    while gate._gate._value and time.monotonic() < deadline:  # until the first run holds the slot
        time.sleep(0.01)
    out = gate.run("core.live.sandbox:execute", "result = 1", wait=0.1)
    first.join()
    assert out.status == "busy" and "1 code runner" in out.message.replace("1 code runners", "1 code runner")


def test_too_long_a_source_is_refused_without_starting_anything():
    out = run("x = 1\n" * 30_000)
    assert out.status == "error" and "at most" in out.message


def test_the_server_is_unaffected_after_hostile_code(tmp_path):
    before = dict(os.environ), os.getcwd(), sorted(os.listdir(ROOT))
    for code in ("import os\nos.chdir('/')\nos.environ['PATH'] = ''", "import sys\nsys.modules.clear()"):
        run(code)
    assert (dict(os.environ), os.getcwd(), sorted(os.listdir(ROOT))) == before
    assert run("result = 2 * 21").result == {"result": 42}  # the next learner's run still works


def test_the_switch_and_the_number_of_runners_are_server_settings():
    assert ServerSettings.from_env({}).code_exercises is True
    assert ServerSettings.from_env({"DROPOUT_LAB_CODE_EXERCISES": "off"}).code_exercises is False
    odd = ServerSettings.from_env({"DROPOUT_LAB_CODE_EXERCISES": "maybe", "DROPOUT_LAB_CODE_RUNS": "0"})
    assert odd.code_exercises is True and odd.code_runs == 2 and len(odd.problems) == 2


def test_the_child_is_a_file_the_library_never_imports():
    assert "sandbox_child" not in " ".join(sys.modules)
    assert sandbox.CHILD.exists()
