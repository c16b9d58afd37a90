"""Inter-processor interrupts: ``on_each_cpu_mask`` / ``smp_call_function_many``.

::

    sender (cpuS)                          target cpuT (IRQs enabled at some point)
    ─────────────                          ────────────────────────────────────────
    preempt_disable()
    for each online target != cpuS:
        queue csd, raise IPI ───────────▶  handler: runs fn(info) in hardirq context,
    spin until every csd is unlocked ◀────          to completion, then csd unlock
    if cpuS in mask: fn(info) with IRQs off
    preempt_enable()

Offline CPUs in the mask are skipped (``smp_call_function_many`` ANDs with the online mask),
and the send loop is one atomic step, as it is under disabled preemption against
``stop_machine`` in the kernel.  The handler spends the IPI cost first (delivery and entry).
Drain IPIs (sent on behalf of a drain_all_pages() call) are counted as *pending* from the
send until the handler returns, for the ``disturbance-bound`` oracle.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from .._core import Actor, ActorState, Waitable
from ._task import task_of

if TYPE_CHECKING:
    from ._machine import Machine

__all__ = ["IpiStatistics", "SharedCpuMask", "on_each_cpu_mask"]


@attrs.frozen
class IpiStatistics:
    sent: int
    handled: int
    calls: int


@runtime_checkable
class SharedCpuMask(Protocol):
    """A ``cpumask_t`` that others may write while the call runs (a design's static
    ``cpus_with_pcps``): read when the kernel reads it, not copied once."""

    def cpus(self) -> list[int]: ...

    def test(self, cpu: int) -> bool: ...


class _CsdWait:
    """The sender's spin on the call-single-data locks of its targets."""

    def __init__(self, sender: str) -> None:
        self.sender = sender
        self.handlers: list[Actor] = []
        self.remaining = 0
        self.waiter: Actor | None = None

    @property
    def wait_name(self) -> str:
        return f"csd_lock_wait of {self.sender} ({self.remaining} IPI(s) outstanding)"

    def wait_holders(self) -> Sequence[Actor | Waitable]:
        return [h for h in self.handlers if h.state is not ActorState.DONE]


async def on_each_cpu_mask(
    m: Machine,
    mask: Iterable[int] | SharedCpuMask,
    fn: Callable[[Any], Awaitable[None]],
    info: Any,
    wait: bool = True,
) -> None:
    """Run ``fn(info)`` on every online CPU of ``mask`` (this one included, with IRQs off).

    A :class:`SharedCpuMask` is read as ``kernel/smp.c`` reads it: the targets when the IPIs
    are sent (``cpumask_and(cfd->cpumask, mask, cpu_online_mask)``), and the local call after
    the wait (``if (cpumask_test_cpu(cpu, mask))`` in ``on_each_cpu_mask``), so a bit another
    caller changed meanwhile decides whether this CPU drains itself."""
    e = m.engine
    me = e.current
    call = task_of(me).drain_call
    e.preempt_disable()
    this = e.smp_processor_id()
    if me.irq_disabled and e.cpu_online(this):
        # kernel/smp.c, smp_call_function_many(): "Can deadlock when called with interrupts
        # disabled" (two CPUs each spinning on the other's IPI with IRQs off).
        m.sensors.warn(
            "kernel/smp.c: smp_call_function_many: "
            "WARN_ON_ONCE(cpu_online(this_cpu) && irqs_disabled())"
        )
    cpus = mask.cpus() if isinstance(mask, SharedCpuMask) else sorted(set(mask))
    targets = [c for c in cpus if c != this and e.cpu_online(c)]
    csd = _CsdWait(me.name)
    m.ipi_calls += 1
    await e.point("smp_call_function_many", targets=targets)
    for cpu in targets:
        csd.remaining += 1
        m.ipi_sent += 1
        if call is not None:
            call.ipis += 1
            m.drain_ipis_pending += 1
            m.disturbance_changed()
        h = e.raise_irq(cpu, _handler, m, csd, fn, info, call, name=f"ipi:{me.name}->cpu{cpu}")
        task_of(h).drain_call = call
        csd.handlers.append(h)
    if wait and csd.remaining:
        csd.waiter = me
        await e.block(csd, "csd_lock_wait", holds_cpu=True)
    # on_each_cpu_mask(): the local call comes after the remote ones, on the mask as it is now.
    if mask.test(this) if isinstance(mask, SharedCpuMask) else this in cpus:
        flags = e.local_irq_save()
        await fn(info)
        e.local_irq_restore(flags)
    e.preempt_enable()


async def _handler(
    m: Machine,
    csd: _CsdWait,
    fn: Callable[[Any], Awaitable[None]],
    info: Any,
    call: Any,
) -> None:
    e = m.engine
    await e.spend(m.costs.ipi_ns)
    await e.point("ipi_handler")
    await fn(info)
    m.ipi_handled += 1
    if call is not None:
        m.drain_ipis_pending -= 1
        m.disturbance_changed()
    csd.remaining -= 1
    if csd.remaining == 0 and csd.waiter is not None:
        e.wake(csd.waiter)
