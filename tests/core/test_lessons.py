from pathlib import Path

import pytest

from core.labs.playground.presets import PRESETS
from core.lessons import LESSONS_DIR, REQUIRED_SECTIONS, LessonError, all_lessons, load_lesson, parse_lesson

ROOT = Path(__file__).resolve().parents[2]


def test_every_numbered_lesson_parses_has_its_sections_and_points_at_a_page():
    lessons = all_lessons()
    assert [lesson.id for lesson in lessons] == sorted(p.stem for p in LESSONS_DIR.glob("[0-9]*.md"))
    for lesson in lessons:
        assert (ROOT / lesson.page).is_file(), f"{lesson.id}: page {lesson.page} is missing"
        for name in REQUIRED_SECTIONS:
            assert lesson.section(name).strip(), f"{lesson.id}: section {name!r} is empty"


def test_presets_named_by_a_lesson_exist():
    for lesson in all_lessons():
        for name in lesson.meta.get("presets", []):
            assert name in PRESETS, f"{lesson.id} names unknown preset {name!r}"


def test_every_preset_the_lesson_text_names_exists_and_has_a_button():
    import re  # noqa: PLC0415

    lesson = load_lesson("02_playground")
    named = set(re.findall(r"preset `([\w-]+)`", " ".join(lesson.sections.values())))
    assert named, "the lesson names presets"
    assert named <= set(PRESETS), f"unknown presets in the text: {named - set(PRESETS)}"
    assert named <= set(lesson.meta["presets"]), "the page shows a button for each preset in meta"


def test_home_page_text_loads():
    home = load_lesson("home")
    assert home.section("What you will learn") and home.section("Conventions")
    assert "drop" in home.section("Conventions")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# no front matter\n", "no front matter"),
        ("---\nid: x\n---\n## A\nb\n", "lacks title"),
        ("---\nid x\n---\n", "expected 'key: value'"),
    ],
)
def test_parser_errors_name_the_problem(text, message):
    with pytest.raises(LessonError, match=message):
        parse_lesson(text)


def test_parser_reads_lists_and_sections_in_order():
    lesson = parse_lesson(
        "---\nid: 07_x\ntitle: T\nicon: i\nsummary: S\npage: p.py\npresets: [a, b]\n---\n## One\nfirst\n## Two\nsecond\n"
    )
    assert lesson.order == 7 and lesson.meta["presets"] == ["a", "b"]
    assert list(lesson.sections) == ["One", "Two"] and lesson.section("Two") == "second"
    with pytest.raises(LessonError, match="no section"):
        lesson.section("Three")
