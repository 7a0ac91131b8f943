"""The question bank: every question parses with an answer, an explanation and a lab that exists; numeric
answers are the engine's and each learner's variant is the same for the same seed; nothing is duplicated;
a broken file names its problem."""
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.analysis.answers import ANSWERS
from core.drills import BANK_DIR, DIFFICULTIES, TYPES, QuizError, load_bank, parse_bank
from core.lessons import all_lessons

ROOT = Path(__file__).resolve().parents[2]
ISSUE_TOPICS = ("train-vs-inference", "why-scale", "inverted-vs-classic", "keep-vs-drop", "classic-bugs",
                "ensemble-view", "co-adaptation", "choosing-p", "data-and-capacity", "regularizers", "mc-dropout",
                "batchnorm", "cnn-spatial", "rnn-variational", "transformers", "dropconnect", "gaussian", "alpha",
                "droppath", "concrete", "optimization", "production", "from-scratch")
LESSON_ONE = {"survivor", "paper-p", "classic-test", "how-many", "forgot-eval"}
CHAIN = ["scratch-implement-dropout", "rnn-same-mask", "bn-after-dropout", "mc-implement-predict"]


@pytest.fixture(scope="module")
def bank():
    return load_bank(ANSWERS)


def test_the_bank_covers_every_topic_with_at_least_80_questions_of_every_type(bank):
    assert len(bank) >= 80
    assert set(ISSUE_TOPICS) <= set(bank.topics), set(ISSUE_TOPICS) - set(bank.topics)
    assert all(len(t.questions) >= 3 for t in bank.topics.values())
    types = [bank.question(q).type for q in bank.ids]
    assert {t: types.count(t) for t in TYPES if types.count(t) < 2} == {}, "every type, at least twice"
    assert types.count("numeric") >= 20
    levels = {bank.question(q).difficulty for q in bank.ids}
    assert levels == set(DIFFICULTIES)


def test_every_question_has_an_answer_an_explanation_and_a_lab_link(bank):
    for qid in bank.ids:
        q = bank.question(qid)
        assert q.prompt.strip() and q.explanation.strip() and q.answer is not None and str(q.answer).strip(), qid
        assert "{answer}" not in q.explanation and "{" not in q.prompt.replace("{{", ""), qid
        if q.type in ("choice", "predict", "bug", "numeric"):
            assert q.check(q.answer), f"{qid}: its own answer must check"
        if q.type in ("choice", "predict"):
            assert len(q.options) >= 3 and all(q.misconceptions[i] for i in range(len(q.options)) if i != q.answer)
            assert not q.check((q.answer + 1) % len(q.options)) and q.misconception((q.answer + 1) % len(q.options))
        if q.type == "bug":
            assert not q.check(q.answer % len(q.lines) + 1) and q.misconceptions[0] in bank.misconceptions


def _lab_links():
    from core.labs.overfitting.experiments import EXPERIMENTS  # noqa: PLC0415
    from core.labs.playground.presets import PRESETS  # noqa: PLC0415

    pages = {lesson.id.split("_", 1)[1] for lesson in all_lessons()}
    from core.ui.labs.overfitting import REGIME  # noqa: PLC0415 (the picker's last choice, the regime map)
    from core.labs.variants.experiments import KEYS  # noqa: PLC0415 (lesson 7's experiments)

    return pages, {"preset": set(PRESETS), "experiment": {*EXPERIMENTS, REGIME, *KEYS}}


def test_every_lab_link_opens_a_page_that_exists_with_values_it_reads(bank):
    from core.labs.variants.experiments import KEYS  # noqa: PLC0415

    pages, values = _lab_links()
    for qid in bank.ids:
        lab = bank.question(qid).lab
        slug, _, query = lab.partition("?")
        assert slug in pages, f"{qid}: no page /{slug}"
        for pair in filter(None, query.split("&")):
            name, _, value = pair.partition("=")
            assert value in values.get(name, ()), f"{qid}: /{slug} does not read {name}={value}"
            assert (slug, name) in {("playground", "preset"), ("overfitting", "experiment"), ("variants", "experiment")}, qid
            if slug == "variants":
                assert value in KEYS, f"{qid}: lesson 7 has no experiment {value}"


def test_every_predict_question_names_a_live_experiment_that_exists(bank):
    from core.labs.interview.experiments import EXPERIMENTS  # noqa: PLC0415

    predicts = bank.questions(types=("predict",))
    assert len(predicts) >= 4
    for q in predicts:
        assert q.experiment in EXPERIMENTS, q.id


def test_numeric_answers_are_computed_by_the_engines_functions_with_the_variants_args(bank):
    numeric = bank.questions(types=("numeric",))
    assert numeric
    for base in numeric:
        spec = bank._raw[base.id]["answer"]
        assert spec["fn"] in ANSWERS, base.id
        for seed in (None, 0, 1, 7):
            q = bank.question(base.id, seed=seed)
            assert q.answer == ANSWERS[spec["fn"]](**q.args), base.id
            assert f"{q.answer:g}" in q.explanation, f"{base.id}: the explanation quotes the computed answer"
            for name, value in q.args.items():
                if name in bank._raw[base.id].get("variants", {}):
                    assert str(value) in q.prompt or f"{value:g}" in q.prompt, f"{base.id}: the prompt shows {name}"


def test_a_seed_draws_the_same_variant_every_time_and_in_another_process(bank):
    varied = [q.id for q in bank.questions(types=("numeric",)) if bank._raw[q.id].get("variants")]
    assert len(varied) >= 10
    here = {qid: (bank.question(qid, seed=42).prompt, bank.question(qid, seed=42).answer) for qid in varied}
    assert here == {qid: (bank.question(qid, seed=42).prompt, bank.question(qid, seed=42).answer) for qid in varied}
    script = textwrap.dedent(f"""
        import json
        from core.analysis.answers import ANSWERS
        from core.drills import load_bank
        bank = load_bank(ANSWERS)
        print(json.dumps({{q: [bank.question(q, seed=42).prompt, bank.question(q, seed=42).answer] for q in {varied!r}}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, timeout=120,
                         env={"PYTHONHASHSEED": "123", "PATH": "/usr/bin:/bin"})
    import json  # noqa: PLC0415

    assert {k: tuple(v) for k, v in json.loads(out.stdout).items()} == here
    # and different learners get different numbers: over 20 seeds, each varied question shows 2+ variants
    for qid in varied:
        assert len({bank.question(qid, seed=s).prompt for s in range(20)}) >= 2, qid


def test_no_two_questions_duplicate_each_other(bank):
    def norm(text):
        return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()
    prompts = [norm(bank._raw[q]["prompt"]) for q in bank.ids]
    assert len(prompts) == len(set(prompts))
    for qid in bank.ids:
        q = bank.question(qid)
        assert len(set(map(norm, q.options))) == len(q.options), qid


def test_the_follow_up_chain_interviewers_probe(bank):
    assert [q.id for q in bank.chain(CHAIN[0])][:4] == CHAIN
    assert [bank.question(q).type for q in (CHAIN[0], CHAIN[-1])] == ["code", "code"]
    assert {bank.question(q).task for q in (CHAIN[0], CHAIN[-1])} == {"dropout", "mc_predict"}


def test_every_lesson_checks_itself_from_the_bank(bank):
    assert {q.id for q in bank.for_lesson("01_mechanism")} == LESSON_ONE  # lesson 1 keeps its questions
    for lesson in ("02_playground", "03_overfitting", "04_coadaptation", "05_uncertainty", "06_cnn"):
        questions = bank.for_lesson(lesson)
        assert len(questions) >= 3, lesson
        assert {q.type for q in questions} <= {"choice", "numeric", "bug"}, lesson
    survivor = {q.id: q for q in bank.for_lesson("01_mechanism")}["survivor"]
    assert survivor.answer == pytest.approx(6.25) and "p = 0.2" in survivor.prompt  # the base numbers, as before


def test_only_the_bank_format_remains():
    assert not list((ROOT / "lessons").glob("*_quiz.toml"))


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[[question]]\nid = "a"\ntype = "numeric"\ndifficulty = "easy"\nprompt = "?"\nexplanation = "e"\nlab = "mechanism"\n',
         "missing 'answer'"),
        ('[[question]]\nid = "a"\ntype = "numeric"\ndifficulty = "easy"\nprompt = "?"\nexplanation = "e"\nlab = "x"\n'
         'answer = { fn = "eval" }\n', "answer.fn must be one of"),
        ('[[question]]\nid = "a"\ntype = "choice"\ndifficulty = "easy"\nprompt = "?"\nexplanation = "e"\nlab = "x"\n'
         'options = ["x", "y"]\nmisconceptions = ["", "no-scaling"]\nanswer = 3\n', "answer must index"),
        ('[[question]]\nid = "a"\ntype = "choice"\ndifficulty = "easy"\nprompt = "?"\nexplanation = "e"\nlab = "x"\n'
         'options = ["x", "y"]\nmisconceptions = ["", ""]\nanswer = 0\n', "one name per wrong option"),
        ('[[question]]\nid = "a"\ntype = "choice"\ndifficulty = "easy"\nprompt = "?"\nexplanation = "e"\nlab = "x"\n'
         'options = ["x", "y"]\nmisconceptions = ["", "made-up"]\nanswer = 0\n', "not in misconceptions.toml"),
        ('[[question]]\nid = "a"\ntype = "essay"\ndifficulty = "easy"\nprompt = "?"\nexplanation = "e"\nanswer = 1\n',
         "type must be one of"),
        ('[[question]]\nid = "a"\ntype = "bug"\ndifficulty = "easy"\nprompt = "?"\nexplanation = "e"\nlab = "x"\n'
         'code = "x = 1"\nanswer = 4\nmisconception = "no-scaling"\n', "line number"),
        ('[[question]]\nid = "a"\ntype = "numeric"\ndifficulty = "easy"\nprompt = "p = {q}"\nexplanation = "e"\n'
         'lab = "x"\nanswer = { fn = "survivor_scale", args = { p = 0.5 } }\n', "prompt names"),
        ('[[question]]\nid = "a"\ntype = "choice"\ndifficulty = "easy"\nprompt = "?"\nexplanation = "e"\nlab = "x"\n'
         'options = ["x", "y"]\nmisconceptions = ["", "no-scaling"]\nanswer = 0\nfollow_up = "b"\n', "follow_up 'b'"),
        ('[[question]]\nid = "A b"\ntype = "choice"\ndifficulty = "easy"\nprompt = "?"\nexplanation = "e"\nlab = "x"\n'
         'options = ["x", "y"]\nmisconceptions = ["", "no-scaling"]\nanswer = 0\n', "lower-case words"),
        ('[[question]\n', "topic.toml"),
    ],
)
def test_a_broken_bank_file_names_the_problem(tmp_path, toml, message):
    (tmp_path / "misconceptions.toml").write_text('[misconception]\nno-scaling = "x"\n')
    (tmp_path / "topic.toml").write_text(toml)
    with pytest.raises(QuizError, match=re.escape(message)):
        parse_bank(tmp_path, ANSWERS)


def test_the_bank_directory_is_the_lessons_one():
    assert BANK_DIR == ROOT / "lessons" / "bank"
