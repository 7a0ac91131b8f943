"""Code exercises: an editor (or an uploaded .py file), a run of the learner's code in the sandbox
(``core.live.sandbox``: a throwaway locked process, never the app or a worker), and a judge's report drawn.

``DROPOUT_LAB_CODE_EXERCISES=off`` turns the runs off for the whole server: ``enabled()`` is then False and
the page says so instead of offering a Submit button. Session keys, under the caller's ``key``: the editor's
text, ``.upload`` (a file), and ``.report`` (the last report, kept for reruns).
"""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from core.live.pool import settings as server_settings
from core.live.sandbox import MAX_SOURCE, Outcome, Sandbox

_SANDBOX: Sandbox | None = None
OFF = ("Code exercises are off on this server (its administrator set DROPOUT_LAB_CODE_EXERCISES=off), so no code "
       "you write is run here. You can still read the task and the reference solution, and run the same judge on "
       "your own machine: `python -m core judge {task} my_solution.py`.")


def enabled() -> bool:
    return server_settings().code_exercises


def sandbox() -> Sandbox:
    """The one gate of this app process: at most DROPOUT_LAB_CODE_RUNS learner-code processes at once."""
    global _SANDBOX
    if _SANDBOX is None:
        _SANDBOX = Sandbox(slots=server_settings().code_runs)
    return _SANDBOX


def editor(key: str, starter: str, *, label: str) -> str:
    """The learner's code: the text area (starting from ``starter``), or an uploaded .py file that replaces it."""
    st.session_state.setdefault(key, starter)
    upload = st.file_uploader("…or upload a .py file", type=["py"], key=key + ".upload", max_upload_size=1,  # MB
                              help=f"A Python file of at most {MAX_SOURCE // 1000} KB; it replaces the text above.")
    if upload is not None and st.session_state.get(key + ".uploaded") != upload.file_id:
        st.session_state[key + ".uploaded"] = upload.file_id
        raw = upload.getvalue()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            st.error(f"{upload.name} is not a UTF-8 text file, so it is not Python source: nothing was loaded.")
        else:
            if len(raw) > MAX_SOURCE or "\x00" in text:
                st.error(f"{upload.name} is not a short Python file ({len(raw):,} bytes): nothing was loaded.")
            else:
                st.session_state[key] = text
    return st.text_area(label, key=key, height=360, help="Your code runs in a throwaway process with no network, "
                        "no access to the server's files or settings, and limits on time and memory.")


def run(task: str, source: str, args: dict[str, Any] | None = None, *, what: str,
        on_event: Callable[[dict], None] | None = None) -> Outcome:
    """Run ``task`` on ``source`` in the sandbox under a status line; the outcome (a limit hit, or done)."""
    with st.status(what, expanded=False) as status:
        outcome = sandbox().run(task, source, args, on_event=on_event)
        status.update(label=f"{what.rstrip('…')}: {'done' if outcome.ok else outcome.status} in {outcome.seconds:.1f} s",
                      state="complete" if outcome.ok else "error")
    return outcome


def report(outcome: Outcome, *, accepted: str, misconceptions: dict[str, str]) -> dict[str, Any]:
    """Draw a judge's report: accepted, rejected (each failure named, with its misconception), unusable, or the
    limit that stopped the run. Returns the report as plain data (status ``limit`` for a stopped run)."""
    if not outcome.ok:
        st.error(f"Your code did not finish: {outcome.message}")
        _printed(outcome)
        return {"status": "limit", "failures": [], "misconceptions": [], "checks": []}
    result = outcome.result
    if result.get("status") == "unusable":
        st.error(f"The judge could not use this code: {result.get('error')}")
    elif result.get("status") == "accepted":
        st.success(accepted)
    else:
        st.error(f"Rejected: {len(result.get('failures', []))} of {len(result.get('checks', []))} checks failed.")
        for failure in result.get("failures", []):
            st.markdown(f"- **{failure['check']}**: {failure['message']}")
        named = [misconceptions.get(k, k) for k in dict.fromkeys(result.get("misconceptions", []))]
        if named:
            st.caption("What these failures suggest: " + " ".join(named))
    checks = result.get("checks", [])
    if checks:
        with st.expander(f"All {len(checks)} checks"):
            st.dataframe([{"check": c["check"], "passed": "yes" if c["passed"] else "NO", "detail": c.get("message", "")}
                          for c in checks], hide_index=True, width="stretch")
    _printed(outcome)
    return result


def _printed(outcome: Outcome) -> None:
    if outcome.printed.strip():
        with st.expander("What your code printed"):
            st.code(outcome.printed, language=None)
