"""Process-wide settings that live training needs (see STREAMLIT_NOTES-style measurements in the README)."""
from __future__ import annotations

import gc
import sys

import torch

_configured = False


def configure() -> None:
    """One torch thread per trainer, short GIL slices, and no full-GC storms. Idempotent.

    With a browser or a second trainer busy, two OpenMP threads made tiny models 15-28x
    slower; freezing what the heavy imports allocated keeps any full collection cheap.
    """
    global _configured
    if _configured:
        return
    torch.set_num_threads(1)
    sys.setswitchinterval(0.001)
    gc.collect()
    gc.freeze()
    _configured = True


def one_thread() -> None:
    """torch on one thread in this process (the app's: it draws and answers, it does not train).
    A second OpenMP thread makes small tensor work slower, not faster, next to the workers."""
    torch.set_num_threads(1)
