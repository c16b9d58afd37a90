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
================== ========================================================================
"""

from __future__ import annotations

from typing import Any

from .._core import SEC, Actor, build_wait_graph
from .._kernel import PCP_PAGE, DrainCall, Machine, PageError, PerCpuPages
from ._base import Oracle

__all__ = [
    "DeadlockOracle",
    "DisturbanceBound",
    "DrainCompleteness",
    "FlushDependency",
    "Liveness",
    "PageConservation",
    "PcpExclusive",
    "WqWatchdog",
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
