"""Widgets and pieces that several lab pages share: a guard for values no control could send, a verdict's
checks as lines, and one figure layout."""
from __future__ import annotations

import math
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from core.analysis.verdicts import FAILS, HOLDS

STATUS_ICON = {HOLDS: "✅", FAILS: "❌"}
CHART = {"displayModeBar": False}


def guard(key: str, default: Any, *, choices: tuple = (), lo: float | None = None, hi: float | None = None) -> None:
    """Set ``key`` to ``default`` when absent; a value no control could send (crafted, or left by an old
    version) is put back to the default with a word, instead of the widget raising."""
    ss = st.session_state
    value = ss.setdefault(key, default)
    if choices:
        ok = value in choices and type(value) is type(default)
    else:
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
              and lo <= value <= hi and (isinstance(default, float) or float(value).is_integer()))
    if not ok:
        ss[key] = default
        st.warning(f"A value of {key.rsplit('.', 1)[-1].replace('_', ' ')} that no control can send was put back "
                   f"to its default, {default}.")


def verdict_lines(verdicts: list[dict[str, Any]], *, claims: bool = False) -> None:
    """Each check of each verdict as a line with its status; ``claims``: each verdict's claim in bold first."""
    for v in verdicts:
        if claims:
            st.markdown(f"**Claim, {v['claim']}.** {v.get('text', '')}")
        for c in v["checks"]:
            st.markdown(f"- {STATUS_ICON.get(c['status'], '❔')} **{c['status']}**. {c['text']}. {c['detail']}.")


def layout(fig: go.Figure, title: str, x: str, y: str, height: int = 340) -> go.Figure:
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=height, margin=dict(l=50, r=10, t=50, b=40),
                      legend=dict(orientation="h", y=-0.25))
    return fig
