"""Kernel features a design declares: machine behaviour that differs between the kernels the
designs come from, chosen by the design and read by the machine (which never looks at a
design's name).  The protection era is one such choice and has its own field
(``DrainDesign.eras``); these are the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from .._core import BadInput

if TYPE_CHECKING:
    from ._machine import Machine

__all__ = [
    "HOTPLUG_LOCKS",
    "KERNEL_410",
    "MM_PERCPU_WQ_INITS",
    "PCP_LOCKS",
    "WQ_UNBINDS",
    "KernelFeatures",
]

#: ``cpu_hotplug_lock`` semantics: ``mutex-refcount`` is 4.10/4.11's ``get_online_cpus()``
#: (``mutex_lock(&cpu_hotplug.lock); refcount++; mutex_unlock``): a writer waiting in
#: ``cpu_hotplug_begin()`` drops the mutex around ``schedule()``, so new readers are not
#: held off by it (only an active writer blocks them).  ``percpu-rwsem`` is 4.13+'s
#: (fc8dffd379ca, "cpu/hotplug: Convert hotplug locking to percpu rwsem"): a waiting
#: writer blocks new readers.
HOTPLUG_LOCKS = ("mutex-refcount", "percpu-rwsem")
#: When ``mm_percpu_wq`` is created during boot: in ``init_mm_internals()``, right after
#: ``workqueue_init()`` in ``kernel_init_freeable()`` (v4.11 final, "mm: move mm_percpu_wq
#: initialization earlier"), or in ``module_init(setup_vmstat)``, after every earlier initcall
#: level (E7 as it first stood in linux-next, March 2017).
MM_PERCPU_WQ_INITS = ("init_mm_internals", "module_init")
#: How the spinlock era takes ``pcp->lock``: ``irqsave`` is v6.0's
#: ``pcp_spin_trylock_irqsave`` / ``spin_lock_irqsave`` (01b44456a7aa); ``irqs-on`` is v6.2+'s
#: ``pcp_spin_trylock`` / ``spin_lock`` with IRQs enabled (5749077415994, "mm/page_alloc:
#: leave IRQs enabled for per-cpu page allocations"): an interrupt can then arrive while its
#: CPU's task holds the lock, and its own allocation's trylock fails and falls back to the
#: buddy (``zone->lock`` is taken IRQ-safe for that).
PCP_LOCKS = ("irqsave", "irqs-on")
#: How ``workqueue_offline_cpu()`` unbinds the dying CPU's workers: ``highpri-work`` is the
#: v4.10 form ("unbinding per-cpu workers should happen on the local CPU"):
#: ``INIT_WORK_ONSTACK(&unbind_work, wq_unbind_fn); queue_work_on(cpu, system_highpri_wq,
#: &unbind_work); ... flush_work(&unbind_work)``, so ``cpu_down``, holding the hotplug lock,
#: waits for a worker of that CPU's highpri pool (and for kthreadd, if the pool has to fork
#: one).  ``direct`` calls ``unbind_workers(cpu)`` in the hotplug thread on the dying CPU, as
#: v4.19 does (Lai Jiangshan's "workqueue/hotplug: simplify workqueue_offline_cpu()", v4.16).
WQ_UNBINDS = ("highpri-work", "direct")


@attrs.frozen
class KernelFeatures:
    """What the design's kernel had.  A user design that declares nothing gets a current
    kernel's behaviour."""

    hotplug_lock: str = attrs.field(default="percpu-rwsem")
    #: When the machine creates ``mm_percpu_wq`` in a boot that runs its initcalls.
    mm_percpu_wq_init: str = attrs.field(default="init_mm_internals")
    #: ``mm_percpu_wq`` is ``WQ_FREEZABLE`` (E7 until E8, "mm: make mm_percpu_wq non
    #: freezable"): suspend freezes it, and its works wait for the thaw.
    mm_percpu_wq_freezable: bool = False
    #: ``free_pcppages_bulk()`` clamps ``count`` to ``pcp->count`` (88e8ac11d2ea, v5.9).
    pcp_count_clamp: bool = True
    #: How the spinlock era takes ``pcp->lock`` (``PCP_LOCKS``).
    pcp_lock: str = attrs.field(default="irqs-on")
    #: How workqueue offline unbinds the dying CPU's workers (``WQ_UNBINDS``).
    wq_unbind: str = attrs.field(default="direct")

    @wq_unbind.validator
    def _check_wq_unbind(self, attribute: object, value: object) -> None:
        if value not in WQ_UNBINDS:
            raise BadInput(f"unknown wq_unbind feature {value!r} (known: {', '.join(WQ_UNBINDS)})")

    @pcp_lock.validator
    def _check_pcp_lock(self, attribute: object, value: object) -> None:
        if value not in PCP_LOCKS:
            raise BadInput(f"unknown pcp_lock feature {value!r} (known: {', '.join(PCP_LOCKS)})")

    @mm_percpu_wq_init.validator
    def _check_mm_percpu_wq_init(self, attribute: object, value: object) -> None:
        if value not in MM_PERCPU_WQ_INITS:
            raise BadInput(
                f"unknown mm_percpu_wq_init feature {value!r} "
                f"(known: {', '.join(MM_PERCPU_WQ_INITS)})"
            )

    @hotplug_lock.validator
    def _check_hotplug_lock(self, attribute: object, value: object) -> None:
        if value not in HOTPLUG_LOCKS:
            raise BadInput(
                f"unknown hotplug_lock feature {value!r} (known: {', '.join(HOTPLUG_LOCKS)})"
            )

    def apply(self, m: Machine) -> None:
        """Set the machine up for these features (before the run starts)."""
        m.features = self
        m.hotplug.lock.writer_blocks_readers = self.hotplug_lock == "percpu-rwsem"

    def to_json(self) -> dict[str, str | bool]:
        return {
            "hotplug_lock": self.hotplug_lock,
            "mm_percpu_wq_init": self.mm_percpu_wq_init,
            "mm_percpu_wq_freezable": self.mm_percpu_wq_freezable,
            "pcp_count_clamp": self.pcp_count_clamp,
            "pcp_lock": self.pcp_lock,
            "wq_unbind": self.wq_unbind,
        }


#: The machine of the 4.10/4.11 designs: ``get_online_cpus()`` as mutex + refcount, no count
#: clamp in ``free_pcppages_bulk()`` (before v5.9), the unbind as a ``system_highpri_wq`` work.
KERNEL_410 = KernelFeatures(
    hotplug_lock="mutex-refcount", pcp_count_clamp=False, wq_unbind="highpri-work"
)
