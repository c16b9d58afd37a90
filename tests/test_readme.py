"""README stays true: its Python examples run, and its install commands match CI."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_readme_python_examples_run(tmp_path: pathlib.Path) -> None:
    """Every ```python block of the README runs to completion in a fresh interpreter."""
    blocks = _python_blocks()
    assert blocks
    for i, code in enumerate(blocks):
        script = tmp_path / f"readme_{i}.py"
        script.write_text(code)
        out = subprocess.run(
            [sys.executable, str(script)],
            check=False,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
        )
        assert out.returncode == 0, f"README block {i} failed:\n{code}\n{out.stderr}"


def test_readme_commands_are_the_ones_ci_runs() -> None:
    """The README's install and test commands are what .ci/run executes."""
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install -e '.[test]' && python -m pytest" in README
    assert "pip install --quiet -e '.[test]'" in ci
    assert "python -m pytest" in ci
    assert "pip install . && pcptrio" in README
