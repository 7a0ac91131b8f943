"""A page's settings in its link (``?width=32&p=0.3``), read in one place for every page.

A value is refused with a sentence, never with a traceback: the page then uses its default and
says so. ``link_value`` reads one value, ``reader`` makes a page's reader from its widgets' options,
``seed_from_link`` gives each widget its default or, on the first visit, the link's value, and
``write_link`` keeps the address bar a link to the page's current settings.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import urlencode

import streamlit as st


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


def link_value(raw: str, default: Any, *, lo: float = 0, hi: float = 0, choices: tuple = ()) -> Any:
    """``raw`` read like ``default``: a comma-separated list of ``choices`` for a list, one of
    ``choices`` when given (a number among them is read as a number; a word must match), else a
    number in [lo, hi]; ``true`` or ``false`` for a bool. Raises ValueError with what is wrong."""
    if isinstance(default, bool):
        if raw in ("true", "false"):
            return raw == "true"
        raise ValueError("must be true or false")
    if isinstance(default, str) and not choices:  # free text (a list typed in a box): the page reads it
        if len(raw) > MAX_TEXT:
            raise ValueError(f"is longer than {MAX_TEXT} characters")
        return raw
    if isinstance(default, list) and any(isinstance(c, str) for c in choices):
        words = [v.strip() for v in raw.split(",") if v.strip()]
        if not set(words) <= set(choices):
            raise ValueError(f"choose from {_listed(choices)}")
        return [c for c in choices if c in words]  # in the control's order, each once
    if isinstance(default, list):
        whole = bool(default) and isinstance(default[0], int)
        try:
            values = [float(v) for v in raw.split(",") if v.strip()]
        except ValueError:
            raise ValueError("must be numbers separated by commas") from None
        if whole and not all(v.is_integer() for v in values):
            raise ValueError("must be whole numbers")
        values = [int(v) for v in values] if whole else values
        if not values or not set(values) <= set(choices):
            raise ValueError(f"choose from {_listed(choices)}")
        return values
    if choices:
        if raw in [c for c in choices if isinstance(c, str)]:
            return raw
        numbers = [c for c in choices if not isinstance(c, str)]
        if isinstance(default, str) or not numbers:
            raise ValueError(f"choose from {_listed(choices)}")
        try:
            value = number_from_link(raw, default, min(numbers), max(numbers))
        except ValueError:
            raise ValueError(f"choose from {_listed(choices)}") from None
        if value not in choices:
            raise ValueError(f"choose from {_listed(choices)}")
        return value
    return number_from_link(raw, default, lo, hi)


MAX_TEXT = 200


def _listed(choices: tuple) -> str:
    return ", ".join(f"{c:g}" if isinstance(c, float) else str(c) for c in choices)


def seed_from_link(widgets: Mapping[str, tuple[str, Any]], read: Callable[[str, str, Any], Any], *,
                   use_link: bool) -> None:
    """For each ``widget key: (link name, default)`` not yet in the session: the default, or with
    ``use_link`` the link's value as ``read(name, raw, default)`` reads it (a ValueError is said in a
    warning, and the default used)."""
    for widget, (name, value) in widgets.items():
        if widget in st.session_state:
            continue
        raw = st.query_params.get(name) if use_link else None
        if raw is not None:
            try:
                value = read(name, raw, value)
            except ValueError as exc:
                st.warning(f"The link's {shown(name)}={shown(raw)} cannot be used ({exc}); using the default, "
                           f"{shown(link_text(value))}.", icon="🔗")
        st.session_state[widget] = value


def choice_from_link(name: str, choices: Sequence[str], what: str) -> str:
    """The link's ``name`` when it is one of ``choices``; else (with a warning naming the ones there are,
    when the link asked for another) the first choice. ``what`` names a choice: "a preset", "an experiment"."""
    wanted = st.query_params.get(name)
    if wanted is None:
        return choices[0]
    if wanted not in choices:
        st.warning(f"This link asks for {what} called {shown(wanted)}, which does not exist, so the first one, "
                   f"{shown(choices[0])}, is shown. There are: {', '.join(map(shown, choices))}.", icon="🔗")
        return choices[0]
    return wanted


def shown(raw: str, limit: int = 40) -> str:
    """A value from outside the app (a link) as inline code, where Markdown makes no link, emphasis,
    image or HTML of it; cut at ``limit`` characters."""
    text = " ".join(str(raw).split()).replace("`", "'")
    return f"`{text[:limit]}…`" if len(text) > limit else f"`{text}`"


def as_text(text: str) -> str:
    """``text`` (a server setting's value, a message quoting one) escaped so that Markdown shows it as it
    is: every ASCII punctuation mark gets its backslash, so no link, image, emphasis or HTML comes of it."""
    return "".join("\\" + c if c in _PUNCTUATION else c for c in str(text))


_PUNCTUATION = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


Reader = Callable[[str, str, Any], Any]


def reader(choices: Mapping[str, Iterable[Any]], ranges: Mapping[str, tuple[float, float]]) -> Reader:
    """A page's link reader: ``read(name, raw, default)`` takes one of ``choices[name]`` when the widget
    offers choices, else a number in ``ranges[name]``, typed like ``default`` (``link_value``)."""
    def read(name: str, raw: str, default: Any) -> Any:
        lo, hi = ranges.get(name, (0, 0))
        return link_value(raw, default, lo=lo, hi=hi, choices=tuple(choices.get(name, ())))
    return read


def link_text(value: Any) -> str:
    """How a value is written in a link, so that ``link_value`` reads it back unchanged."""
    if isinstance(value, (list, tuple)):
        return ",".join(link_text(v) for v in value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)  # not :g, which writes 2147483647 as 2.14748e+09
    if isinstance(value, float):
        return f"{value:.12g}"
    return str(value)


ROOM_NAMES = ("room", "teacher", "present")
"""A class room's part of the link (``core.ui.room``): kept when a page rewrites its settings."""


def write_link(values: Mapping[str, Any], *, keep: tuple[str, ...] = ()) -> None:
    """Make the address bar a link to exactly ``values`` (name: value), the room the page is in and the names
    starting with one of ``keep`` (another section's, written with ``linked``), sent only when it changed."""
    current = st.query_params.to_dict()
    wanted = {name: link_text(value) for name, value in values.items()}
    wanted.update({name: value for name, value in current.items()
                   if name in ROOM_NAMES or (keep and name.startswith(keep))})
    if st.query_params.to_dict() != wanted:
        st.query_params.from_dict(wanted)


def linked(key: str, default: Any, *, name: str, choices: Sequence[Any] = (), lo: float = 0, hi: float = 0) -> None:
    """One control of a page in the page's link, under ``name``: the first time the session meets the control
    it takes the link's value (read like ``link_value``; refused with a sentence, and the default used), else
    ``default``; a value no control could send (crafted) is put back with a word (``core.ui.controls.guard``);
    and from then on the address bar carries the value whenever it differs from the default (leaving the
    link's other names alone, so that the controls of several sections share one link)."""
    from core.ui.controls import guard  # noqa: PLC0415 (it draws; links stays import-light)

    if isinstance(default, bool) and not choices:
        choices = (False, True)

    if key not in st.session_state:
        seed_from_link({key: (name, default)},
                       lambda _, raw, value: link_value(raw, value, lo=lo, hi=hi, choices=tuple(choices)),
                       use_link=True)
    if isinstance(default, list):  # a multi-choice control: any subset of its choices
        value = st.session_state[key]
        if not isinstance(value, list) or not set(value) <= set(choices):
            st.session_state[key] = list(default)
    elif isinstance(default, str) and not choices:  # a text box: any text, up to MAX_TEXT characters
        value = st.session_state[key]
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            st.session_state[key] = default
    else:
        guard(key, default, choices=tuple(choices), lo=lo, hi=hi)
    value = st.session_state[key]
    if value == default:
        if name in st.query_params:
            del st.query_params[name]
    elif st.query_params.get(name) != link_text(value):
        st.query_params[name] = link_text(value)


def copy_link(where: Any = None) -> None:
    """A "Copy link" control (in ``where``, the sidebar by default): the page's full address with its
    current settings, in a box with a copy button, to paste where the class can open it."""
    where = st.sidebar if where is None else where
    query = urlencode({k: v for k, v in st.query_params.to_dict().items() if k != "teacher"})  # the room's key
    base = st.context.url or ""
    with where.popover("🔗 Copy link", use_container_width=True,
                       help="This page's link with every setting as it is now: whoever opens it gets the same "
                            "run (the same seed, data and initial weights)."):
        st.code(f"{base}?{query}" if query else base or "(this page's address)", language=None, wrap_lines=True)
        st.caption("The copy button is at the box's right. The address bar holds the same link, kept up to date "
                   "as you change the controls.")
