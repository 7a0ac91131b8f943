"""The layer rules: the engine never imports Streamlit; pages and the router never import torch."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_outside_ui_does_not_import_streamlit():
    offenders = [
        str(p.relative_to(ROOT))
        for p in (ROOT / "core").rglob("*.py")
        if "ui" not in p.relative_to(ROOT / "core").parts and "streamlit" in _imported_roots(p)
    ]
    assert offenders == []


def test_pages_and_router_do_not_import_torch():
    files = [ROOT / "app.py", *(ROOT / "pages").glob("*.py")]
    offenders = [str(p.relative_to(ROOT)) for p in files if _imported_roots(p) & {"torch", "numpy"}]
    assert offenders == []


def test_the_rule_checker_sees_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import os\nfrom streamlit.runtime import x\nimport torch.nn as nn\nfrom . import y\n")
    assert _imported_roots(probe) == {"os", "streamlit", "torch"}


def test_every_button_key_ends_with_the_suffix_the_router_skips():
    """The router re-assigns widget values to keep them across pages; Streamlit refuses that for buttons."""
    import re  # noqa: PLC0415

    from core.ui.router import BUTTON_SUFFIX  # noqa: PLC0415

    calls = []
    for path in [*(ROOT / "core" / "ui").glob("*.py"), *(ROOT / "pages").glob("*.py")]:
        for match in re.finditer(r"\.button\((?:[^()]|\([^()]*\))*?key=([^,)]+)", path.read_text(encoding="utf-8"), re.S):
            calls.append((path.name, match.group(1)))
    assert calls, "the checker found no buttons"
    bad = [(name, key) for name, key in calls if BUTTON_SUFFIX not in key]
    assert bad == []


def test_every_clickable_chart_key_ends_with_the_suffix_the_router_skips():
    """Streamlit refuses a value set for a chart that reports selections, as for buttons."""
    import re  # noqa: PLC0415

    from core.ui.router import CHART_SUFFIX  # noqa: PLC0415

    calls = []
    for path in [*(ROOT / "core" / "ui").glob("*.py"), *(ROOT / "pages").glob("*.py")]:
        for match in re.finditer(r"plotly_chart\((?:[^()]|\([^()]*\))*?\)", path.read_text(encoding="utf-8"), re.S):
            if "on_select" in match.group(0):
                key = re.search(r"key=([^,)]+)", match.group(0))
                calls.append((path.name, key.group(1) if key else None))
    assert calls, "the checker found no clickable charts"
    bad = [(name, key) for name, key in calls if key is None or not key.rstrip("\"'").endswith(CHART_SUFFIX)]
    assert bad == []
