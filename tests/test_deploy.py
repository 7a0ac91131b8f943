"""deploy/nginx-class.conf: a valid nginx configuration whose limits bite per browser, not per class.

Runs the file itself (listen port and upstreams moved to free local ports, a tiny HTTP server standing
in for the app processes) when nginx is installed (.ci/run installs it); skipped otherwise."""
from __future__ import annotations

import http.server
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[1] / "deploy" / "nginx-class.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (`apt-get install nginx-light`)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = b"app"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def nginx(tmp_path):
    app = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=app.serve_forever, daemon=True).start()
    port = _free_port()
    text = CONF.read_text()
    text = text.replace("listen 8501;", f"listen 127.0.0.1:{port};")
    text = re.sub(r"server 127\.0\.0\.1:850[23];", f"server 127.0.0.1:{app.server_address[1]};", text)
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    subprocess.run([NGINX, "-t", "-c", str(conf), "-p", str(tmp_path)], check=True, capture_output=True, timeout=30)
    proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base, timeout=2).read()
            break
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("nginx did not start")
            time.sleep(0.1)
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        app.shutdown()


def _status(url: str, route: str) -> int:
    request = urllib.request.Request(url, headers={"Cookie": f"dropout_lab_route={route}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_shipped_file_is_a_valid_configuration(tmp_path):
    out = subprocess.run([NGINX, "-t", "-c", str(CONF), "-p", str(tmp_path)], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr


def test_one_browser_flooding_is_refused_while_its_classmates_behind_the_same_address_are_served(nginx):
    flood = [_status(nginx, "greedy") for _ in range(150)]  # far faster than 10 a second
    assert flood[:60].count(200) == 60  # the burst: two page loads at once pass untouched
    assert flood.count(429) > 50
    classmates = [_status(nginx, f"student-{i}") for i in range(60)]  # one NAT: the same address
    assert classmates.count(200) == 60
