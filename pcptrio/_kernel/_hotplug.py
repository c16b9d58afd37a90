"""CPU hotplug: the hotplug lock and the offline/online sequences with their callbacks.

``cpu_hotplug_lock`` is a percpu rw-semaphore: ``get_online_cpus()`` / ``cpus_read_lock()``
take it for reading, ``cpu_hotplug_begin()`` for writing.  Callbacks run in kernel order:

::

    cpu_down(N)                                   cpu_up(N)
    ───────────                                   ─────────
    cpus_write_lock                               cpus_write_lock
    AP teardown on N while still up               PREPARE callbacks on the control CPU
      (workqueue_offline_cpu: pools of N            (workqueue_prepare_cpu, percpu setup:
       become DISASSOCIATED)                         may allocate, may fail -> rollback)
    N leaves the online mask; pending IPIs        N joins the online mask
      run first; tasks bound to N migrate         AP online callbacks on N
    DEAD callbacks on the control CPU               (workqueue_online_cpu: rebind workers)
      (page_alloc_cpu_dead: drain N's PCPs)       cpus_write_unlock
    cpus_write_unlock

AP callbacks run in a short-lived ``cpuhp/N`` actor bound to N, as the per-CPU hotplug thread
does.  When N goes down, ordinary tasks and kworkers bound to it become unbound (the
scheduler breaks their affinity); per-CPU kthreads such as ``cpuhp/N`` park instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import attrs

from .._core import Actor, ActorState, Completion, RWSemaphore
from ._task import task_of

if TYPE_CHECKING:
    from ._machine import Machine

__all__ = ["Hotplug", "HotplugStatistics"]

Callback = Callable[[int], Awaitable[bool | None]]


@attrs.frozen
class HotplugStatistics:
    offlined: int
    onlined: int
    failed_up: int


class Hotplug:
    """The CPU hotplug state machine of one machine."""

    def __init__(self, m: Machine) -> None:
        self.m = m
        self.lock = RWSemaphore(m.engine, "cpu_hotplug_lock")
        self.prepare: list[tuple[str, Callback]] = []
        self.online: list[tuple[str, Callback]] = []
        self.teardown_ap: list[tuple[str, Callback]] = []
        self.dead: list[tuple[str, Callback]] = []
        self.offlined = 0
        self.onlined = 0
        self.failed_up = 0
        self._recursion: dict[Actor, int] = {}

    async def get_online_cpus(self) -> None:
        """``get_online_cpus()`` / ``cpus_read_lock()``.

        As in v4.10 (``cpu_hotplug.active_writer == current``), the task doing the hotplug
        operation passes straight through: its own allocations may reach this.  (The percpu
        rw-semaphore of 4.13+ dropped that recursion.)"""
        a = self.m.engine.current
        if self.lock.writer is a:
            self._recursion[a] = self._recursion.get(a, 0) + 1
            return
        await self.lock.down_read()

    async def put_online_cpus(self) -> None:
        a = self.m.engine.current
        n = self._recursion.get(a, 0)
        if n:
            self._recursion[a] = n - 1
            return
        await self.lock.up_read()

    async def _run_on(self, cpu: int, phase: str, cbs: list[tuple[str, Callback]]) -> None:
        """Run AP callbacks in ``cpuhp/cpu`` and wait for them (the hotplug thread)."""
        m = self.m
        e = m.engine
        done = Completion(e, f"cpuhp/{cpu} {phase}")

        async def cpuhp() -> None:
            task_of(e.current).parks_on_offline = True
            for name, fn in cbs:
                await e.point("cpuhp_callback", phase=phase, callback=name, target=cpu)
                await fn(cpu)
            if phase == "teardown":
                # take_cpu_down(): flush pending IPIs, then leave the online mask, in one
                # step (stop_machine keeps everyone else out).
                while e.cpus[cpu].pending_irqs:
                    # Sleep so the pending handlers get the CPU (a spin here could starve
                    # them under a priority scheduler).
                    await e.sleep(m.costs.ipi_ns)
                e.set_cpu_online(cpu, False)
            done.complete()

        actor = e.spawn(cpuhp, name=f"cpuhp/{cpu}", cpu=cpu, daemon=True)
        task_of(actor).parks_on_offline = True
        await done.wait()

    async def cpu_down(self, cpu: int) -> bool:
        """Take ``cpu`` offline; False if it is not online or is the last one."""
        m = self.m
        e = m.engine
        await self.lock.down_write()
        if not e.cpu_online(cpu) or len(e.online_cpus()) == 1:
            await self.lock.up_write()
            return False
        e.emit("cpu_down_begin", target=cpu)
        await self._run_on(cpu, "teardown", self.teardown_ap)
        for a in e.actors:  # the scheduler migrates what was bound to the dead CPU
            if (
                a.bound == cpu
                and a.state is not ActorState.DONE
                and not a.interrupt
                and not task_of(a).parks_on_offline
            ):
                e.bind(a, None)
        for call in m.drain_calls_active():
            call.went_offline.add(cpu)
        for name, fn in self.dead:
            await e.point("cpuhp_callback", phase="dead", callback=name, target=cpu)
            await fn(cpu)
        self.offlined += 1
        e.emit("cpu_down_end", target=cpu)
        await self.lock.up_write()
        return True

    async def cpu_up(self, cpu: int) -> bool:
        """Bring ``cpu`` online; False if a PREPARE callback failed (rolled back)."""
        m = self.m
        e = m.engine
        await self.lock.down_write()
        if e.cpu_online(cpu):
            await self.lock.up_write()
            return False
        e.emit("cpu_up_begin", target=cpu)
        for name, fn in self.prepare:
            await e.point("cpuhp_callback", phase="prepare", callback=name, target=cpu)
            if await fn(cpu) is False:
                self.failed_up += 1
                e.emit("cpu_up_failed", target=cpu, callback=name)
                await self.lock.up_write()
                return False
        e.set_cpu_online(cpu, True)
        await self._run_on(cpu, "online", self.online)
        self.onlined += 1
        e.emit("cpu_up_end", target=cpu)
        await self.lock.up_write()
        return True

    def statistics(self) -> HotplugStatistics:
        return HotplugStatistics(self.offlined, self.onlined, self.failed_up)
