"""The kernel's lockup detectors, in virtual time (``kernel/watchdog.c``,
``kernel/hung_task.c``).

* **Soft lockup**: the per-CPU watchdog hrtimer fires every ``2 * watchdog_thresh / 5``
  (4 s) and checks the CPU's touch timestamp, which the CPU refreshes whenever it schedules.
  A CPU that has not scheduled for ``2 * watchdog_thresh`` (20 s) is reported: "BUG: soft
  lockup - CPU#1 stuck for 22s! [kworker/1:0:42]".  In the model a CPU that could not
  schedule is one whose thread ran non-preemptibly (preemption or IRQs off, a spinlock
  held, a hardirq handler) all that time; ``cond_resched()`` and the other preemption points
  are where a preemptible thread schedules, as in the kernel.
* **Hard lockup**: the NMI watchdog sees the hrtimer's interrupt count frozen: the CPU had
  IRQs off for ``watchdog_thresh`` (10 s): "Watchdog detected hard LOCKUP on cpu 1".
* **Hung task**: ``khungtaskd`` wakes every ``hung_task_timeout_secs`` (120 s) and reports a
  task in ``TASK_UNINTERRUPTIBLE`` that has not run since its previous look: "INFO: task
  drainer:12 blocked for more than 120 seconds."  Waits in the model are uninterruptible
  (mutex, completion, ``flush_work``, ``msleep``) except a worker's or rescuer's idle wait,
  which the kernel makes ``TASK_IDLE`` (hung-task ignores it).

The checks run from deferrable timers, like the workqueue watchdog's: they never keep a
machine that cannot progress from being reported as a deadlock.  Each report goes to
``m.sensors.lockup`` (the ``lockup`` oracle); the kernel itself only prints.

Simplified: the check instants are the timers' (every 4 s, every 120 s), so a lockup is
reported up to one period late, as in the kernel.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._core import SEC, Actor, ActorState

if TYPE_CHECKING:
    from ._machine import Machine

__all__ = ["arm_lockup_detectors"]


def _first_since(stack: list[Actor], irqs: bool) -> tuple[Actor, int] | None:
    """The CPU's stack, bottom (the task) to top (the innermost handler): since when it has
    had IRQs off (``irqs``) or run non-preemptibly, and the thread that made it so (None if
    it has not)."""
    for a in stack:
        if irqs and a.irq_disabled:
            return a, a.irq_off_since
        if not irqs and not a.preemptible:
            return a, a.atomic_since
    return None


def _check_cpus(m: Machine, thresh: int) -> None:
    e = m.engine
    now = e.now
    for c in e.cpus:
        if c.curr is None or not c.online:
            continue
        stack = [*c.irq_stack, c.curr]
        hard = _first_since(stack, irqs=True)
        if hard is not None and now - hard[1] > thresh:
            a = hard[0]
            _report(
                m,
                "hard-lockup",
                f"Watchdog detected hard LOCKUP on cpu {c.id} ({a.name}:{a.pid}, IRQs off "
                f"for {(now - hard[1]) // SEC}s)",
                {"cpu": c.id, "actor": a.name, "stuck_ns": now - hard[1]},
            )
            return
        soft = _first_since(stack, irqs=False)
        if soft is not None and now - soft[1] > 2 * thresh:
            a = soft[0]
            _report(
                m,
                "soft-lockup",
                f"BUG: soft lockup - CPU#{c.id} stuck for {(now - soft[1]) // SEC}s! "
                f"[{a.name}:{a.pid}]",
                {"cpu": c.id, "actor": a.name, "stuck_ns": now - soft[1]},
            )
            return


def _check_hung(m: Machine, timeout: int) -> None:
    e = m.engine
    now = e.now
    for a in e.actors:
        if a.state is not ActorState.BLOCKED or not a.slept:
            continue
        on = a.waiting_on
        if on is None or getattr(on, "idle", False):
            continue
        if now - a.blocked_since > timeout:
            _report(
                m,
                "hung-task",
                f"INFO: task {a.name}:{a.pid} blocked for more than {timeout // SEC} seconds.",
                {
                    "actor": a.name,
                    "cpu": a.last_cpu,
                    "on": on.wait_name,
                    "blocked_ns": now - a.blocked_since,
                },
            )
            return


def _report(m: Machine, kind: str, headline: str, details: dict[str, Any]) -> None:
    m.count(kind.replace("-", "_") + "s")
    m.engine.emit(kind.replace("-", "_"), **{k: v for k, v in details.items() if k != "on"})
    for fn in m.sensors.lockup:
        fn(kind, headline, details)


def arm_lockup_detectors(m: Machine) -> None:
    """Start the soft/hard lockup watchdog and khungtaskd (deferrable timers)."""
    e = m.engine
    thresh = m.params.lockup_thresh_ns
    if thresh > 0:
        period = 2 * thresh // 5  # watchdog.c: sample_period = softlockup thresh / 5

        def watchdog_timer() -> None:
            _check_cpus(m, thresh)
            e.add_timer(period, "watchdog_timer", watchdog_timer, deferrable=True)

        e.add_timer(period, "watchdog_timer", watchdog_timer, deferrable=True)
    timeout = m.params.hung_task_timeout_ns
    if timeout > 0:

        def khungtaskd() -> None:
            _check_hung(m, timeout)
            e.add_timer(timeout, "khungtaskd", khungtaskd, deferrable=True)

        e.add_timer(timeout, "khungtaskd", khungtaskd, deferrable=True)
