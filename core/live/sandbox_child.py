"""The throwaway process that runs a learner's code (started by ``core.live.sandbox``; never imported).

``python -I sandbox_child.py ROOT MODULE:FUNCTION ARGS_JSON LIMITS_JSON`` in an empty working folder that
holds ``solution.py``. In order: import the task (our code, and torch, before anything is locked), then
lock the process: resource limits, Landlock (no writing outside this folder, no network, no signals or
ptrace to processes outside it, where the kernel has it), the user ``nobody`` when started as root, and an
audit hook that refuses new processes, sockets, ctypes and writes outside the folder. Only then does the
task load the learner's file. What the task emits and returns goes to a private copy of stdout as
``EVENT <json>`` / ``RESULT <json>`` lines; the learner's prints are kept apart and returned, shortened.
"""
import io
import json
import math
import os
import resource
import sys

LANDLOCK_CREATE, LANDLOCK_ADD_RULE, LANDLOCK_RESTRICT = 444, 445, 446  # the same on x86-64 and arm64
_FS_WRITE = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 11) \
    | (1 << 12)  # write_file, remove_dir, remove_file, make_char, make_dir, make_reg, make_sock, make_fifo, make_block, make_sym
_FS_REFER, _FS_TRUNCATE, _FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # from Landlock ABI 2, 3 and 5
_WRITE_OPEN_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
_REFUSED_EVENTS = ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "subprocess.Popen",
                   "socket.connect", "socket.bind", "socket.sendto", "os.kill", "os.killpg", "pty.spawn", "os.setuid")
_WRITE_EVENTS = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate",
                 "os.link", "os.symlink", "shutil.rmtree", "os.utime")


def _landlock(folder: str) -> bool:
    """Forbid writing anywhere but ``folder``, TCP, and signalling or tracing processes outside this one."""
    import ctypes  # noqa: PLC0415

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(LANDLOCK_CREATE, None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        return False
    fs = _FS_WRITE | (_FS_REFER if abi >= 2 else 0) | (_FS_TRUNCATE if abi >= 3 else 0) | (_FS_IOCTL_DEV if abi >= 5 else 0)

    class Ruleset(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    class PathBeneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("fd", ctypes.c_int32)]

    attr = Ruleset(fs, 0b11 if abi >= 4 else 0, 0b11 if abi >= 6 else 0)  # net: bind, connect; scope: unix, signal
    size = ctypes.sizeof(Ruleset) if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = libc.syscall(LANDLOCK_CREATE, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return False
    fd = os.open(folder, os.O_PATH | os.O_DIRECTORY)
    rule = PathBeneath(fs, fd)
    ok = libc.syscall(LANDLOCK_ADD_RULE, ruleset, 1, ctypes.byref(rule), 0) == 0  # 1: LANDLOCK_RULE_PATH_BENEATH
    os.close(fd)
    ok = ok and libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
    ok = ok and libc.syscall(LANDLOCK_RESTRICT, ruleset, 0) == 0
    os.close(ruleset)
    return ok


def _inside(path, folder: str) -> bool:
    try:
        real = os.path.realpath(os.fsdecode(path) if not isinstance(path, int) else folder)
    except (TypeError, ValueError):
        return False
    return real == folder or real.startswith(folder + os.sep)


def _audit_hook(folder: str):
    own_proc = f"/proc/{os.getpid()}"

    def hook(event: str, args: tuple) -> None:
        if event.startswith(_REFUSED_EVENTS) or event.startswith("ctypes."):
            raise PermissionError(f"{event} is not allowed in the exercise sandbox")
        if event in _WRITE_EVENTS and not all(_inside(a, folder) for a in args[:2] if isinstance(a, (str, bytes))):
            raise PermissionError(f"{event} outside the exercise's own folder is not allowed")
        if event == "open" and args and isinstance(args[0], (str, bytes)):
            path, mode, flags = args[0], args[1], args[2] if len(args) > 2 else 0
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool((flags or 0) & _WRITE_OPEN_FLAGS)
            if writing and not _inside(path, folder):
                raise PermissionError(f"writing {os.fsdecode(path)!r} is not allowed: only the exercise's own folder")
            real = os.path.realpath(os.fsdecode(path))
            if real.startswith("/proc/") and real.split("/")[2].isdigit() and not real.startswith(own_proc):
                raise PermissionError("reading other processes is not allowed in the exercise sandbox")
    return hook


def _limit(limits: dict) -> None:
    # RLIMIT_CPU counts the whole process: add what importing torch and the task already used, so the
    # learner's code gets its full budget however slow the machine (a busy CI runner spent most of 2 s there)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = math.ceil(usage.ru_utime + usage.ru_stime) + int(limits["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    memory = int(limits["memory_mb"]) * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    size = int(limits["file_size_kb"]) * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def _become_nobody(folder: str) -> None:
    if os.geteuid() != 0:
        return
    os.chown(folder, 65534, 65534)
    for name in os.listdir(folder):
        os.chown(os.path.join(folder, name), 65534, 65534)
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def main() -> None:
    root, task, args, limits = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
    folder = os.path.realpath(os.getcwd())
    results = os.fdopen(os.dup(1), "w", buffering=1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)  # what the learner's code writes to fd 1 or 2 directly goes nowhere
    os.dup2(null, 2)
    printed = io.StringIO()
    sys.stdout = sys.stderr = printed

    def send(kind: str, payload) -> None:
        results.write(f"{kind} {json.dumps(payload, allow_nan=False, default=str)}\n")

    sys.path.insert(0, root)
    module_name, function_name = task.split(":")
    import importlib  # noqa: PLC0415

    try:
        import torch  # noqa: PLC0415

        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)
    except ImportError:
        pass
    function = getattr(importlib.import_module(module_name), function_name)
    _limit(limits)
    locked = _landlock(folder)
    _become_nobody(folder)
    sys.dont_write_bytecode = True  # an import must not try to write a cache file the hook refuses
    sys.addaudithook(_audit_hook(folder))
    send("LOCKED", {"landlock": locked, "uid": os.getuid()})
    try:
        result = function(os.path.join(folder, "solution.py"), lambda event: send("EVENT", event), **args)
    except MemoryError:
        send("MEMORY", {})
        os._exit(3)
    except BaseException as exc:  # the task's own error, or SystemExit / KeyboardInterrupt from the learner's code
        lines = [line for line in f"{type(exc).__name__}: {exc}".splitlines() if line.strip()]
        send("EXCEPTION", {"line": lines[-1] if lines else type(exc).__name__, "type": type(exc).__name__,
                           "errno": getattr(exc, "errno", None)})
        os._exit(4)
    send("PRINTED", printed.getvalue()[-2000:])
    send("RESULT", result)
    results.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
