"""The lost-update demo: the engine alone, no kernel model.

Two actors on two CPUs each increment a shared counter ``incs`` times as read, then write,
with a scheduling point between the two: an interleaving where both read the same value loses
an update.  ``pcptrio demo`` searches random schedules for it and replays the one it finds;
its token (``{"demo": "lost-update", "incs": N}``) replays with ``pcptrio replay`` too.
It is the smallest complete example of the engine's contract: actors, points, a violation,
decisions, a token, a byte-identical replay.
"""

from __future__ import annotations

from typing import Any

import trio

from .._core import Engine, RunResult, Scheduler, Violation
from .._version import __version__

__all__ = ["DEMO_NAME", "demo_spec", "lost_update_run"]

DEMO_NAME = "lost-update"


def demo_spec(incs: int) -> dict[str, Any]:
    """The run spec a demo token carries."""
    return {"pcptrio": __version__, "demo": DEMO_NAME, "incs": incs}


def lost_update_run(incs: int, scheduler: Scheduler) -> RunResult:
    """One schedule of the demo (in a fresh ``trio.run``)."""
    engine = Engine(cpus=2, scheduler=scheduler)
    box = {"n": 0}

    async def inc() -> None:
        for _ in range(incs):
            v = box["n"]
            await engine.point("read", counter=v)
            box["n"] = v + 1
            await engine.point("write", counter=v + 1)

    async def main() -> None:
        async with engine.open_nursery() as n:
            n.start_soon(inc, name="cpu0/inc", cpu=0)
            n.start_soon(inc, name="cpu1/inc", cpu=1)
        if box["n"] != 2 * incs:
            engine.report_violation(
                Violation("lost-update", f"counter is {box['n']}, expected {2 * incs}")
            )

    r = trio.run(engine.run, main)
    r.extra.update({"scenario": f"demo {DEMO_NAME}", "design": "-", "spec": demo_spec(incs)})
    return r
