"""Per-step samples of machine state, for the interleaving table and the Perfetto counters.

The trace says what each step *did*; a kernel developer reading a failure also wants to see
what each CPU *looked like* at that moment: who was running there, how many pages sat on its
PCP lists, how many works were waiting in its normal worker pool.  That state is not in the
trace (recording it on every step would bloat the canonical stream and its hash), so a
:class:`RowCollector` samples it through an engine step hook while a run is *replayed*::

    r = await run_spec_async(spec, RandomScheduler(0))            # the exploring run
    collector = RowCollector()
    r2 = await run_spec_async(spec, ReplayScheduler(r.decision_list), observer=collector.attach)
    print(failure_report(r2, rows=collector.rows))

Sampling only reads the machine: the replayed run takes the same decisions and produces the
same trace bytes as the original one.  A step hook fires right after the step's record was
appended, so ``engine.trace[-1]`` is that step's point (or block) record; events that the step
merely ``emit``-s afterwards (``work_end``, ``flush_done``, ``exit``...) share its step number
and are attached to the row by the report, from the trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from .._core import Decision, ReplayScheduler, RunResult
from .._explore import RunSpec, run_spec

if TYPE_CHECKING:
    from .._kernel import Machine

__all__ = ["CpuCell", "RowCollector", "StepRow", "collect_rows", "replay_with_rows"]


@attrs.frozen
class CpuCell:
    """One CPU at one step: who runs there (``None``: idle), whether it is online, the pages
    on its PCP lists (all zones) and the works pending on its normal pool's worklist."""

    actor: str | None
    online: bool
    pcp: int
    pending: int


@attrs.frozen
class StepRow:
    """The machine right after step ``step``: the step's actor, CPU and event, every CPU's
    :class:`CpuCell`, and each zone's free (buddy) pages, in ``m.zones`` order."""

    step: int
    t_ns: int
    actor: str
    cpu: int | None
    event: str
    cpus: tuple[CpuCell, ...]
    zones_free: tuple[int, ...] = ()
    #: The stepping actor's state in ftrace's flags column: IRQs off (``d``), need-resched
    #: (not modelled: ``.``), hardirq (``h``), preempt depth (hex digit, ``.`` for 0).
    flags: str = "...."


@attrs.define
class RowCollector:
    """Collects one :class:`StepRow` per step of the machine it is attached to.

    Pass ``collector.attach`` as the ``observer`` of ``run_spec_async`` (or call it with a
    :class:`~pcptrio._kernel.Machine` before ``m.run``); read ``collector.rows`` afterwards.
    One collector observes one run.
    """

    rows: list[StepRow] = attrs.field(factory=list)
    #: Zone names in ``m.zones`` order (the labels of ``StepRow.zones_free``).
    zone_names: tuple[str, ...] = ()
    nr_cpus: int = 0
    #: Every actor's name and pid (spawn order), filled as the run goes.
    pids: dict[str, int] = attrs.field(factory=dict)
    #: Wake-ups: (step, time, woken actor, waker actor or ``-``, the woken one's CPU).
    wakes: list[tuple[int, int, str, str, int]] = attrs.field(factory=list)
    _attached: bool = False

    def attach(self, m: Machine) -> None:
        """Install the sampling step hook on ``m.engine``."""
        if self._attached:
            raise RuntimeError("a RowCollector observes one run; make a new one")
        self._attached = True
        self.zone_names = tuple(z.name for z in m.zones)
        self.nr_cpus = m.nr_cpus
        e = m.engine
        cpus = e.cpus
        zones = list(m.zones)
        normal_pools = [m.wq.cpu_pools[c][0] for c in range(m.nr_cpus)]
        rows = self.rows
        trace = e.trace
        pids = self.pids

        def sample() -> None:
            cells = tuple(
                CpuCell(
                    cpu.curr.name if cpu.curr is not None else None,
                    cpu.online,
                    sum(z.pcp[c].count for z in zones),
                    len(normal_pools[c].worklist),
                )
                for c, cpu in enumerate(cpus)
            )
            free = tuple(z.nr_free for z in zones)
            a = e.current_or_none
            if trace and trace[-1][0] == e.step:
                step, t_ns, actor, cpu_id, event, _ = trace[-1]
            else:  # record_trace=False: the engine still knows who stepped
                step, t_ns, event = e.step, e.now, ""
                actor = a.name if a is not None else "-"
                cpu_id = a.cpu if a is not None else None
            flags = "...."
            if a is not None:
                depth = min(a.preempt_count, 15)
                flags = (
                    ("d" if a.irq_disabled else ".")
                    + "."
                    + ("h" if a.interrupt else ".")
                    + (format(depth, "x") if depth else ".")
                )
            for x in e.actors[len(pids) :]:
                pids[x.name] = x.pid
            rows.append(StepRow(step, t_ns, actor, cpu_id, event, cells, free, flags))

        e.add_step_hook(sample)
        wakes = self.wakes

        def woken(a: Any) -> None:
            w = e.current_or_none
            target = a.cpu if a.cpu is not None else a.bound if a.bound is not None else a.last_cpu
            wakes.append((e.step, e.now, a.name, w.name if w is not None else "-", target or 0))

        e.add_wake_hook(woken)


def collect_rows(m: Machine) -> list[StepRow]:
    """Attach a :class:`RowCollector` to ``m``; the returned list fills up as ``m`` runs."""
    c = RowCollector()
    c.attach(m)
    return c.rows


def replay_with_rows(
    spec: RunSpec,
    decisions: Sequence[Decision],
    *,
    strict: bool = True,
    logger: Any = None,
    run_timeout_s: float | None = None,
) -> tuple[RunResult, RowCollector]:
    """Replay ``decisions`` of ``spec`` with a :class:`RowCollector` attached: the run and
    its per-step rows, for a report or Perfetto's counters."""
    coll = RowCollector()
    r = run_spec(
        spec,
        ReplayScheduler(list(decisions), strict=strict),
        observer=coll.attach,
        logger=logger,
        run_timeout_s=run_timeout_s,
    )
    return r, coll
