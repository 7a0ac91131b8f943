"""Charts a learner clicks while the runs behind them may train (lesson 4's units, lesson 5's points).

Two facts about Streamlit's selectable Plotly charts, measured, shape this module:

- one click can be delivered to several reruns while live views rerun on their timers (one press
  added its points up to three times), so each part of a page counts its clicks in *generations*:
  every control or chart is drawn with the generation it belongs to, the first delivery moves the
  generation on, and later deliveries of the same click find theirs stale;
- a selectable chart is mounted afresh whenever its figure changes, and a click that lands during
  the remount is lost, so while the runs train ``Clicks.chart`` keeps the figure it shows until what
  a click aims at has changed, at most once every ``REFRESH`` seconds.
"""
from __future__ import annotations

import json
import time
from functools import partial
from typing import Any, Callable

import streamlit as st

REFRESH = 3.0  # seconds between two redraws of a clickable chart while the runs train


class Clicks:
    """The clicks of one part of a page, under the session-state namespace ``ns``."""

    def __init__(self, ns: str):
        self.ns = ns
        self._key = ns + "click_gen"

    @property
    def generation(self) -> int:
        """The generation the controls and charts drawn now belong to."""
        return st.session_state.get(self._key, 0)

    def next(self) -> None:
        """A new generation: the clickable charts are drawn again, unselected."""
        st.session_state[self._key] = self.generation + 1

    def first(self, generation: int) -> bool:
        """True for the first delivery of a click on something drawn in ``generation``, once."""
        if generation != self.generation:
            return False
        self.next()
        return True

    def chart(self, build: Callable[[], Any], name: str, *, playing: bool,
              on_points: Callable[[list[dict[str, Any]]], None]) -> None:
        """A selectable chart of the figure ``build()`` makes; a click on it that picked points calls
        ``on_points(points)`` once (a click beside every point does nothing). While ``playing``, the
        figure shown is kept until, ``REFRESH`` s or more later, its ``click_signature`` changed; it is
        rebuilt at once after a click or when the runs stop."""
        generation = self.generation
        held = st.session_state.get(f"{self.ns}{name}.figure")
        now = time.monotonic()
        if held is None or held[0] != generation or not playing:
            figure = build()
            held = (generation, now, figure, click_signature(figure))
        elif now - held[1] >= REFRESH:
            figure = build()
            signature = click_signature(figure)
            held = (generation, now, figure, signature) if signature != held[3] else (generation, now, *held[2:])
        st.session_state[f"{self.ns}{name}.figure"] = held
        st.plotly_chart(held[2], key=f"{self.ns}{name}.{generation}.chart",
                        on_select=partial(self._on_select, name, generation, on_points),
                        selection_mode="points", config={"displayModeBar": False})

    def points(self, name: str, generation: int) -> list[dict[str, Any]]:
        """The points the latest click on chart ``name`` of ``generation`` picked."""
        event = st.session_state.get(f"{self.ns}{name}.{generation}.chart")
        return list(event.selection.points) if event is not None else []

    def _on_select(self, name: str, generation: int, on_points: Callable[[list[dict[str, Any]]], None]) -> None:
        points = self.points(name, generation)
        if points and self.first(generation):
            on_points(points)


def click_signature(figure: Any) -> str:
    """What a learner aims at in a clickable figure: its traces without their hover text."""
    data = [{k: v for k, v in trace.to_plotly_json().items() if k not in ("text", "hovertext")}
            for trace in figure.data]
    return json.dumps(data, sort_keys=True, default=str)
