"""README stays true: its Python examples run and print what it shows; its token replays;
its install and test commands are the ones CI runs."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()

_BLOCK = re.compile(r"```(\w+)\n(.*?)```", flags=re.S)


def _blocks() -> list[tuple[str, str, str | None]]:
    """(python code, next block's language, next block's text) for each python block."""
    found = [(m.group(1), m.group(2)) for m in _BLOCK.finditer(README)]
    out = []
    for i, (lang, body) in enumerate(found):
        if lang != "python":
            continue
        nxt = found[i + 1] if i + 1 < len(found) else (None, None)
        out.append((body, nxt[0] or "", nxt[1]))
    return out


def test_readme_python_examples_run_and_print_what_the_readme_shows(tmp_path: pathlib.Path) -> None:
    """Every ```python block runs; when a ```text block follows it, that is its exact output."""
    blocks = _blocks()
    assert len(blocks) >= 4
    checked = 0
    # The package as this test session sees it (installed or from the checkout).
    path = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    for i, (code, next_lang, next_text) in enumerate(blocks):
        script = tmp_path / f"readme_{i}.py"
        script.write_text(code)
        out = subprocess.run(
            [sys.executable, str(script)],
            check=False,
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=300,
        )
        assert out.returncode == 0, f"README block {i} failed:\n{code}\n{out.stderr}"
        if next_lang == "text" and next_text is not None:
            assert out.stdout.strip() == next_text.strip(), f"README block {i} prints otherwise"
            checked += 1
    assert checked >= 3


def test_readme_token_replays_its_failure() -> None:
    """The token in the README's pytest example replays to the failure it names."""
    from pcptrio import replay

    tokens = re.findall(r'"(pcptrio1:[A-Za-z0-9_-]+)"', README)
    assert tokens
    for token in tokens:
        r = replay(token)
        assert r.failed and r.violation is not None
        assert r.violation.oracle == "drain-completeness"


def test_readme_commands_are_the_ones_ci_runs() -> None:
    """The README's install and test commands are what .ci/run executes."""
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[test]' && python -m pytest" in README
    assert "pip install --quiet -e '.[test]'" in ci
    assert "python -m pytest" in ci
    assert "pip install . && pcptrio matrix" in README
