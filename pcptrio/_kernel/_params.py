"""Machine parameters: CPUs, zones and their sizes, PCP sizing, protection era, costs.

All values are frozen; a scenario builds one :class:`MachineParams` and the machine is
created from it.  :func:`zone_batchsize` and :func:`pcp_high` are the v4.x defaults of
``mm/page_alloc.c`` (``zone_batchsize()``, ``pageset_set_batch()``).
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from .._core import SEC, BadInput
from ._costs import Costs
from ._gfp import Protection

__all__ = [
    "MAX_CPUS",
    "MAX_ORDER",
    "MAX_PAGES",
    "PAGE_SIZE",
    "MachineParams",
    "ZoneSpec",
    "pcp_high",
    "zone_batchsize",
]

PAGE_SIZE = 4096
#: Largest buddy order + 1 (orders 0..10, blocks of up to 4 MiB), as on x86.
MAX_ORDER = 11
#: The model runs up to this many CPUs (a step costs the same at 1024 as at 64).
MAX_CPUS = 1024
#: Pages in all zones together: 4 GiB of 4 KiB pages.  The page map keeps a few bytes per
#: page, so a run stays well under a GiB of memory; hazards need a few thousand pages.
MAX_PAGES = 1 << 20


def _rounddown_pow_of_two(n: int) -> int:
    return 1 << (n.bit_length() - 1) if n > 0 else 0


def zone_batchsize(managed_pages: int) -> int:
    """``zone_batchsize()`` of v4.x (before ``d8a759b57035`` doubled the cap in 4.19).

    About a thousandth of the zone, capped at 512 KiB, quartered, then rounded to 2^n - 1.
    A ``0`` result means "no PCP caching" (stored as high = 0, batch = 1).
    """
    batch = managed_pages // 1024
    if batch * PAGE_SIZE > 512 * 1024:
        batch = (512 * 1024) // PAGE_SIZE
    batch //= 4  # "we effectively *= 4 below"
    batch = max(batch, 1)
    return _rounddown_pow_of_two(batch + batch // 2) - 1


def pcp_high(batch: int) -> int:
    """``pageset_set_batch()``: ``high = 6 * batch``."""
    return 6 * batch


@attrs.frozen
class ZoneSpec:
    """One zone: its name, managed size in pages, and optional PCP overrides."""

    name: str
    pages: int
    high: int | None = None
    batch: int | None = None

    def sizing(self) -> tuple[int, int]:
        """``(high, batch)`` for this zone's PCPs (defaults from the v4.x formula)."""
        b = zone_batchsize(self.pages)
        if b <= 0:
            high, batch = 0, 1
        else:
            high, batch = pcp_high(b), b
        if self.batch is not None:
            batch = self.batch
        if self.high is not None:
            high = self.high
        return high, batch

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "pages": self.pages, "high": self.high, "batch": self.batch}


def _default_zones() -> tuple[ZoneSpec, ...]:
    return (ZoneSpec("Normal", 131072),)  # 512 MiB: batch 31, high 186


@attrs.frozen
class MachineParams:
    """Everything that shapes a machine.  :meth:`validate` rejects impossible values."""

    cpus: int = 4
    zones: tuple[ZoneSpec, ...] = attrs.field(factory=_default_zones)
    protection: Protection = Protection.IRQ
    costs: Costs = attrs.field(factory=Costs)
    #: Create ``mm_percpu_wq`` during boot (False: it does not exist yet, as before E7's fix).
    mm_percpu_wq: bool = True
    #: Boot only up to the initcalls (``workqueue_init``, ``init_mm_internals``): the
    #: workload runs the initcall levels it needs with ``Machine.initcall``.  False: the
    #: machine has booted completely before the workload starts.
    boot_initcalls: bool = False
    #: ``workqueue.watchdog_thresh`` (0 disables the watchdog).
    watchdog_thresh_ns: int = 30 * SEC
    #: ``kernel.watchdog_thresh`` (kernel/watchdog.c): a hard lockup after this long with IRQs
    #: off, a soft lockup after twice this long without scheduling; 0 disables both.
    lockup_thresh_ns: int = 10 * SEC
    #: ``kernel.hung_task_timeout_secs`` (kernel/hung_task.c); 0 disables the detector.
    hung_task_timeout_ns: int = 120 * SEC
    #: ``CONFIG_PCP_BATCH_SCALE_MAX`` (6.10+ chunked drains drain ``batch << this`` per hold).
    pcp_batch_scale_max: int = 5
    #: Populated percpu space (units) available to GFP_ATOMIC percpu allocations.
    percpu_populated: int = 64

    def validate(self) -> MachineParams:
        if not 1 <= self.cpus <= MAX_CPUS:
            raise BadInput(f"cpus must be between 1 and {MAX_CPUS}, got {self.cpus}")
        if not self.zones:
            raise BadInput("a machine needs at least one zone")
        names = [z.name for z in self.zones]
        if len(set(names)) != len(names):
            raise BadInput(f"zone names must be unique, got {names}")
        if sum(z.pages for z in self.zones) > MAX_PAGES:
            raise BadInput(
                f"the zones hold {sum(z.pages for z in self.zones)} pages; at most {MAX_PAGES} "
                f"({MAX_PAGES * PAGE_SIZE >> 30} GiB) in all"
            )
        for z in self.zones:
            if z.pages < 1 << (MAX_ORDER - 1):
                raise BadInput(
                    f"zone {z.name}: {z.pages} pages is too small "
                    f"(at least {1 << (MAX_ORDER - 1)} pages, one max-order block)"
                )
            high, batch = z.sizing()
            if batch < 1:
                raise BadInput(f"zone {z.name}: batch must be at least 1, got {batch}")
            if high < 0:
                raise BadInput(f"zone {z.name}: high must not be negative, got {high}")
            if high and batch > high:
                raise BadInput(
                    f"zone {z.name}: batch ({batch}) must not exceed high ({high}); "
                    "the kernel keeps batch <= high"
                )
        if self.watchdog_thresh_ns < 0:
            raise BadInput("watchdog_thresh_ns must not be negative")
        if self.lockup_thresh_ns < 0 or self.hung_task_timeout_ns < 0:
            raise BadInput("lockup_thresh_ns and hung_task_timeout_ns must not be negative")
        if self.percpu_populated < 0:
            raise BadInput("percpu_populated must not be negative")
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "cpus": self.cpus,
            "zones": [z.to_json() for z in self.zones],
            "protection": str(self.protection),
            "costs": self.costs.to_json(),
            "mm_percpu_wq": self.mm_percpu_wq,
            "boot_initcalls": self.boot_initcalls,
            "watchdog_thresh_ns": self.watchdog_thresh_ns,
            "lockup_thresh_ns": self.lockup_thresh_ns,
            "hung_task_timeout_ns": self.hung_task_timeout_ns,
            "pcp_batch_scale_max": self.pcp_batch_scale_max,
            "percpu_populated": self.percpu_populated,
        }


def min_free_pages(zone_pages: int, total_pages: int) -> int:
    """This zone's share of ``min_free_kbytes = sqrt(lowmem_kbytes * 16)`` (clamped to
    [128, 65536] KiB), in pages, as ``setup_per_zone_wmarks()`` distributes it."""
    total_kb = total_pages * PAGE_SIZE // 1024
    min_kb = min(max(math.isqrt(total_kb * 16), 128), 65536)
    return max(1, (min_kb * 1024 // PAGE_SIZE) * zone_pages // max(total_pages, 1))
