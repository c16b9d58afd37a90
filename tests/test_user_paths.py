"""A user's own design module and TOML scenario go through every documented path.

The design is the README's example saved as ``my_design.py`` (as the README tells the user to
do); the scenario is a TOML file.  Both go through ``list``, ``run``, ``explore`` and
``matrix`` on one and two processes, ``bench``, ``replay`` in a fresh process and the pytest
helper, with the same verdicts and tokens whatever the number of processes.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys
from typing import Any

import pytest
import trio

from pcptrio import decode_token
from pcptrio.cli import main
from pcptrio.testing import assert_replays

ROOT = pathlib.Path(__file__).resolve().parent.parent

SCENARIO = """\
name = "my-pressure"
description = "PCPs hold pages, memory is exhausted, then one reclaimer drains"
oracles = ["liveness", "deadlock"]
probes = ["exhausted-during-drain"]
min_cpus = 2

[params]
cpus = 3
fill = 20

[machine]
zones = [{ name = "Normal", pages = 16384, high = 42, batch = 7 }]

[budget]
schedules = 4
max_time_ms = 120000

[[phases]]
actors = [{ kind = "fill", cpus = "all", pages = "$fill" }]

[[phases]]
actors = [{ kind = "exhaust", cpu = 0 }]

[[phases]]
actors = [{ kind = "drain", cpu = 0, name = "reclaimer" }]
"""


def _readme_design() -> str:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    (code,) = [b for b in blocks if "MINE = DrainDesign(" in b]
    return str(code)


@pytest.fixture
def user_dir(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    (tmp_path / "my_design.py").write_text(_readme_design())
    (tmp_path / "my-pressure.toml").write_text(SCENARIO)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    rc = main([*argv, "--json"])
    out = capsys.readouterr().out
    return rc, json.loads(out)


def test_a_users_design_and_scenario_go_everywhere(
    user_dir: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """list, run, explore and matrix (1 and 2 processes), bench, replay in a fresh process and
    the pytest helper all work on a user's design module and TOML file, with equal tokens."""
    design, toml = "my_design:MINE", "my-pressure.toml"

    rc, listed = _json(capsys, "list", "--design", design, "--scenario", toml)
    assert rc == 0
    assert design in [d["ref"] for d in listed["designs"]]
    assert "my-pressure" in [s["name"] for s in listed["scenarios"]]

    rc, run = _json(capsys, "run", toml, "--design", design, "--seed", "1")
    assert rc == 1 and run["verdict"] == "found"
    assert decode_token(run["token"])[0]["design"] == design

    explored = [
        _json(capsys, "explore", toml, "--design", design, "--jobs", jobs, "--schedules", "4")
        for jobs in ("1", "2")
    ]
    assert explored[0] == explored[1]
    rc, ex = explored[0]
    assert rc == 1 and ex["verdict"] == "found"
    token = ex["failure"]["token"]
    assert decode_token(token)[0]["design"] == design
    assert decode_token(token)[0]["scenario"]["def"]["name"] == "my-pressure"

    matrices = [
        _json(
            capsys,
            "matrix",
            "--hazards",
            toml,
            "--designs",
            f"{design},wq-4.11",
            "--jobs",
            jobs,
            "--budget",
            "4",
        )
        for jobs in ("1", "2")
    ]
    assert matrices[0] == matrices[1]
    cells = {c["design"]: c for c in matrices[0][1]["cells"]}
    assert cells["wq-4.11-on-system-wq"]["verdict"] == "found"
    assert cells["wq-4.11"]["verdict"] == "not-found"
    assert decode_token(cells["wq-4.11-on-system-wq"]["token"])[0]["design"] == design

    rc, bench = _json(capsys, "bench", "--scenario", toml, "--designs", design,
                      "--cpus-list", "2", "--seeds", "1")  # fmt: skip
    assert rc == 1 and bench["verdict"] == "found"  # its runs hang: liveness
    assert bench["cells"][0]["design"] == "wq-4.11-on-system-wq"

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(user_dir), str(ROOT)])}
    fresh = subprocess.run(
        [sys.executable, "-m", "pcptrio", "replay", token, "--json", "--design", design],
        capture_output=True, text=True, cwd=user_dir, env=env, check=False, timeout=120,
    )  # fmt: skip
    assert fresh.returncode == 1, fresh.stderr
    again = json.loads(fresh.stdout)
    assert again["verdict"] == "found"
    assert again["violations"][0]["message"] == ex["failure"]["message"]

    r = trio.run(lambda: assert_replays(token, oracle=ex["failure"]["oracle"]))
    assert r.trace_sha256 == again["trace_sha256"]


def test_a_registered_design_keeps_its_import_reference(user_dir: pathlib.Path) -> None:
    """After register_design, a token still names the design by module:attr, so it replays
    in a process that never registered it."""
    import my_design  # type: ignore[import-not-found]  # written by the fixture

    from pcptrio import design_ref, register_design

    register_design(my_design.MINE, replace=True)
    assert design_ref(my_design.MINE) == "my_design:MINE"


def test_code_fingerprint_covers_a_user_designs_module() -> None:
    """A user design's campaign (and its tokens, and a cluster's check) names its module's
    source too: a worker with an edited design module is other code."""
    import hashlib

    from pcptrio import code_fingerprint

    base = code_fingerprint()
    mine = code_fingerprint("tests.user_designs:drain_all_pages")
    src = (pathlib.Path(__file__).parent / "user_designs.py").read_bytes()
    assert mine == f"{base}+{hashlib.sha256(src).hexdigest()[:12]}"
    assert code_fingerprint("ipi") == base  # a built-in is the package's code
    assert code_fingerprint("no_such_module_here:x") == base  # nothing to hash
