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

from collections.abc import Awaitable, Callable, Iterable

import attrs

from .._core import BadInput
from .._kernel import KernelFeatures, Machine, Protection, Zone

__all__ = ["DrainDesign", "DrainFn", "SetupFn", "install_design"]

DrainFn = Callable[[Machine, Zone | None, bool], Awaitable[None]]
SetupFn = Callable[[Machine], None]


def _no_setup(m: Machine) -> None:
    return None


def _as_eras(value: Iterable[Protection]) -> tuple[Protection, ...]:
    return tuple(value)


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

    name: str = attrs.field()
    drain_all_pages: DrainFn = attrs.field()
    eras: tuple[Protection, ...] = attrs.field(default=(Protection.IRQ,), converter=_as_eras)
    kernel: str = ""
    summary: str = ""
    commits: tuple[str, ...] = ()
    setup: SetupFn = _no_setup
    #: Machine behaviour of the design's kernel (the hotplug lock's semantics, ...).
    features: KernelFeatures = attrs.field(factory=KernelFeatures)
    #: How to find this design again (a registered name or ``package.module:attribute``):
    #: what a replay token records.  Filled in by :func:`resolve_design`.
    ref: str | None = attrs.field(default=None, eq=False)

    @name.validator
    def _check_name(self, attribute: object, value: object) -> None:
        if not isinstance(value, str) or not value.strip():
            raise BadInput(f"a design's name must be a non-empty string, got {value!r}")

    @drain_all_pages.validator
    def _check_fn(self, attribute: object, value: object) -> None:
        if not callable(value):
            raise BadInput(f"design {self.name!r}: drain_all_pages must be an async function")

    @eras.validator
    def _check_eras(self, attribute: object, value: tuple[object, ...]) -> None:
        if not value or not all(isinstance(e, Protection) for e in value):
            raise BadInput(
                f"design {self.name!r} must declare at least one protection era "
                "(Protection.IRQ, Protection.PREEMPT or Protection.SPINLOCK)"
            )

    @property
    def default_era(self) -> Protection:
        return self.eras[0]

    def supports(self, era: Protection) -> bool:
        return era in self.eras


def install_design(m: Machine, design: DrainDesign) -> None:
    """Make ``design`` the machine's drain_all_pages() (before the run starts).  A
    ``setup`` that raises is the design's bug, reported as bad input naming the design."""
    design.features.apply(m)
    try:
        design.setup(m)
    except Exception as exc:
        raise BadInput(
            f"design {design.name!r}: setup(m) raised {type(exc).__name__}: {exc}"
        ) from None
    m.drain_design = design.drain_all_pages
