"""Stage probes: did the scenario really set the stage for its hazard?

A campaign that finds nothing means something only if its schedules did what makes the
hazard possible.  A *stage probe* is a fact about what the **scenario** did — its stimuli and
their overlap in time with drain_all_pages() calls — that a run either reaches or not, in the
spirit of Antithesis' "sometimes" assertions and Coyote's liveness monitors.  A campaign's
``not-found`` requires every probe of its scenario reached in some schedule; otherwise the
verdict is ``inconclusive (stage not reached: <probe>)``.

Rules that keep probes honest:

* **Design-agnostic.**  A probe never looks at which design runs and never at a mechanism a
  design may avoid (a pending drain work, an IPI, a mask bit).  It watches drain calls — in
  progress from entry to return, even while waiting for a mutex or a lock — and the
  scenario's own stimuli: hotplug requests, a hog work running, memory exhaustion, PCP updates
  by a CPU's own tasks.  So every design can reach every probe, including the designs that
  fix the hazard.
* **Never a judge.**  A probe only records that (and at which step) the stage was reached.

Two intervals overlap iff one begins while the other is in progress, so each overlap probe
checks at both begin events.

==========================  ===============================================================
drain-called                a drain_all_pages() call was made
concurrent-drains           two drain_all_pages() calls were in progress at the same time
concurrent-zone-drains      two zone-specific calls for different zones were in progress at
                            the same time
drain-vs-pcp-update         a call was in progress while a CPU's own task (one not working
                            for any drain call) was inside that CPU's PCP critical section
cpu-down-during-drain       a CPU offline was requested while a call was in progress
cpu-up-during-drain         a CPU online was requested while a call was in progress
drain-while-cpu-offline     a call began while a CPU was offline that was online when an
                            earlier call began
drain-from-kworker          a call was made from a workqueue worker (PF_WQ_WORKER)
exhausted-during-drain      a call began while memory was exhausted: every zone's free pages
                            at or below its min watermark
hog-during-drain            a CPU-hog work was running while a call was in progress
zone-call-other-zones       a zone-specific call began while an online CPU's PCP held pages
                            of another zone
drain-large-pcp             a call began while an online CPU's PCP held more pages than
                            two of E17's chunks (``batch << CONFIG_PCP_BATCH_SCALE_MAX``)
drain-during-boot           a call began before the boot had run its ``device`` initcalls
                            (``module_init``)
drain-during-suspend        a call began while a suspend had frozen the workqueues
drain-from-kthreadd         a call was made by kthreadd (forking a thread under memory
                            pressure)
==========================  ===============================================================
"""

from __future__ import annotations

import abc
import difflib
from collections.abc import Callable, Iterable

from .._core import Actor, BadInput
from .._kernel import DrainCall, Machine, PerCpuPages, task_of

__all__ = ["PROBES", "Probe", "ProbeSet", "attach_probes", "probe_names"]


class Probe(abc.ABC):
    """A named stage probe.  ``attach`` subscribes to the machine's sensors and calls
    ``reached()`` the first time the fact holds."""

    name: str = "?"
    description: str = ""

    @abc.abstractmethod
    def attach(self, m: Machine, reached: Callable[[], None]) -> None: ...


class DrainCalled(Probe):
    name = "drain-called"
    description = "a drain_all_pages() call was made"

    def attach(self, m: Machine, reached: Callable[[], None]) -> None:
        m.sensors.drain_begin.append(lambda call: reached())


class ConcurrentDrains(Probe):
    name = "concurrent-drains"
    description = "two drain_all_pages() calls were in progress at the same time"

    def attach(self, m: Machine, reached: Callable[[], None]) -> None:
        def begin(call: DrainCall) -> None:
            if len(m.drain_calls_active()) >= 2:
                reached()

        m.sensors.drain_begin.append(begin)


class ConcurrentZoneDrains(Probe):
    name = "concurrent-zone-drains"
    description = "two zone-specific calls for different zones were in progress at once"

    def attach(self, m: Machine, reached: Callable[[], None]) -> None:
        def begin(call: DrainCall) -> None:
            if call.zone is None:
                return
            for other in m.drain_calls_active():
                if other.zone is not None and other.zone != call.zone:
                    reached()
                    return

        m.sensors.drain_begin.append(begin)


class DrainVsPcpUpdate(Probe):
    name = "drain-vs-pcp-update"
    description = (
        "a call was in progress while a CPU's own task was inside that CPU's PCP critical section"
    )

    def attach(self, m: Machine, reached: Callable[[], None]) -> None:
        def own_update(pcp: PerCpuPages, a: Actor) -> bool:
            # The CPU's own activity: an actor on that CPU, not working for a drain call
            # (an IPI handler or a drain work touching the list is the design, not the stage).
            return a.cpu == pcp.cpu and task_of(a).drain_call is None

        def done() -> None:
            if on_enter in m.sensors.pcp_enter:
                m.sensors.pcp_enter.remove(on_enter)
            reached()

        def on_enter(pcp: PerCpuPages, a: Actor) -> None:
            if m.drain_calls_active() and own_update(pcp, a):
                done()

        def begin(call: DrainCall) -> None:
            for pcp in m.all_pcps():
                for a in pcp.inside:
                    if own_update(pcp, a):
                        done()
                        return

        m.sensors.pcp_enter.append(on_enter)
        m.sensors.drain_begin.append(begin)


class _StimulusDuringDrain(Probe):
    """A scenario stimulus (``m.stimulus_begin(name)``) overlapped a drain call."""

    stimulus: str = "?"

    def attach(self, m: Machine, reached: Callable[[], None]) -> None:
        def on_stimulus(name: str, begins: bool) -> None:
            if begins and name == self.stimulus and m.drain_calls_active():
                reached()

        def begin(call: DrainCall) -> None:
            if m.stimuli.get(self.stimulus, 0) > 0:
                reached()

        m.sensors.stimulus.append(on_stimulus)
        m.sensors.drain_begin.append(begin)


class CpuDownDuringDrain(_StimulusDuringDrain):
    name = "cpu-down-during-drain"
    description = "a CPU offline was requested while a call was in progress"
    stimulus = "cpu-down"


class CpuUpDuringDrain(_StimulusDuringDrain):
    name = "cpu-up-during-drain"
    description = "a CPU online was requested while a call was in progress"
    stimulus = "cpu-up"


class HogDuringDrain(_StimulusDuringDrain):
    name = "hog-during-drain"
    description = "a CPU-hog work was running while a call was in progress"
    stimulus = "hog"


class DrainWhileCpuOffline(Probe):
    name = "drain-while-cpu-offline"
    description = "a call began while a CPU was offline that was online when an earlier call began"

    def attach(self, m: Machine, reached: Callable[[], None]) -> None:
        seen_online: set[int] = set()

        def begin(call: DrainCall) -> None:
            online = set(call.online_at_start)
            if seen_online - online:
                reached()
            seen_online.update(online)

        m.sensors.drain_begin.append(begin)


class DrainFromKworker(Probe):
    name = "drain-from-kworker"
    description = "a call was made from a workqueue worker (PF_WQ_WORKER)"

    def attach(self, m: Machine, reached: Callable[[], None]) -> None:
        def begin(call: DrainCall) -> None:
            if task_of(m.engine.current).is_wq_worker:
                reached()

        m.sensors.drain_begin.append(begin)


class ExhaustedDuringDrain(Probe):
    name = "exhausted-during-drain"
    description = "a call began while every zone's free pages were at or below its min watermark"

    def attach(self, m: Machine, reached: Callable[[], None]) -> None:
        def begin(call: DrainCall) -> None:
            if all(z.nr_free <= z.watermarks.min for z in m.zones):
                reached()

        m.sensors.drain_begin.append(begin)


class ZoneCallOtherZones(Probe):
    name = "zone-call-other-zones"
    description = "a zone-specific call began while an online CPU's PCP held pages of another zone"

    def attach(self, m: Machine, reached: Callable[[], None]) -> None:
        def begin(call: DrainCall) -> None:
            if call.zone is None:
                return
            for z in m.zones:
                if z.name != call.zone and any(p.count and m.cpu_online(p.cpu) for p in z.pcp):
                    reached()
                    return

        m.sensors.drain_begin.append(begin)


class DrainLargePcp(Probe):
    name = "drain-large-pcp"
    description = (
        "a call began while an online CPU's PCP held more pages than two of E17's chunks "
        "(batch << CONFIG_PCP_BATCH_SCALE_MAX)"
    )

    def attach(self, m: Machine, reached: Callable[[], None]) -> None:
        scale = m.params.pcp_batch_scale_max

        def begin(call: DrainCall) -> None:
            for p in m.all_pcps():
                if p.count > 2 * (p.batch << scale) and m.cpu_online(p.cpu):
                    reached()
                    return

        m.sensors.drain_begin.append(begin)


class DrainDuringBoot(Probe):
    name = "drain-during-boot"
    description = "a call began before the boot had run its device initcalls (module_init)"

    def attach(self, m: Machine, reached: Callable[[], None]) -> None:
        def begin(call: DrainCall) -> None:
            if "device" not in m.initcalls_done:
                reached()

        m.sensors.drain_begin.append(begin)


class DrainDuringSuspend(_StimulusDuringDrain):
    name = "drain-during-suspend"
    description = "a call began while a suspend had frozen the workqueues"
    stimulus = "suspend"


class DrainFromKthreadd(Probe):
    name = "drain-from-kthreadd"
    description = "a call was made by kthreadd (forking a thread under memory pressure)"

    def attach(self, m: Machine, reached: Callable[[], None]) -> None:
        def begin(call: DrainCall) -> None:
            if m.engine.current is m.kthreadd.actor:
                reached()

        m.sensors.drain_begin.append(begin)


PROBES: dict[str, type[Probe]] = {
    p.name: p
    for p in (
        DrainCalled,
        ConcurrentDrains,
        ConcurrentZoneDrains,
        DrainVsPcpUpdate,
        CpuDownDuringDrain,
        CpuUpDuringDrain,
        DrainWhileCpuOffline,
        DrainFromKworker,
        ExhaustedDuringDrain,
        HogDuringDrain,
        ZoneCallOtherZones,
        DrainLargePcp,
        DrainDuringBoot,
        DrainDuringSuspend,
        DrainFromKthreadd,
    )
}


def probe_names() -> list[str]:
    return list(PROBES)


class ProbeSet:
    """The probes of one run and the step at which each was first reached."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names: tuple[str, ...] = tuple(dict.fromkeys(names))
        self.reached: dict[str, int] = {}
        for n in self.names:
            if n not in PROBES:
                close = difflib.get_close_matches(n, list(PROBES), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise BadInput(f"unknown stage probe {n!r}{hint} (known: {', '.join(PROBES)})")

    def attach(self, m: Machine) -> None:
        for n in self.names:

            def reached(n: str = n) -> None:
                if n not in self.reached:
                    self.reached[n] = m.engine.step

            PROBES[n]().attach(m, reached)

    def reached_names(self) -> list[str]:
        """The probes reached, in declaration order."""
        return [n for n in self.names if n in self.reached]


def attach_probes(m: Machine, names: Iterable[str]) -> ProbeSet:
    """Attach the probes ``names`` to ``m``; read ``.reached`` after the run."""
    ps = ProbeSet(names)
    ps.attach(m)
    return ps
