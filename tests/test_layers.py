"""Layering: lower layers never import higher ones (DESIGN.md)."""

from __future__ import annotations

import ast
import pathlib

import pcptrio

PKG = pathlib.Path(pcptrio.__file__).parent

LAYER = {
    "_core": 0,
    "_version": 0,
    "_kernel": 1,
    "_drain": 2,
    "_check": 2,
    "_explore": 3,
    "_scenarios": 3,
    "_report": 4,
    "testing": 4,
    "cli": 5,
    "__main__": 5,
    "__init__": 6,
}


def _layer_of(mod: str) -> int | None:
    parts = mod.split(".")
    if parts[0] != "pcptrio":
        return None
    if len(parts) == 1:
        return LAYER["__init__"]
    return LAYER.get(parts[1])


def _imports(path: pathlib.Path, modname: str) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    pkg = modname.rsplit(".", 1)[0] if path.name != "__init__.py" else modname
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.append(target)
    return out


def test_no_module_imports_a_higher_layer() -> None:
    """Walk every module; an import of a higher layer (or a sibling L2 layer) fails."""
    bad = []
    checked = 0
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        modname = ".".join(rel.parts)
        if modname.endswith(".__init__"):
            modname = modname[: -len(".__init__")]
        own = _layer_of(modname if modname != "pcptrio" else "pcptrio")
        if own is None:
            continue
        for target in _imports(path, modname):
            tl = _layer_of(target)
            if tl is None:
                continue
            checked += 1
            sibling = (
                tl == own
                and own == 2
                and target.split(".")[1] != modname.split(".")[1]
                and modname.split(".")[1] in ("_drain", "_check")
            )
            if tl > own or sibling:
                bad.append(f"{modname} (L{own}) imports {target} (L{tl})")
    assert checked > 10
    assert not bad, "\n".join(bad)


def test_the_checker_catches_an_upward_import(tmp_path: pathlib.Path) -> None:
    """Sanity: the import walker sees an upward import in a synthetic module."""
    p = tmp_path / "x.py"
    p.write_text("from ..cli import main\nimport pcptrio._report.text\n")
    targets = _imports(p, "pcptrio._core._x")
    assert "pcptrio.cli" in targets and "pcptrio._report.text" in targets
    assert max(_layer_of(t) or 0 for t in targets) > LAYER["_core"]


def test_no_module_reaches_into_another_packages_private_modules() -> None:
    """Layers meet at their public face: ``pcptrio._kernel``, never ``pcptrio._kernel._pcp``
    from outside ``_kernel``."""
    bad = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG.parent).with_suffix("")
        modname = ".".join(rel.parts)
        if modname.endswith(".__init__"):
            modname = modname[: -len(".__init__")]
        parts = modname.split(".")
        own = parts[1] if len(parts) > 1 else ""
        for target in _imports(path, modname):
            t = target.split(".")
            if len(t) >= 3 and t[0] == "pcptrio" and t[1] != own and t[2].startswith("_"):
                bad.append(f"{modname} imports {target}")
    assert not bad, "\n".join(bad)
