"""The oracles of ``docs/hazards.md``, independent of any design.

================== ========================================================================
page-conservation  every page in exactly one place: checked on every page move (the machine's
                   page map), plus the full audit when a run ends
pcp-exclusive      two actors inside one CPU's PCP critical section at once
drain-completeness every page on an online CPU's PCP (for the requested zone) when a
                   drain_all_pages() call began has left that PCP when it returns; pages that
                   arrive later don't count, CPUs that went offline during the call are
                   exempt.  Applies to zone-specific callers (they need completion);
                   ``strict=True`` applies it to every caller
deadlock           nothing runnable, no timer pending, someone waiting (the engine detects it
                   and reports the wait-for graph; always on)
liveness           a drain_all_pages() call returns within ``bound_ns`` of virtual time
                   (default: the 30 s workqueue watchdog threshold)
wq-watchdog        a workqueue lockup report (pool with pending work, no progress for the
                   watchdog threshold)
disturbance-bound  at any moment, drain IPIs pending + drain works queued or running <= the
                   number of CPUs
flush-dependency   check_flush_dependency() warned
lockup             the kernel's soft lockup (a CPU that could not schedule for 20 s), hard
                   lockup (IRQs off for 10 s) and hung-task (an uninterruptible wait of 120 s)
                   reports, in virtual time (always on)
irq-off-bound      no CPU runs non-preemptibly (IRQs off, preemption off, a spinlock held, a
                   hardirq handler) for longer than ``bound_ns`` of virtual time
kernel-warn        a WARN_ON / WARN_ON_ONCE of the kernel fired in the model (always on):
                   reported as the kernel prints it, with the actor, its CPU and the model's
                   call chain (function names, innermost first)
zone-precision     a drain_all_pages(zone) call moves only pages of ``zone`` off the PCPs (the
                   work, IPI handler or caller draining for it frees no other zone's pages)
================== ========================================================================
"""

from __future__ import annotations

import os
import sys
from typing import Any

import trio

from .._core import SEC, USEC, Actor, build_wait_graph
from .._kernel import PCP_PAGE, DrainCall, Machine, PageError, PerCpuPages, task_of
from ._base import Oracle

__all__ = [
    "DeadlockOracle",
    "DisturbanceBound",
    "DrainCompleteness",
    "FlushDependency",
    "IrqOffBound",
    "KernelWarn",
    "Liveness",
    "Lockup",
    "PageConservation",
    "PcpExclusive",
    "WqWatchdog",
    "ZonePrecision",
]


class PageConservation(Oracle):
    name = "page-conservation"
    description = "every page is in exactly one place (buddy, one PCP list, or one owner)"

    def attach(self, m: Machine) -> None:
        def on_error(err: PageError) -> None:
            details: dict[str, Any] = dict(err.details)
            if err.pfn is not None:
                details["pfn"] = err.pfn
            self.report(m, err.message, kind=err.kind, details=details)

        m.pagemap.listeners.append(on_error)

        def final_audit() -> None:
            errs = m.audit()
            if errs:
                first = errs[0]
                self.report(
                    m,
                    f"audit at the end of the run: {first.message}"
                    + (f" (+{len(errs) - 1} more)" if len(errs) > 1 else ""),
                    kind="audit",
                    details={"errors": [e.message for e in errs[:20]]},
                )

        m.engine.add_finish_hook(final_audit)


class PcpExclusive(Oracle):
    name = "pcp-exclusive"
    description = "no two actors inside one CPU's PCP critical section at once"

    def attach(self, m: Machine) -> None:
        def on_overlap(pcp: PerCpuPages, first: Actor, second: Actor) -> None:
            self.report(
                m,
                f"{second.name} (on cpu{second.cpu}) entered cpu{pcp.cpu}'s {pcp.zone.name} PCP "
                f"while {first.name} was inside it",
                kind="overlap",
                actors=(first.name, second.name),
                subject=(f"cpu{pcp.cpu}", pcp.zone.name, first.name, second.name),
                details={
                    "cpu": pcp.cpu,
                    "zone": pcp.zone.name,
                    "inside": first.name,
                    "entering": second.name,
                    "entering_cpu": second.cpu,
                    "count": pcp.count,
                    "listed": pcp.listed,
                },
            )

        m.sensors.pcp_overlap.append(on_overlap)


class DrainCompleteness(Oracle):
    name = "drain-completeness"
    description = (
        "pages on an online CPU's PCP when drain_all_pages(zone) began have left it on return"
    )

    def attach(self, m: Machine) -> None:
        strict = bool(self.options.get("strict", False))

        def begin(call: DrainCall) -> None:
            if call.zone is None and not strict:
                return
            zone = m.zone(call.zone) if call.zone is not None else None
            call.snapshot = m.pcp_snapshot(zone)

        def end(call: DrainCall) -> None:
            if call.snapshot is None:
                return
            pm = m.pagemap
            left: dict[int, list[int]] = {}
            for pfn, (cpu, seq) in call.snapshot.items():
                if cpu in call.went_offline:
                    continue
                if (
                    pm.state[pfn] == PCP_PAGE
                    and pm.pcp_cpu.get(pfn) == cpu
                    and pm.link_seq.get(pfn) == seq
                ):
                    left.setdefault(cpu, []).append(pfn)
            if not left:
                return
            n = sum(len(v) for v in left.values())
            cpus = ", ".join(f"cpu{c}: {len(v)}" for c, v in sorted(left.items()))
            self.report(
                m,
                f"drain_all_pages({call.zone or 'NULL'}) call #{call.id} by {call.caller} "
                f"returned with {n} page(s) still on the PCPs they sat on when it began ({cpus})",
                kind="pages-left",
                actors=(call.caller,),
                subject=(call.caller, call.zone or "NULL", *(f"cpu{c}" for c in sorted(left))),
                details={
                    "call": call.id,
                    "zone": call.zone,
                    "pages": {str(c): sorted(v)[:16] for c, v in sorted(left.items())},
                    "counts": {str(c): len(v) for c, v in sorted(left.items())},
                },
            )

        m.sensors.drain_begin.append(begin)
        m.sensors.drain_end.append(end)


class DeadlockOracle(Oracle):
    name = "deadlock"
    description = "nothing runnable, no timer pending, someone waiting (with the wait-for graph)"

    def attach(self, m: Machine) -> None:
        """The engine itself detects deadlocks and reports them under this name."""


class Liveness(Oracle):
    name = "liveness"
    description = "every drain_all_pages() call returns within a bound of virtual time"

    def attach(self, m: Machine) -> None:
        bound = int(self.options.get("bound_ns", m.params.watchdog_thresh_ns or 30 * SEC))
        e = m.engine

        def begin(call: DrainCall) -> None:
            def check() -> None:
                if call.done:
                    return
                graph = build_wait_graph(e.actors)
                self.report(
                    m,
                    f"drain_all_pages({call.zone or 'NULL'}) call #{call.id} by {call.caller} "
                    f"has not returned after {bound // SEC}s of virtual time",
                    kind="drain-stuck",
                    actors=(call.caller,),
                    subject=(call.caller, call.zone or "NULL"),
                    details={"call": call.id, "bound_ns": bound, "graph": graph.to_json()},
                )

            e.add_timer(bound + 1, f"liveness:call{call.id}", check, deferrable=True)

        m.sensors.drain_begin.append(begin)


class WqWatchdog(Oracle):
    name = "wq-watchdog"
    description = "no workqueue lockup (pending work, no progress for the watchdog threshold)"

    def attach(self, m: Machine) -> None:
        def on_lockup(headline: str, dump: str, details: dict[str, Any]) -> None:
            self.report(
                m,
                headline,
                kind="lockup",
                details={**details, "dump": dump},
                subject=(f"pool{details.get('pool')}",),
            )

        m.sensors.wq_lockup.append(on_lockup)


class DisturbanceBound(Oracle):
    name = "disturbance-bound"
    description = "drain IPIs pending + drain works queued or running <= number of CPUs"

    def attach(self, m: Machine) -> None:
        limit = m.nr_cpus

        def on_change(n: int) -> None:
            if n > limit:
                self.report(
                    m,
                    f"{n} drain IPIs/works in flight on a {limit}-CPU machine "
                    f"({m.drain_ipis_pending} IPIs pending, {m.drain_works_active} works)",
                    kind="storm",
                    details={
                        "in_flight": n,
                        "cpus": limit,
                        "ipis_pending": m.drain_ipis_pending,
                        "works_active": m.drain_works_active,
                        "drain_calls_active": [c.id for c in m.drain_calls_active()],
                    },
                )

        m.sensors.disturbance.append(on_change)


class FlushDependency(Oracle):
    name = "flush-dependency"
    description = "no reclaim-safe context flushes a !WQ_MEM_RECLAIM work (check_flush_dependency)"

    def attach(self, m: Machine) -> None:
        def on_warning(msg: str, details: dict[str, Any]) -> None:
            self.report(
                m,
                msg,
                kind="warn",
                actors=(str(details.get("flusher", "")),),
                details=details,
                subject=(str(details.get("flusher", "")), str(details.get("work", ""))),
            )

        m.sensors.flush_warning.append(on_warning)


class ZonePrecision(Oracle):
    """E11 (v5.0, "mm, page_alloc: enable pcpu_drain with zone capability"): a zone-specific
    caller (page isolation for CMA or memory offline, hwpoison, compaction) asks for one
    zone; draining the other zones' PCPs as well is the H12 over-drain (extra ``zone->lock``
    traffic and refills for zones nobody asked about).  Pages are attributed to a call by
    whoever freed them while working for it, whatever the mechanism (a work, an IPI, the
    caller itself), so the oracle never looks at the design."""

    name = "zone-precision"
    description = "a drain_all_pages(zone) call moves only pages of zone off the PCPs"

    def attach(self, m: Machine) -> None:
        def on_freed(call: DrainCall, pcp: PerCpuPages, freed: int) -> None:
            if call.zone is None or pcp.zone.name == call.zone:
                return
            self.report(
                m,
                f"drain_all_pages({call.zone}) call #{call.id} by {call.caller} moved {freed} "
                f"page(s) of zone {pcp.zone.name} off cpu{pcp.cpu}'s PCP",
                kind="other-zone",
                actors=(call.caller,),
                subject=(call.caller, call.zone, pcp.zone.name),
                details={
                    "call": call.id,
                    "zone": call.zone,
                    "drained_zone": pcp.zone.name,
                    "cpu": pcp.cpu,
                    "pages": freed,
                },
            )

        m.sensors.drain_freed.append(on_freed)


_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Frames of these are the engine, the checkers and the sensors, not the emulated kernel.
_NOT_KERNEL = (
    *(os.path.join(_PKG, d) + os.sep for d in ("_core", "_check")),
    os.path.join(_PKG, "_kernel", "_sensors.py"),
    os.path.dirname(trio.__file__) + os.sep,
)


def _call_chain(limit: int = 12) -> list[str]:
    """The model's call chain here, innermost first: function names of the frames of the
    emulated kernel, the designs and the scenario's actors (a user's design included), as a
    kernel backtrace lists them.  Names only: the same run gives the same chain on any
    machine and after edits that move lines."""
    out: list[str] = []
    f = sys._getframe(1)
    while f is not None and len(out) < limit:
        name = f.f_code.co_filename
        if name.startswith(_NOT_KERNEL):
            if out and f.f_code.co_name in ("_call_model", "_drive"):
                break  # the thread's entry: everything above is the engine
        elif not out or out[-1] != f.f_code.co_name:  # a wrapper of the same name once
            out.append(f.f_code.co_name)
        f = f.f_back  # type: ignore[assignment]
    return out


class KernelWarn(Oracle):
    """``WARN_ON()`` / ``WARN_ON_ONCE()``: the kernel saying that it reached a state its
    authors ruled out (a drain before its workqueue exists, IPIs sent with IRQs off).  The
    model raises the same warnings at the same places (``m.sensors.warn``); the first one
    ends the run.  ``check_flush_dependency()``'s warning keeps its own oracle,
    ``flush-dependency``."""

    name = "kernel-warn"
    description = "no WARN_ON / WARN_ON_ONCE of the kernel fires in the model"

    def attach(self, m: Machine) -> None:
        e = m.engine

        def on_warning(message: str) -> None:
            a = e.current_or_none
            who = a.name if a is not None else "-"
            cpu = a.cpu if a is not None else None
            chain = _call_chain()
            self.report(
                m,
                f"WARNING: CPU: {cpu if cpu is not None else '?'} PID: {who} at {message}",
                kind="warn",
                actors=(who,) if a is not None else (),
                subject=(message,),
                details={"warning": message, "cpu": cpu, "call_chain": chain},
            )

        m.sensors.warning.append(on_warning)


class IrqOffBound(Oracle):
    """A latency bound: how long a CPU may run with interrupts or preemption disabled.

    An atomic section starts when a thread disables preemption or IRQs (a spinlock taken,
    ``local_irq_save``) or a hardirq handler starts, and ends when both are back on; its
    length is virtual time on that thread's clock, spinning on a contended lock included.
    E17 (``55f77df7d715``, "mm: page_alloc: control latency caused by zone PCP draining",
    v6.10) exists because draining a 5.14+-sized PCP in one ``pcp->lock`` hold made such
    sections long: it drains ``batch << CONFIG_PCP_BATCH_SCALE_MAX`` pages per hold.  The
    bound is the scenario's (``bound_us``); the first section over it is reported with its
    length, thread, CPU and the drain call the thread worked for."""

    name = "irq-off-bound"
    description = "no CPU runs non-preemptibly (IRQs or preemption off) longer than a bound"

    def attach(self, m: Machine) -> None:
        bound = int(self.options.get("bound_ns", 1000 * USEC))

        def on_section(a: Actor, duration: int) -> None:
            if duration <= bound:
                return
            call = task_of(a).drain_call
            what = (
                f" for drain_all_pages({call.zone or 'NULL'}) call #{call.id} by {call.caller}"
                if call is not None
                else ""
            )
            self.report(
                m,
                f"{a.name} ran non-preemptibly on cpu{a.cpu} for {duration / USEC:.1f} us"
                f"{what}, over the bound of {bound / USEC:.1f} us",
                kind="long-section",
                actors=(a.name,),
                subject=(a.name,) if call is None else (a.name, call.caller),
                details={
                    "duration_ns": duration,
                    "bound_ns": bound,
                    "start_ns": a.atomic_since,
                    "cpu": a.cpu,
                    "call": call.id if call is not None else None,
                    "caller": call.caller if call is not None else None,
                },
            )

        m.engine.add_atomic_hook(on_section)


class Lockup(Oracle):
    """The kernel's own lockup reports (``_kernel._lockup``): soft lockup, hard lockup and
    hung task, each with the kernel's headline.  Their timers are deferrable, so a machine
    that cannot progress at all is still a ``deadlock``; a thread that spins, loops or waits
    on something that never comes while the rest of the machine goes on is a lockup, not
    an exhausted budget."""

    name = "lockup"
    description = (
        "no soft lockup (20 s without scheduling), hard lockup (10 s with IRQs off) or hung "
        "task (120 s in an uninterruptible wait)"
    )

    def attach(self, m: Machine) -> None:
        def on_lockup(kind: str, headline: str, details: dict[str, Any]) -> None:
            who = str(details.get("actor", ""))
            self.report(
                m,
                headline,
                kind=kind,
                actors=(who,) if who else (),
                subject=(who,),
                details=details,
            )

        m.sensors.lockup.append(on_lockup)
