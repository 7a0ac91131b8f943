"""Values no control could send, on every page, as far as AppTest can send them: every slider and number
box set far outside its range at once. The page answers without a traceback, and its runs stay alive.

AppTest's widgets go through Streamlit 1.67's own range guard (it puts an out-of-range value back to
the default), so this is the page-level smoke test only. The engine's own bounds, which a value over
the websocket would meet, are tested directly on each entry point: the runner commands in
tests/core/live/test_pair.py and tests/core/labs/uncertainty/test_regression_runner.py, MC passes in
tests/core/analysis/test_mc.py, lesson 1's passes in tests/core/labs/mechanism/ and
tests/pages/test_01_mechanism.py, the digit index in tests/core/labs/uncertainty/test_shift.py."""
import pytest

from tests.pages.conftest import HELD

PAGES = ["pages/01_mechanism.py", "pages/02_playground.py", "pages/03_overfitting.py", "pages/04_coadaptation.py",
         "pages/05_uncertainty.py", "pages/06_cnn.py", "pages/07_variants.py",
         "pages/08_batchnorm.py", "pages/09_production.py"]


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("far", [10**9, -10**9])
def test_every_number_far_outside_its_range_breaks_nothing(open_page, page, far):
    at = open_page(page)
    assert not at.exception
    widgets = list(at.slider) + list(at.number_input)
    assert widgets, "the page has no numbers to send"
    for widget in widgets:
        if isinstance(widget.value, (tuple, list)):
            continue  # a range slider: its own test below would be needed
        widget.set_value(far)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    for key in HELD:
        held = at.session_state[key] if key in at.session_state else None
        if held is not None and hasattr(held, "alive"):
            assert held.alive or held.snapshot()["state"] in ("finished", "stopped"), key
    at.run()  # and the page goes on answering
    assert not at.exception
