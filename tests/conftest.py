import os
import tempfile
import threading
import time

import pytest
import torch

torch.set_num_threads(1)
# Pages run in this process train in threads here, so each test can stop and count its trainers; the
# worker pool has tests of its own (tests/core/live/test_pool.py), and the browser tests run the app as a
# new user gets it (tests/e2e/conftest.py clears this for their servers).
os.environ["DROPOUT_LAB_TRAINERS"] = "threads"
# Rooms of the tests' own, in a file of their own (the browser tests' servers inherit it), never the user's.
os.environ.setdefault("DROPOUT_LAB_ROOMS", os.path.join(tempfile.mkdtemp(prefix="dropout-lab-rooms-"), "rooms.db"))

from core.labs.kinds import JOBS, KINDS  # noqa: E402 (after the setting above)
from core.live import pool  # noqa: E402

pool.use_kinds(KINDS)  # as the app's frame does; tests start runners and jobs without it too
pool.use_jobs(JOBS)

TRAINER_THREAD = "dropout-lab-trainer"


def trainer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == TRAINER_THREAD and t.is_alive()]


@pytest.fixture(autouse=True)
def no_leaked_trainers():
    """Every test must stop the trainer threads it started."""
    before = set(trainer_threads())
    yield
    deadline = time.monotonic() + 3
    while set(trainer_threads()) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    leaked = set(trainer_threads()) - before
    assert not leaked, f"{len(leaked)} trainer thread(s) still running after the test"


@pytest.fixture(autouse=True, scope="session")
def figures_are_validated():
    """The app builds its figures without plotly's validators (``core.viz.figure``, for speed); every
    figure a test builds goes through them, so a property plotly would refuse fails the test."""
    import plotly.graph_objects as go  # noqa: PLC0415

    from core import viz  # noqa: PLC0415
    from core.labs.coadaptation import figures as viz_coadaptation  # noqa: PLC0415
    from core.labs.mechanism import figures as viz_mechanism  # noqa: PLC0415
    from core.labs.uncertainty import figures as viz_uncertainty  # noqa: PLC0415

    def validated(traces, layout):
        return go.Figure(data=traces, layout=layout)

    modules = (viz, viz_coadaptation, viz_mechanism, viz_uncertainty)
    saved = [m.figure for m in modules]
    validated.unvalidated = viz.figure  # for the test that compares the two
    for m in modules:
        m.figure = validated
    yield
    for m, f in zip(modules, saved):
        m.figure = f
