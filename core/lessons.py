"""Lessons are data: ``lessons/NN_slug.md`` = a front-matter header + ``## Section`` blocks.

Front matter is ``key: value`` lines between two ``---`` lines; a value in ``[a, b]`` is
a list. Required keys: id, title, icon, summary, page. The body's ``## Heading`` lines
split it into named sections, kept in order.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

LESSONS_DIR = Path(__file__).resolve().parent.parent / "lessons"
REQUIRED_KEYS = ("id", "title", "icon", "summary", "page")
REQUIRED_SECTIONS = ("Intuition", "What to try", "What to notice", "Exercises")


class LessonError(ValueError):
    pass


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    icon: str
    summary: str
    page: str
    order: int
    meta: dict[str, object] = field(default_factory=dict)
    sections: dict[str, str] = field(default_factory=dict)

    def section(self, name: str) -> str:
        try:
            return self.sections[name]
        except KeyError:
            raise LessonError(f"lesson {self.id!r} has no section {name!r}") from None


def _value(raw: str) -> object:
    raw = raw.strip()
    if raw.startswith("[") and raw.endswith("]"):
        return [item.strip() for item in raw[1:-1].split(",") if item.strip()]
    return raw


def parse_lesson(text: str, source: str = "<lesson>") -> Lesson:
    match = re.match(r"\A---\n(.*?)\n---\n(.*)\Z", text, re.S)
    if not match:
        raise LessonError(f"{source}: no front matter (a block between two '---' lines at the top)")
    meta: dict[str, object] = {}
    for n, line in enumerate(match.group(1).splitlines(), start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise LessonError(f"{source}:{n}: expected 'key: value', got {line!r}")
        meta[key.strip()] = _value(value)
    missing = [k for k in REQUIRED_KEYS if not meta.get(k)]
    if missing:
        raise LessonError(f"{source}: front matter lacks {', '.join(missing)}")
    sections: dict[str, str] = {}
    for block in re.split(r"^## ", match.group(2), flags=re.M)[1:]:
        heading, _, body = block.partition("\n")
        sections[heading.strip()] = body.strip()
    order = int(str(meta["id"]).split("_")[0]) if str(meta["id"])[:2].isdigit() else 99
    known = {k: meta.pop(k) for k in REQUIRED_KEYS}
    return Lesson(**{k: str(v) for k, v in known.items()}, order=order, meta=meta, sections=sections)


def load_lesson(lesson_id: str, directory: Path = LESSONS_DIR) -> Lesson:
    path = directory / f"{lesson_id}.md"
    return parse_lesson(path.read_text(encoding="utf-8"), source=path.name)


def all_lessons(directory: Path = LESSONS_DIR) -> list[Lesson]:
    lessons = [parse_lesson(p.read_text(encoding="utf-8"), source=p.name) for p in sorted(directory.glob("[0-9]*.md"))]
    return sorted(lessons, key=lambda lesson: lesson.order)
