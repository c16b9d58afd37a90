"""The workqueue lockup watchdog and the kernel-style state dump.

``wq_watchdog_timer_fn`` (v4.5+, ``CONFIG_WQ_WATCHDOG``): a deferrable timer fires every
``watchdog_thresh``; a pool with pending work whose ``watchdog_ts`` (refreshed when a worker
takes an item or the worklist goes from empty to non-empty) is older than the threshold is a
lockup: "BUG: workqueue lockup - pool cpus=2 node=0 flags=0x0 nice=0 stuck for 31s!",
followed by ``show_workqueue_state()``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..._core import SEC

if TYPE_CHECKING:
    from .._machine import Machine
    from ._pool import WorkerPool
    from ._queue import Workqueue

__all__ = ["arm_watchdog", "show_workqueue_state"]


def _pool_info(pool: WorkerPool) -> str:
    cpus = f"cpus={pool.cpu}" if pool.cpu is not None else "cpus=0-N"
    return f"{cpus} node=0 flags={pool.flags:#x} nice={-20 if pool.highpri else 0}"


def show_workqueue_state(m: Machine) -> str:
    """``show_workqueue_state()``: busy workqueues (in-flight, pending, delayed items with
    barriers as ``BAR(pid)``) and busy pools (hung time, workers, idle ones)."""
    now = m.engine.now
    lines = ["Showing busy workqueues and worker pools:"]
    for wq in m.wq.workqueues:
        busy = _busy_pwqs(wq)
        if not busy:
            continue
        lines.append(f"workqueue {wq.name}: flags={wq.flags:#x}")
        for pwq in busy:
            pool = pwq.pool
            lines.append(
                f"  pwq {pool.id}: {_pool_info(pool)} active={pwq.nr_active}/{pwq.max_active}"
            )
            inflight = [
                f"{w.pid}:{work.func_name}" for work, w in pool.busy.items() if w.current_pwq is pwq
            ]
            if inflight:
                lines.append("    in-flight: " + " ".join(inflight))
            pending = [w.dump_name() for w in pool.worklist if w.pwq is pwq]
            for w in pool.busy.values():
                if w.current_pwq is pwq:
                    pending += [s.dump_name() for s in w.scheduled if s.pwq is pwq]
            if pending:
                lines.append("    pending: " + ", ".join(pending))
            if pwq.delayed_works:
                lines.append("    delayed: " + ", ".join(w.dump_name() for w in pwq.delayed_works))
    for pool in m.wq.all_pools():
        if not pool.worklist and not pool.busy:
            continue
        hung = (now - pool.watchdog_ts) // SEC
        idle = " ".join(str(w.pid) for w in pool.idle_list)
        mgr = f" manager: {pool.manager.pid}" if pool.manager is not None else ""
        lines.append(
            f"pool {pool.id}: {_pool_info(pool)} hung={hung}s workers={pool.nr_workers}"
            f"{mgr}" + (f" idle: {idle}" if idle else "")
        )
    return "\n".join(lines)


def _busy_pwqs(wq: Workqueue) -> list[Any]:
    out = []
    for pwq in wq.pwqs():
        pool = pwq.pool
        busy = any(w.current_pwq is pwq for w in pool.busy.values())
        if busy or pwq.delayed_works or any(w.pwq is pwq for w in pool.worklist):
            out.append(pwq)
    return out


def _check(m: Machine) -> None:
    thresh = m.params.watchdog_thresh_ns
    now = m.engine.now
    for pool in m.wq.all_pools():
        if not pool.worklist:
            continue
        ts = pool.watchdog_ts
        if now > ts + thresh:
            stuck = (now - ts) // SEC
            head = f"BUG: workqueue lockup - pool {_pool_info(pool)} stuck for {stuck}s!"
            dump = show_workqueue_state(m)
            m.count("wq_lockups")
            m.engine.emit("wq_lockup", pool=pool.id, stuck_s=stuck)
            details = {
                "pool": pool.id,
                "cpu": pool.cpu,
                "stuck_ns": now - ts,
                "pending": [w.dump_name() for w in pool.worklist],
            }
            for fn in m.sensors.wq_lockup:
                fn(head, dump, details)
            # The kernel reports once per check; ts is not touched, so it repeats next time.


def arm_watchdog(m: Machine) -> None:
    """Start the deferrable watchdog timer (no-op if ``watchdog_thresh`` is 0)."""
    thresh = m.params.watchdog_thresh_ns
    if thresh <= 0:
        return

    def fire() -> None:
        _check(m)
        m.engine.add_timer(thresh, "wq_watchdog", fire, deferrable=True)

    m.engine.add_timer(thresh, "wq_watchdog", fire, deferrable=True)
