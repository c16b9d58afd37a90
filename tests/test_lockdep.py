"""The lockdep-style report of a dependency cycle (H6's ABBA, H8's kthreadd cycle)."""

from __future__ import annotations

import re

from pcptrio._core import Outcome, RandomScheduler
from pcptrio._explore import make_run_spec, run_spec_async
from pcptrio._report import failure_report


async def test_abba_deadlock_reads_like_lockdep() -> None:
    r = await run_spec_async(make_run_spec("hotplug-lock-abba", "wq-hotplug"), RandomScheduler(1))
    assert r.outcome is Outcome.DEADLOCK
    text = failure_report(r)
    section = text.split("WARNING: possible circular locking dependency detected\n", 1)[1]
    section = section.split("wait-for graph", 1)[0]
    assert "is trying to acquire lock:\n (rwsem cpu_hotplug_lock)" in section or (
        "is trying to acquire lock:\n (mutex pcpu_alloc_mutex)" in section
    )
    # each lock: who took it, at which step (a step of the trace)
    steps = {rec[0] for rec in r.trace}
    for lock in ("cpu_hotplug_lock", "pcpu_alloc_mutex"):
        m = re.search(rf"\((?:rwsem|mutex) {lock}\): taken by \S+ at step (\d+)", section)
        assert m and int(m.group(1)) in steps, section
    # lockdep's numbering: #0 is the lock being acquired, printed last
    new = re.search(r"is trying to acquire lock:\n \((\w+ \S+)\)", section).group(1)  # type: ignore[union-attr]
    assert re.search(rf"-> #0 \({re.escape(new)}\)", section)
    assert section.index("-> #1") < section.index("-> #0")
    assert "Possible unsafe locking scenario" in section and "*** DEADLOCK ***" in section
    assert section.count("lock(cpu_hotplug_lock);") == 2
    assert section.count("lock(pcpu_alloc_mutex);") == 2


async def test_kthreadd_cycle_goes_through_completions_and_a_pool() -> None:
    r = await run_spec_async(make_run_spec("kthreadd-self-deadlock", "wq-rfc"), RandomScheduler(0))
    assert r.failed
    text = failure_report(r)
    # not a cycle of locks: lockdep would stay silent, and the report says so
    assert "possible circular locking dependency" not in text and "*** DEADLOCK ***" not in text
    assert "INFO: circular wait detected (not only locks: lockdep would not report it)" in text
    assert "(completion kthread_create kworker@pool" in text


async def test_no_cycle_no_lockdep_section() -> None:
    r = await run_spec_async(make_run_spec("count-race", "ipi"), RandomScheduler(0))
    assert r.failed and r.outcome is Outcome.VIOLATION
    assert "circular locking dependency" not in failure_report(r)
