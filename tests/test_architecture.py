"""The house rules (README, "What is where"), one test each: the library knows no lesson, a lab knows no
other lab, only core/ui imports Streamlit, pages import no torch, a lesson's slug names its files."""
import ast
import dataclasses
import json
import re
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core"
STDLIB = set(sys.stdlib_module_names)
SCIENCE = {"numpy", "scipy", "torch", "sklearn"}
MAX_LINES = 400  # "no file in core over ~400 lines"


def _module_of(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, root: Path = ROOT) -> set[str]:
    """Every module ``path`` imports, anywhere in the file (a lazy import inside a function counts),
    as dotted names; ``from a.b import c`` counts as ``a.b`` and ``a.b.c`` (``c`` may be a module),
    and a relative import is resolved against the file's own package."""
    package = _module_of(path, root).split(".")[: -1 if path.name != "__init__.py" else None]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return found


def _files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def _inside(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _offenders(files: list[Path], allowed, root: Path = ROOT) -> list[str]:
    return [f"{p.relative_to(root)} imports {name}" for p in files for name in sorted(imports(p, root))
            if not allowed(p, name)]


def _root(name: str) -> str:
    return name.split(".")[0]


def _lab_slugs() -> list[str]:
    return sorted(p.name for p in (CORE / "labs").iterdir() if p.is_dir() and (p / "__init__.py").exists())


# -- the checker itself -----------------------------------------------------------------------------
def test_the_rule_checker_sees_every_kind_of_import(tmp_path):
    package = tmp_path / "core" / "labs" / "demo"
    package.mkdir(parents=True)
    probe = package / "probe.py"
    probe.write_text("import os\nfrom streamlit.runtime import x\nimport torch.nn as nn\nfrom . import figures\n"
                     "from ..other import thing\n\ndef later():\n    from core.ui import live\n")
    found = imports(probe, root=tmp_path)
    assert {"os", "streamlit.runtime", "torch.nn", "core.labs.demo.figures", "core.labs.other.thing",
            "core.ui.live"} <= found
    assert _inside("core.labs.other.thing", "core.labs.other") and not _inside("core.labsx", "core.labs")
    assert _offenders([probe], lambda _, name: not _inside(name, "core.ui"), root=tmp_path) == [
        "core/labs/demo/probe.py imports core.ui", "core/labs/demo/probe.py imports core.ui.live"]


def test_the_rules_see_files_in_every_room():
    for room in ("engine", "analysis", "live", "labs", "ui", "ui/labs"):
        assert _files(CORE / room), f"core/{room} has no files: a rule below would pass on nothing"
    assert len(_lab_slugs()) >= 5


# -- R1-R4: the library knows no lesson -------------------------------------------------------------
def test_r1_the_engine_imports_only_the_standard_library_the_science_stack_and_itself():
    def allowed(_, name):
        return _root(name) in STDLIB | SCIENCE or _inside(name, "core.engine")
    assert _offenders(_files(CORE / "engine"), allowed) == []


def test_r2_analysis_imports_the_engine_and_nothing_of_the_app():
    def allowed(_, name):
        return _root(name) in STDLIB | SCIENCE or _inside(name, "core.engine", "core.analysis")
    assert _offenders(_files(CORE / "analysis"), allowed) == []


def test_r3_live_machinery_imports_the_engine_and_analysis_never_a_lab_a_figure_or_streamlit():
    def allowed(_, name):
        return _root(name) in STDLIB | SCIENCE or _inside(name, "core.engine", "core.analysis", "core.live")
    assert _offenders(_files(CORE / "live"), allowed) == []


def test_r4_the_figure_kit_imports_only_numpy_and_plotly():
    def allowed(_, name):
        return _root(name) in STDLIB | {"numpy", "plotly"}
    assert _offenders([CORE / "viz.py"], allowed) == []


# -- R5: a lab knows no other lab -------------------------------------------------------------------
def test_r5_a_lab_uses_the_library_and_itself_never_another_lab_or_the_ui():
    def allowed(path, name):
        own = "core.labs." + path.relative_to(CORE / "labs").parts[0]
        return (_root(name) in STDLIB | SCIENCE | {"plotly", "fsrs"}
                or _inside(name, "core.engine", "core.analysis", "core.live.runner", "core.viz", own))
    files = [p for p in _files(CORE / "labs") if p.parent != CORE / "labs"]
    assert _offenders(files, allowed) == []


def test_r5_only_the_plug_in_table_imports_several_labs():
    top = [p for p in _files(CORE / "labs") if p.parent == CORE / "labs" and p.name != "__init__.py"]
    assert [p.name for p in top] == ["kinds.py"]
    labs_imported = {name.split(".")[2] for name in imports(CORE / "labs" / "kinds.py")
                     if _inside(name, "core.labs") and name.count(".") >= 2}
    assert labs_imported <= set(_lab_slugs())


# -- R6: the lesson and drill loaders are plain Python ----------------------------------------------
def test_r6_lessons_and_drills_use_the_standard_library_only():
    def allowed(_, name):
        return _root(name) in STDLIB or _inside(name, "core.lessons")
    assert _offenders([CORE / "lessons.py", CORE / "drills.py"], allowed) == []


# -- R7-R8: the Streamlit adapter -------------------------------------------------------------------
def test_only_core_ui_imports_streamlit():
    def allowed(path, name):
        return _root(name) != "streamlit" or CORE / "ui" in path.parents
    assert _offenders(_files(CORE), allowed) == []


def test_r7_the_ui_kit_knows_no_lab_and_only_the_frame_reads_the_plug_in_table():
    def allowed(path, name):
        if _inside(name, "core.labs.kinds"):
            return path.name == "frame.py"
        return not _inside(name, "core.labs", "core.ui.labs")
    kit = [p for p in _files(CORE / "ui") if CORE / "ui" / "labs" not in p.parents]
    assert _offenders(kit, allowed) == []


def test_r8_a_lessons_ui_uses_the_kit_and_its_own_lab_only():
    def allowed(path, name):
        slug = path.stem
        if _inside(name, "core.labs"):
            return _inside(name, f"core.labs.{slug}")
        return not (_inside(name, "core.ui.labs") and name != "core.ui.labs")
    files = [p for p in _files(CORE / "ui" / "labs") if p.name != "__init__.py"]
    assert _offenders(files, allowed) == []


# -- R9: pages are thin -----------------------------------------------------------------------------
def test_r9_pages_import_only_streamlit_the_ui_and_the_lessons():
    def allowed(path, name):
        return _root(name) in STDLIB | {"streamlit"} or _inside(name, "core.ui", "core.lessons")
    assert _offenders(sorted((ROOT / "pages").glob("*.py")), allowed) == []


def test_r9_a_lesson_page_imports_no_other_lessons_ui():
    for page in sorted((ROOT / "pages").glob("[0-9][0-9]_*.py")):
        slug = page.stem.split("_", 1)[1]
        others = {name for name in imports(page) if _inside(name, "core.ui.labs") and name != "core.ui.labs"}
        assert others <= {f"core.ui.labs.{slug}"}, f"{page.name} imports {others}"


def test_r10_the_app_entry_point_only_runs_the_frame():
    assert {name for name in imports(ROOT / "app.py") if _inside(name, "core")} <= {"core.ui.frame",
                                                                                    "core.ui.frame.run_router"}


# -- R11: names ------------------------------------------------------------------------------------
def test_r11_a_lessons_slug_names_its_files_everywhere():
    from core.lessons import all_lessons  # noqa: PLC0415

    lessons = all_lessons()
    assert lessons
    for lesson in lessons:
        number, slug = lesson.id.split("_", 1)
        assert lesson.page == f"pages/{lesson.id}.py" and (ROOT / lesson.page).exists()
        assert (ROOT / "lessons" / f"{lesson.id}.md").exists()
        assert (CORE / "labs" / slug / "__init__.py").exists(), f"no core/labs/{slug}/"
        assert (CORE / "ui" / "labs" / f"{slug}.py").exists(), f"no core/ui/labs/{slug}.py"
        assert (ROOT / "tests" / "pages" / f"test_{lesson.id}.py").exists(), f"no tests/pages/test_{lesson.id}.py"
        assert (ROOT / "tests" / "core" / "labs" / slug).is_dir(), f"no tests/core/labs/{slug}/"
    assert sorted(lesson.id.split("_", 1)[1] for lesson in lessons) == _lab_slugs()


def test_r11_a_lessons_session_keys_start_with_its_slug():
    import importlib  # noqa: PLC0415

    from core.ui import frame  # noqa: PLC0415

    for slug in _lab_slugs():
        module = importlib.import_module(f"core.ui.labs.{slug}")
        assert module.NS == f"{slug}.", f"core.ui.labs.{slug}.NS"
        assert module.NS in frame.KEPT_PREFIXES
        text = (CORE / "ui" / "labs" / f"{slug}.py").read_text(encoding="utf-8")
        for key in re.findall(r"""key=f?["']([a-z_]+\.)""", text):
            assert key == module.NS, f"core/ui/labs/{slug}.py uses the key prefix {key!r}"


def test_r11_runner_kinds_are_names_in_one_table_and_configs_are_plain_data():
    from core.engine.config import RunConfig  # noqa: PLC0415
    from core.labs.kinds import KINDS  # noqa: PLC0415
    from core.live.runner import ThreadedRunner  # noqa: PLC0415

    assert KINDS and all(issubclass(kind.runner, ThreadedRunner) for kind in KINDS.values())
    json.dumps(dataclasses.asdict(RunConfig()))  # no callable hides in a config


def test_no_file_in_core_is_too_long_to_read_in_one_sitting():
    long = {str(p.relative_to(ROOT)): n for p in _files(CORE)
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert long == {}


# -- widget keys the frame skips ---------------------------------------------------------------------
def _calls(pattern: str) -> list[tuple[str, re.Match]]:
    found = []
    for path in [*_files(CORE / "ui"), *(ROOT / "pages").glob("*.py")]:
        found += [(path.name, m) for m in re.finditer(pattern, path.read_text(encoding="utf-8"), re.S)]
    return found


def test_every_button_key_ends_with_the_suffix_the_frame_skips():
    """The frame re-assigns widget values to keep them across pages; Streamlit refuses that for buttons."""
    from core.ui.frame import BUTTON_SUFFIX  # noqa: PLC0415

    calls = [(name, m.group(1)) for name, m in _calls(r"\.button\((?:[^()]|\([^()]*\))*?key=([^,)]+)")]
    assert calls, "the checker found no buttons"
    assert [(name, key) for name, key in calls if BUTTON_SUFFIX not in key] == []


def test_every_file_uploader_key_ends_with_the_suffix_the_frame_skips():
    """Streamlit refuses an uploaded file set through the session, as for buttons."""
    from core.ui.frame import UPLOAD_SUFFIX  # noqa: PLC0415

    calls = [(name, m.group(1)) for name, m in _calls(r"\.file_uploader\((?:[^()]|\([^()]*\))*?key=([^,)]+)")]
    assert calls, "the checker found no file uploaders"
    assert [(name, key) for name, key in calls if UPLOAD_SUFFIX not in key] == []


def test_every_clickable_chart_key_ends_with_the_suffix_the_frame_skips():
    """Streamlit refuses a value set for a chart that reports selections, as for buttons."""
    from core.ui.frame import CHART_SUFFIX  # noqa: PLC0415

    calls = []
    for name, match in _calls(r"plotly_chart\((?:[^()]|\([^()]*\))*?\)"):
        if "on_select" in match.group(0):
            key = re.search(r"key=([^,)]+)", match.group(0))
            calls.append((name, key.group(1) if key else None))
    assert calls, "the checker found no clickable charts"
    assert [(n, k) for n, k in calls if k is None or not k.rstrip("\"'").endswith(CHART_SUFFIX)] == []
