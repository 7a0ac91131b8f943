"""Fixtures for the real-browser tests: a `streamlit run` server and Debian's Chromium via Playwright.

Never run `playwright install` (it downloads a browser of its own): the tests drive Debian's
Chromium at /usr/bin/chromium (`apt-get install chromium`).
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Iterator, NamedTuple

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # keep st.fragment(run_every=...) ticking in tabs that are not in front
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
SERVER_START_TIMEOUT = 60.0
SERVER_STOP_TIMEOUT = 10.0


class AppServer(NamedTuple):
    base_url: str
    pid: int
    log: Path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)  # lets the page fixture see a failure
    return report


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _unavailable(reason: str) -> None:
    """CI must run the browser tests; elsewhere a missing browser only skips them."""
    if _in_ci():
        pytest.fail(f"{reason} (CI=true: the e2e tests must run)", pytrace=False)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log_tail(log: Path, chars: int = 4000) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM the server's own process group, SIGKILL it if it lingers, and reap the server."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(SERVER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    # SIGKILL anything left in the group (the leader may be gone while children linger).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(SERVER_STOP_TIMEOUT)


@contextlib.contextmanager
def streamlit_server(name: str = "streamlit", env: dict[str, str] | None = None,
                     app: Path = REPO_ROOT / "app.py") -> Iterator[AppServer]:
    """Run `streamlit run /abs/path/app.py` on a free local port in its own process group, with the
    app's default settings (the tests' own DROPOUT_LAB_* variables removed) plus ``env``.

    It starts in a working directory of its own, not the repository, as a service would: the settings
    of the app's .streamlit/config.toml (no file watcher, no tracebacks, no GC after each run) must hold
    wherever it starts from, so no flag here repeats them."""
    ARTIFACTS.mkdir(exist_ok=True)
    elsewhere = ARTIFACTS / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    port = _free_port()
    log = ARTIFACTS / f"{name}.log"
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=elsewhere, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, env={**_default_env(), **(env or {})},
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode} before serving:\n{_log_tail(log)}")
            try:
                with urllib.request.urlopen(f"{base_url}/_stcore/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit not healthy after {SERVER_START_TIMEOUT:.0f} s:\n{_log_tail(log)}")
            time.sleep(0.2)
        # The health endpoint is up; pages themselves are waited for in the browser.
        yield AppServer(base_url, proc.pid, log)
    finally:
        _stop_group(proc)


def _default_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("DROPOUT_LAB_")}


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """test-artifacts/ at the repository root (screenshots, server logs)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def app_server() -> Iterator[AppServer]:
    """One server shared by a test module: (base_url, pid, log)."""
    with streamlit_server("streamlit-e2e") as server:
        yield server


@pytest.fixture
def own_app_server() -> Iterator[AppServer]:
    """A server for one test alone, for checks on the whole process (its threads, say)."""
    with streamlit_server("streamlit-e2e-own") as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} not found: `apt-get install chromium` to run the browser tests")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed: `pip install playwright` (never `playwright install`)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def context(browser):
    """A fresh browser context (its own cookies, so its own Streamlit session), closed after the test."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    ctx.set_default_timeout(30_000)
    try:
        yield ctx
    finally:
        with contextlib.suppress(Exception):
            ctx.close()


@pytest.fixture
def page(request, context):
    page = context.new_page()
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and not page.is_closed():
        ARTIFACTS.mkdir(exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-failure.png"), full_page=True)


HANDLED_WITHIN_MS = 15_000  # a click that reached the app shows its effect by then, even on a busy machine


def click_until(button, shown, attempts: int = 3) -> None:
    """Click ``button`` until ``shown`` is visible. A click that lands while Streamlit is replacing the
    element (a live page redraws several times a second) is lost, and a person would click again. The
    button is clicked again only while it is still there after HANDLED_WITHIN_MS, so a slow answer to a
    toggle (Play/Pause) is never undone by a second click."""
    from playwright.sync_api import expect  # imported here: without playwright the browser tests skip
    for attempt in range(attempts):
        button.click()
        try:
            expect(shown).to_be_visible(timeout=HANDLED_WITHIN_MS)
            return
        except AssertionError:
            if attempt == attempts - 1 or not button.is_visible():
                raise


TRAINER_COMM = "dropout-trainer"  # core.live.runner.OS_THREAD_NAME: live runners and background runs alike


def trainer_threads(pid: int) -> int:
    """How many OS threads of process ``pid`` and its descendants (the worker processes) are named
    like a trainer thread."""
    count = 0
    for proc in process_tree(pid):
        for comm in Path(f"/proc/{proc}/task").glob("*/comm"):
            try:
                name = comm.read_text().strip()
            except OSError:  # the thread ended between listing and reading
                continue
            count += name == TRAINER_COMM
    return count


def process_tree(pid: int) -> list[int]:
    """``pid`` and every live descendant of it."""
    found, todo = [], [pid]
    while todo:
        proc = todo.pop()
        found.append(proc)
        for children in Path(f"/proc/{proc}/task").glob("*/children"):
            try:
                todo += [int(c) for c in children.read_text().split()]
            except OSError:
                continue
    return found
