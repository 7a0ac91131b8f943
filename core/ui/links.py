"""Reading a page's settings from its link (``?width=32&p=0.3``): a value is refused with a sentence,
never with a traceback, and the page then uses its default and says so."""
from __future__ import annotations


def number_from_link(raw: str, default: int | float, lo: float, hi: float) -> int | float:
    """``raw`` read as the type of ``default`` (whole numbers for an int) within [lo, hi].

    Raises ValueError with what is wrong ("must be a whole number", "must be in [1, 10]").
    """
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("must be a number") from None
    if isinstance(default, int):
        if not value.is_integer():  # also refuses inf and nan
            raise ValueError("must be a whole number")
        value = int(value)
    if not lo <= value <= hi:  # refuses nan too
        raise ValueError(f"must be in [{lo:g}, {hi:g}]")
    return value
