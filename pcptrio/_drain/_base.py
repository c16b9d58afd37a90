"""What a drain design is: a ``drain_all_pages()`` and the kernel era it belongs to.

A design is a :class:`DrainDesign`: its name, the kernel it models, the protection eras it
can run in (``irq`` / ``preempt`` / ``spinlock``; the default is its kernel's), and an async
``drain_all_pages(m, zone, force_all_cpus)`` written against the machine's kernel API
(:class:`~pcptrio._kernel.Machine`).  ``setup(m)`` creates the design's static state on a
machine (function-static masks, static works, mutexes) before the workload runs.

Users write their own the same way and register them (:func:`pcptrio.register_design`) or
pass ``package.module:function`` anywhere a design name is accepted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import attrs

from .._kernel import Machine, Protection, Zone

__all__ = ["DrainDesign", "DrainFn", "SetupFn", "install_design"]

DrainFn = Callable[[Machine, Zone | None, bool], Awaitable[None]]
SetupFn = Callable[[Machine], None]


def _no_setup(m: Machine) -> None:
    return None


@attrs.frozen
class DrainDesign:
    """A drain_all_pages() design.

    Example (a design that drains every online CPU remotely, spinlock era)::

        async def drain_all(m, zone, force_all_cpus):
            for cpu in m.online_cpus():
                for z in ([zone] if zone else m.zones):
                    await m.drain_pages_zone(cpu, z)

        DrainDesign("drain-everything", drain_all, eras=(Protection.SPINLOCK,),
                    kernel="mine", summary="remote drain of every CPU, no mask")
    """

    name: str
    drain_all_pages: DrainFn
    eras: tuple[Protection, ...] = (Protection.IRQ,)
    kernel: str = ""
    summary: str = ""
    commits: tuple[str, ...] = ()
    setup: SetupFn = _no_setup
    #: How to find this design again (a registered name or ``package.module:attribute``):
    #: what a replay token records.  Filled in by :func:`resolve_design`.
    ref: str | None = attrs.field(default=None, eq=False)

    @property
    def default_era(self) -> Protection:
        return self.eras[0]

    def supports(self, era: Protection) -> bool:
        return era in self.eras


def install_design(m: Machine, design: DrainDesign) -> None:
    """Make ``design`` the machine's drain_all_pages() (before the run starts)."""
    design.setup(m)
    m.drain_design = design.drain_all_pages
