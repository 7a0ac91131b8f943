import threading
import time

import pytest
import torch

torch.set_num_threads(1)

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
