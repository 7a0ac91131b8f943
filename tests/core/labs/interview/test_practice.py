"""Progress, spaced review, mock interviews: plain data that round-trips through a file, and a validator that
refuses every file that is not one of ours with a sentence."""
import json
import random
from datetime import datetime, timedelta, timezone

import pytest

from core.labs.interview.practice import (APP, Answer, Progress, ProgressError, pick_mock, score)

IDS = ["a", "b", "c", "d"]
NAMES = ["no-scaling", "keep-drop-swap"]
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def test_answers_are_counted_with_the_misconception_a_miss_revealed():
    p = Progress(seed=7)
    p.record("a", False, "no-scaling", now=T0)
    p.record("a", True, now=T0 + timedelta(minutes=2))
    p.record("b", False, "no-scaling", now=T0)
    p.record("c", False, "keep-drop-swap", now=T0)
    assert p.totals() == (4, 1)
    assert p.misconceptions() == {"no-scaling": 2, "keep-drop-swap": 1}


def test_a_missed_question_is_due_again_soon_and_a_known_one_much_later():
    p = Progress(seed=1)
    p.record("missed", False, now=T0)
    for day in range(3):  # right three times, a day apart
        p.record("known", True, now=T0 + timedelta(days=day))
    assert p.due(T0 + timedelta(minutes=20)) == ["missed"]
    assert "known" not in p.due(T0 + timedelta(days=3))
    assert "known" in p.due(T0 + timedelta(days=400))


def test_progress_round_trips_through_its_file():
    p = Progress(seed=123)
    p.record("a", False, "no-scaling", now=T0)
    p.record("b", True, now=T0)
    back = Progress.from_json(p.to_json().encode(), IDS, NAMES)
    assert back.seed == 123 and back.to_json() == p.to_json() and back.due(T0 + timedelta(hours=1)) == p.due(T0 + timedelta(hours=1))


def _file(**changes):
    data = json.loads(Progress(seed=5).to_json())
    data["records"] = {"a": {"attempts": 2, "correct": 1, "misses": {"no-scaling": 1}, "card": None}}
    data.update(changes)
    return json.dumps(data).encode()


@pytest.mark.parametrize("raw, message", [
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not a text file"),
    (b"{not json", "not JSON"),
    (b"[1, 2, 3]", "not a Dropout Lab interview progress file"),
    (json.dumps({"app": "someone-else", "version": 1}).encode(), "not a Dropout Lab interview progress file"),
    (_file(version=99), "version 99"),
    (_file(seed="abc"), "seed"),
    (_file(records={"zzz-unknown": {"attempts": 1, "correct": 0}}), "a question this bank does not have"),
    (_file(records={"a": {"attempts": 1, "correct": 5}}), "correct at most attempts"),
    (_file(records={"a": {"attempts": 1, "correct": 0, "misses": {"made-up": 1}}}), "known misconceptions"),
    (_file(records={"a": {"attempts": 1, "correct": 0, "card": {"due": "tomorrow"}}}), "review schedule"),
    (b" " * (600 * 1024), "KB"),
])
def test_a_bad_or_foreign_file_is_refused_with_a_sentence(raw, message):
    with pytest.raises(ProgressError, match=message) as info:
        Progress.from_json(raw, IDS, NAMES)
    assert str(info.value).endswith(".") and "Traceback" not in str(info.value)


def test_the_file_starts_with_its_app_name_so_it_is_recognisable():
    assert json.loads(Progress(seed=1).to_json())["app"] == APP


def test_a_mock_interview_spreads_over_topics_in_a_seeded_order():
    topics = {f"q{i}": f"t{i % 4}" for i in range(20)}
    first = pick_mock(list(topics), 8, topics, seed=3)
    assert first == pick_mock(list(topics), 8, topics, seed=3) and len(set(first)) == 8
    assert {topics[q] for q in first[:4]} == {"t0", "t1", "t2", "t3"}  # every topic before any repeats
    assert pick_mock(list(topics), 8, topics, seed=4) != first
    assert len(pick_mock(list(topics)[:3], 10, topics, seed=0)) == 3  # never more than there are


def test_a_score_breaks_the_misses_down_by_misconception():
    answers = [Answer("a", 1, True, None, 10), Answer("b", 0, False, "no-scaling", 20),
               Answer("c", 0, False, "no-scaling", 5), Answer("d", 2, False, None, 1)]
    s = score(answers)
    assert (s["right"], s["asked"], s["seconds"], s["misconceptions"], s["unexplained"]) == (1, 4, 36, {"no-scaling": 2}, 1)


def test_a_new_learner_gets_a_seed_of_their_own():
    assert Progress.new(random.Random(0)).seed != Progress.new(random.Random(1)).seed
