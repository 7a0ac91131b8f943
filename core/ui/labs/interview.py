"""The interview page: drill the bank by topic and difficulty (with hints and follow-up chains), mock
interviews against a clock, "implement dropout" graded by the judge in the sandbox, and progress kept in
the session, downloadable, uploadable and scheduled for spaced review.

Session keys (prefix ``interview.``): ``progress`` (a ``Progress``), ``drill.*`` (filters and the question
shown), ``mock`` (the mock interview in course), ``code.*`` (the editors and last reports), ``seen.*``
(answers already counted), and the drills' own keys under ``quiz.``/``predict.``.
"""
from __future__ import annotations

import time
from typing import Any

import streamlit as st

from core.drills import DIFFICULTIES, Question
from core.labs.interview import figures
from core.labs.interview.experiments import ExperimentRequest
from core.labs.interview.practice import MOCK_TYPES, Answer, Progress, ProgressError, pick_mock, score
from core.ui import code, drills
from core.ui.jobs import run_now
from core.ui.links import linked, shown

NS = "interview."
TYPE_NAMES = {"choice": "multiple choice", "numeric": "numeric", "bug": "spot the bug", "predict": "predict, then observe",
              "explain": "explain in words", "code": "code"}
CHAIN_START = "scratch-implement-dropout"
TASKS = {"dropout": "Implement dropout", "mc_predict": "MC dropout prediction"}
SECONDS_PER_QUESTION = 90


def progress() -> Progress:
    ss = st.session_state
    if NS + "progress" not in ss:
        ss[NS + "progress"] = Progress.new()
    return ss[NS + "progress"]


def _count(key: str, q: Question, correct: bool, misconception: str | None) -> None:
    """Count an answer once (a rerun shows the same verdict again without counting it twice)."""
    if not st.session_state.get(NS + "seen." + key):
        st.session_state[NS + "seen." + key] = True
        progress().record(q.id, correct, misconception)


# -- drill -----------------------------------------------------------------------------------------------
def drill() -> None:
    bank = drills.bank()
    topics = {slug: t.title for slug, t in bank.topics.items()}
    _question_from_link(bank)
    linked(NS + "drill.topic", "all", name="topic", choices=("all", *topics))
    linked(NS + "drill.levels", list(DIFFICULTIES), name="levels", choices=tuple(DIFFICULTIES))
    linked(NS + "drill.types", list(TYPE_NAMES), name="types", choices=tuple(TYPE_NAMES))
    c1, c2, c3 = st.columns([2, 2, 2])
    topic = c1.selectbox("Topic", ["all", *topics], format_func=lambda s: "All topics" if s == "all" else topics[s],
                         key=NS + "drill.topic", help="One topic, or every topic of the bank.")
    levels = c2.multiselect("Difficulty", DIFFICULTIES, key=NS + "drill.levels",
                            help="Easy: definitions. Medium: reasoning and numbers. Hard: what a strong candidate adds.")
    kinds = c3.multiselect("Question types", list(TYPE_NAMES), format_func=TYPE_NAMES.get,
                           key=NS + "drill.types", help="Predict-then-observe runs a small live experiment; code runs "
                           "your code in a sandbox.")
    if not levels or not kinds:
        st.info("No question matches these filters: choose at least one difficulty and one question type.")
        return
    due = progress().due()
    review = st.toggle(f"Only the {len(due)} question(s) due for review", key=NS + "drill.review", disabled=not due,
                       help="Questions you missed come back on a spaced-review schedule (FSRS).")
    ids = due if review and due else [q.id for q in bank.questions(topics=() if topic == "all" else (topic,),
                                                                     difficulties=tuple(levels), types=tuple(kinds))]
    if not ids:
        st.info("No question matches these filters: widen the topic, difficulty or types.")
        return
    wanted = st.session_state.get(NS + "drill.goto")
    index = ids.index(wanted) if wanted in ids else min(st.session_state.get(NS + "drill.index", 0), len(ids) - 1)
    st.session_state[NS + "drill.index"], st.session_state[NS + "drill.goto"] = index, None
    b1, b2, b3 = st.columns([1, 1, 4])
    b1.button("◀ Previous", key=NS + "drill.prev.button", disabled=index == 0, on_click=_step, args=(-1,),
              use_container_width=True, help="The previous question of this selection.")
    b2.button("Next ▶", key=NS + "drill.next.button", disabled=index == len(ids) - 1, on_click=_step, args=(1,),
              use_container_width=True, help="The next question of this selection.")
    b3.caption(f"Question {index + 1} of {len(ids)}")
    if st.query_params.get("q") != ids[index]:
        st.query_params["q"] = ids[index]  # the link opens this question
    question(bank.question(ids[index], seed=progress().seed))
    st.caption(f"Your numbers in numeric questions are drawn from seed {progress().seed} (kept in your progress "
               "file), so a classmate gets other numbers for the same question.")


def _question_from_link(bank: Any) -> None:
    """On the drill's first run in this session, show the link's question (``?q=ID``, among the link's filters);
    an id the bank does not have is said, and the drill starts at its first question."""
    if NS + "drill.topic" in st.session_state:
        return
    wanted = st.query_params.get("q")
    if wanted is None:
        return
    if wanted in {q.id for q in bank.questions()}:
        st.session_state[NS + "drill.goto"] = wanted  # within the link's filters, as the app writes them
    else:
        st.warning(f"This link asks for a question called {shown(wanted)}, which the bank does not have; the drill "
                   "starts at its first question.", icon="🔗")


def _step(delta: int) -> None:
    st.session_state[NS + "drill.index"] = max(0, st.session_state.get(NS + "drill.index", 0) + delta)


def _goto(qid: str) -> None:
    """Show ``qid`` next: every filter open, so that it is in the selection."""
    ss = st.session_state
    ss[NS + "drill.topic"], ss[NS + "drill.levels"], ss[NS + "drill.types"] = "all", list(DIFFICULTIES), list(TYPE_NAMES)
    ss[NS + "drill.review"], ss[NS + "drill.goto"] = False, qid


def question(q: Question) -> None:
    bank = drills.bank()
    st.caption(f"{bank.topics[q.topic].title} · {q.difficulty} · {TYPE_NAMES[q.type]}")
    chain = bank.chain(CHAIN_START)
    if q.id in [c.id for c in chain]:
        steps = " → ".join(("**" if c.id == q.id else "") + f"{i}. {bank.topics[c.topic].title}"
                           + ("**" if c.id == q.id else "") for i, c in enumerate(chain, 1))
        st.caption(f"Follow-up chain, as interviewers probe: {steps}")
    if q.type == "predict":
        _predict(q)
    elif q.type == "code":
        _code_question(q)
    else:
        _, correct, misconception = drills.ask(NS, q)
        if correct is not None:
            _count(f"{q.id}.{q.seed}", q, correct, misconception)
    if q.follow_up:
        nxt = bank.question(q.follow_up)
        st.button(f"Follow-up question ({bank.topics[nxt.topic].title}): {_gist(nxt.prompt)}",
                  key=NS + f"follow.{q.id}.button", on_click=_goto,
                  args=(q.follow_up,), help="What an interviewer asks next after this one.")


def _gist(prompt: str, width: int = 80) -> str:
    """The start of a prompt for a button: no code marks, cut at a word."""
    text = " ".join(prompt.replace("`", "").split())
    return text if len(text) <= width else text[:width].rsplit(" ", 1)[0] + "…"


def _predict(q: Question) -> None:
    key = f"{NS}predict.{q.id}"
    with st.container(border=True):
        st.markdown(f"**Predict first:** {q.prompt}")
        done = st.session_state.get(key + ".observed")
        choice = st.radio("Your prediction", range(len(q.options)), format_func=lambda j: q.options[j], index=None,
                          key=key, label_visibility="collapsed", help=drills.ANSWER_HELP, disabled=done is not None)
        if q.hint:
            with st.expander("Hint"):
                st.markdown(q.hint)
        if done is None:
            if st.button("Commit, then run the experiment", key=key + ".run.button", disabled=choice is None,
                         type="primary", help="Your prediction is locked in; a small live experiment then shows the answer."):
                done = run_now("interview", f"interview.{q.experiment}", ExperimentRequest(q.experiment, 0),
                               what="Running the experiment in a worker (a few seconds)…", timeout=120)
                st.session_state[key + ".observed"] = done
                if done is not None:
                    st.rerun()  # draw the prediction locked
            return
        st.plotly_chart(figures.experiment_bars(done.bars, done.unit, "What this run measured"), key=key + ".bars",
                        config={"displayModeBar": False})
        st.markdown(done.measured)
        if done.holds:
            st.caption(f"The claim held in this run: {done.claim} {done.generalizes}")
        else:
            st.warning(f"This run did not show the claim ({done.claim}); seeded runs usually do. {done.generalizes}")
        correct = choice == q.answer
        drills.feedback(q, correct, q.misconception(choice))
        _count(f"{q.id}.predict", q, correct, q.misconception(choice))


# -- code: the judge ------------------------------------------------------------------------------
def _code_question(q: Question) -> None:
    with st.container(border=True):
        st.markdown(f"**{q.prompt}**")
        if q.hint:
            with st.expander("Hint"):
                st.markdown(q.hint)
        judge(q, where="drill.")


def judge(q: Question, *, where: str = "") -> None:
    """The editor, Submit, and the judge's report; for ``dropout``, once accepted, the layer in a real network.
    ``where`` keeps the drill's editor apart from the "Implement it" tab's (both may be on the page)."""
    key = f"{NS}{where}code.{q.task}"
    if not code.enabled():
        st.info(code.OFF.format(task=q.task))
        with st.expander("The reference solution"):
            st.code(q.answer, language="python")
        return
    source = code.editor(key, q.starter, label="Your code")
    if st.button("Submit to the judge", key=key + ".submit.button", type="primary", help="Runs your code in a "
                 "throwaway sandbox against torch's behaviour: correctness, statistics, modes, edges and gradients."):
        outcome = code.run(f"core.labs.interview.judge:judge_{q.task}", source, what="Judging your code…")
        st.session_state[key + ".report"], st.session_state[key + ".judged"] = outcome, source
        st.session_state.pop(key + ".network", None)
        st.session_state.pop(NS + f"seen.{key}", None)
    outcome = st.session_state.get(key + ".report")
    if outcome is None:
        return
    result = code.report(outcome, accepted="Accepted: every check passed, whatever random call you used.",
                         misconceptions=drills.bank().misconceptions)
    if result["status"] in ("accepted", "rejected"):
        misses = result.get("misconceptions") or [None]
        _count(key, q, result["status"] == "accepted", misses[0])
    if q.task == "dropout" and result["status"] in ("accepted", "rejected"):
        network(key, st.session_state.get(key + ".judged", source))


def network(key: str, source: str) -> None:
    """Your layer in a real network: ours and yours, same seed, side by side, drawn as they train."""
    st.markdown("**Your layer in a real network.** The same small MLP (p = 0.3), trained from the same seed on the "
                "same data, once with torch's Dropout and once with yours. The masks are drawn differently, so the "
                "curves never match step for step; a third run of ours with other masks says how far apart "
                "randomness alone puts them. Some bugs show here plainly (a mask reused), others barely move a "
                "network this small: that is why the judge tests the layer itself.")
    if st.button("Train both networks", key=key + ".network.button", help="300 steps each, in the sandbox (a few seconds)."):
        chart = st.empty()
        curves: dict[str, Any] = {"step": [], "ours": {}, "yours": {}}

        def draw(event: dict) -> None:
            if "step" not in event:
                return
            curves["step"].append(event["step"])
            for side in ("ours", "yours"):
                for metric, value in event.get(side, {}).items():
                    curves[side].setdefault(metric, []).append(value)
            if len(curves["step"]) % 3 == 1:
                chart.plotly_chart(figures.network_curves(curves, "val_acc", "Validation accuracy, live"),
                                   key=f"{key}.live.{len(curves['step'])}", config={"displayModeBar": False})
        outcome = code.run("core.labs.interview.judge:compare_in_network", source, what="Training both networks…",
                           on_event=draw)
        chart.empty()
        st.session_state[key + ".network"] = outcome
    outcome = st.session_state.get(key + ".network")
    if outcome is None:
        return
    if not outcome.ok or outcome.result.get("status") != "done":
        st.error(outcome.message if not outcome.ok else f"The networks could not train: {outcome.result.get('error')}")
        return
    curves = outcome.result["curves"]
    c1, c2 = st.columns(2)
    c1.plotly_chart(figures.network_curves(curves, "train_loss", "Training loss"), key=key + ".train",
                    config={"displayModeBar": False})
    c2.plotly_chart(figures.network_curves(curves, "val_acc", "Validation accuracy"), key=key + ".val",
                    config={"displayModeBar": False})
    st.markdown(outcome.result.get("summary", ""))


def code_drill() -> None:
    """The judge on its own: pick a task, write, submit."""
    bank = drills.bank()
    by_task = {q.task: q for q in bank.questions(types=("code",))}
    task = st.radio("Task", [t for t in TASKS if t in by_task], format_func=TASKS.get, horizontal=True,
                    key=NS + "code.task", help="Implement dropout as a layer, or MC dropout prediction.")
    q = by_task[task]
    st.markdown(q.prompt)
    judge(q)


# -- mock interview ---------------------------------------------------------------------------------
def mock() -> None:
    bank = drills.bank()
    state = st.session_state.get(NS + "mock")
    if state is None:
        n = st.slider("Questions", 3, 15, 6, key=NS + "mock.n", help="Mixed topics and difficulties; about "
                      f"{SECONDS_PER_QUESTION} s each on the clock.")
        st.caption("A mock interview asks the questions answered on the spot (choice, numbers, spot the bug, explain "
                   "in words); the live experiments and the code judge are in the drill.")
        if st.button("Start the mock interview", key=NS + "mock.start.button", type="primary",
                     help="The clock starts now; you are scored at the end."):
            ids = pick_mock([q.id for q in bank.questions(types=MOCK_TYPES)], n,
                            {qid: bank.question(qid).topic for qid in bank.ids}, seed=time.time_ns() % 10**9)
            st.session_state[NS + "mock"] = {"ids": ids, "started": time.time(), "finished": None,
                                             "limit": SECONDS_PER_QUESTION * len(ids)}
            st.rerun()
        return
    questions = [bank.question(qid, seed=progress().seed) for qid in state["ids"]]
    if state["finished"] is None:
        _clock(state)
        for i, q in enumerate(questions, 1):
            with st.container(border=True):
                st.markdown(f"**{i}. {q.prompt}**")
                drills.response(q, f"{NS}mock.{q.id}")
        st.button("Finish and score", key=NS + "mock.finish.button", type="primary", on_click=_finish, args=(state,),
                  help="Stop the clock and see your score and a review of every answer.")
        return
    _review(state, questions)


def _clock(state: dict) -> None:
    @st.fragment(run_every=1.0)
    def tick() -> None:
        used = time.time() - state["started"]
        left = state["limit"] - used
        if left <= 0 and state["finished"] is None:
            _finish(state)
            st.rerun()
        st.progress(min(1.0, used / state["limit"]),
                    text=f"⏱ {int(used // 60)}:{int(used % 60):02d} used · {int(max(left, 0) // 60)}:"
                         f"{int(max(left, 0) % 60):02d} left of {state['limit'] // 60} min")
    tick()


def _finish(state: dict) -> None:
    state["finished"] = time.time()


def _review(state: dict, questions: list[Question]) -> None:
    bank = drills.bank()
    answers = []
    for i, q in enumerate(questions, 1):
        given = st.session_state.get(f"{NS}mock.{q.id}")
        with st.container(border=True):
            st.markdown(f"**{i}. {q.prompt}**")
            if q.type == "explain":
                st.markdown(f"*Your answer:* {given or '(none)'}")
            ticked = drills.rubric(q, f"{NS}mock.{q.id}") if q.type == "explain" else None
            correct, misconception = drills.verdict(q, given, ticked) if given not in (None, "") else (False, None)
            drills.feedback(q, correct, misconception, ticked)
        answers.append(Answer(q.id, given, correct, misconception, 0.0))
        _count(f"mock.{state['started']}.{q.id}", q, correct, misconception)
    result = score(answers)
    used = state["finished"] - state["started"]
    st.metric("Score", f"{result['right']} of {result['asked']}", help="Explain-in-words answers count once you tick "
              "every item of their checklist.")
    st.caption(f"Time: {int(used // 60)}:{int(used % 60):02d} of {state['limit'] // 60} min.")
    if result["misconceptions"]:
        st.plotly_chart(figures.misconception_bars(result["misconceptions"], bank.misconceptions,
                                                   "What the misses suggest"), key=NS + "mock.breakdown",
                        config={"displayModeBar": False})
        for key in result["misconceptions"]:
            st.markdown(f"- **{key}**: {bank.misconceptions[key]}")
    st.button("Another mock interview", key=NS + "mock.again.button", on_click=st.session_state.pop, args=(NS + "mock",),
              help="Your answers so far stay in your progress.")


# -- progress ----------------------------------------------------------------------------------------
def progress_panel() -> None:
    bank = drills.bank()
    mine = progress()
    asked, right = mine.totals()
    c1, c2, c3 = st.columns(3)
    c1.metric("Answered", asked)
    c2.metric("Right", right)
    nxt = mine.next_due()
    c3.metric("Due for review", len(mine.due()), help="Scheduled by FSRS: a missed question comes back within "
              "minutes, a known one after days." + (f" Next: {nxt:%Y-%m-%d %H:%M} UTC." if nxt else ""))
    counts = mine.misconceptions()
    if counts:
        st.plotly_chart(figures.misconception_bars(counts, bank.misconceptions, "Your misconceptions so far"),
                        key=NS + "progress.breakdown", config={"displayModeBar": False})
    st.download_button("Download my progress (JSON)", mine.to_json(), file_name="dropout-lab-interview.json",
                       mime="application/json", key=NS + "progress.download.button",
                       help="A small file with your answers and review schedule: upload it tomorrow to go on.")
    upload = st.file_uploader("Continue from a progress file", type=["json"], key=NS + "progress.upload",
                              help="The file this page downloaded; it replaces the progress of this session.")
    if upload is not None and st.session_state.get(NS + "progress.loaded") != upload.file_id:
        st.session_state[NS + "progress.loaded"] = upload.file_id
        try:
            st.session_state[NS + "progress"] = Progress.from_json(upload.getvalue(), bank.ids, bank.misconceptions)
        except ProgressError as exc:
            st.error(f"{upload.name} was not loaded: {exc}")
        else:
            st.session_state[NS + "progress.notice"] = f"Loaded {upload.name}: {len(progress().records)} questions " \
                                                       "answered before, with their review schedule."
            st.rerun()
    notice = st.session_state.pop(NS + "progress.notice", None)
    if notice:
        st.success(notice)
