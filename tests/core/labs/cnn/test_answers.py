"""Lesson 6's quiz answers, each checked against a second, independent computation."""
import math

import numpy as np
import pytest

from core.drills import load_quiz
from core.engine.spatial import block_gamma
from core.labs.cnn.answers import QUIZ_FUNCTIONS, dropblock_dropped, dropout2d_draws


def exact_dropped(p: float, block: int, side: int) -> float:
    """1 - mean over pixels of (1 - gamma)^(number of valid block corners whose block covers the pixel)."""
    gamma = block_gamma(p, block, side, side)
    valid = side - block + 1
    cover = np.zeros(side)
    for corner in range(valid):
        cover[corner : corner + block] += 1
    counts = np.outer(cover, cover)
    return float(1 - np.mean((1 - gamma) ** counts))


@pytest.mark.parametrize("p, block", [(0.3, 3), (0.1, 2), (0.5, 5)])
def test_the_measured_dropblock_fraction_matches_the_exact_one(p, block):
    exact = exact_dropped(p, block, 8)
    # 20,000 maps; pixels of one map are dependent, so allow the spread of 20,000 draws, times five
    assert dropblock_dropped(p, block, 8) == pytest.approx(exact, abs=5 * math.sqrt(exact * (1 - exact) / 20_000) + 5e-4)
    assert exact < p, "overlapping blocks drop less than p"


def test_dropout2d_draws_count_rows_for_a_3d_tensor():
    assert dropout2d_draws(4, 8, 8) == 4 * 8  # each row of each map: the pitfall
    assert dropout2d_draws(3, 5, 7) == 3 * 5


def test_every_question_loads_with_a_computed_answer():
    questions = {q.id: q for q in load_quiz("06_cnn", QUIZ_FUNCTIONS)}
    assert len(questions) >= 4
    assert questions["maps-dropped"].answer == 4
    assert questions["survivor-scale"].answer == pytest.approx(1.25)
    assert "{answer}" not in "".join(q.explanation for q in questions.values())
