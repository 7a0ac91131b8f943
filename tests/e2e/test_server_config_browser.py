"""The app's .streamlit/config.toml holds wherever the server starts from (a service unit rarely starts
in the repository): a page that fails shows the learner no traceback and no message, only the error's
type, when the server was started from another directory."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import REPO_ROOT, streamlit_server

pytestmark = pytest.mark.e2e

SECRET = "secret detail of the server at /srv/dropout-lab"


def test_a_failing_page_shows_no_traceback_when_started_elsewhere(tmp_path, page: Page):
    copy = tmp_path / "app"
    shutil.copytree(REPO_ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "test-artifacts", "__pycache__"))
    mechanism = copy / "pages" / "01_mechanism.py"
    mechanism.write_text(f"raise RuntimeError({SECRET!r})\n" + mechanism.read_text())
    with streamlit_server("streamlit-config", app=copy / "app.py") as server:
        page.goto(server.base_url + "/mechanism")
        error = page.get_by_test_id("stException")
        expect(error).to_be_visible(timeout=90_000)
        expect(error).to_contain_text("RuntimeError")
        text = page.locator("body").inner_text()
        assert SECRET not in text and "Traceback" not in text and "File \"" not in text, text[-2000:]


def test_the_settings_are_read_from_beside_app_py_wherever_streamlit_starts(tmp_path):
    """The same, option by option, as Streamlit's own command line loads them (no browser needed)."""
    probe = (
        "from streamlit import config\n"
        "from streamlit.web import bootstrap\n"
        f"config._main_script_path = {str(REPO_ROOT / 'app.py')!r}\n"  # what `streamlit run PATH` sets first
        "bootstrap.load_config_options(flag_options={})\n"
        "for key in ('client.showErrorDetails', 'server.fileWatcherType', 'runner.postScriptGC'):\n"
        "    print(key, config.get_option(key), config.get_where_defined(key))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         check=True).stdout
    where = str(REPO_ROOT / ".streamlit" / "config.toml")
    assert re.search(rf"client.showErrorDetails type {re.escape(where)}", out), out
    assert re.search(rf"server.fileWatcherType none {re.escape(where)}", out), out
    assert re.search(rf"runner.postScriptGC False {re.escape(where)}", out), out
