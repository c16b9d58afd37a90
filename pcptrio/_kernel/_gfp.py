"""Kernel constants the model shares: GFP flags, migratetypes, task flags.

Values are the model's own small integers; only their names and meanings follow the kernel.
"""

from __future__ import annotations

import enum

__all__ = [
    "GFP_ATOMIC",
    "GFP_KERNEL",
    "GFP_NOWAIT",
    "MIGRATE_MOVABLE",
    "MIGRATE_PCPTYPES",
    "MIGRATE_RECLAIMABLE",
    "MIGRATE_UNMOVABLE",
    "PF_KTHREAD",
    "PF_MEMALLOC",
    "PF_WQ_WORKER",
    "Gfp",
    "Protection",
    "gfp_name",
]


class Gfp:
    """The GFP bits that change the allocator's behaviour in this model (plain ints: an
    ``enum.IntFlag`` ``&`` costs ~0.6 µs, which the allocator's hot path cannot afford)."""

    DIRECT_RECLAIM = 0x1  # __GFP_DIRECT_RECLAIM: may sleep and reclaim
    HIGH = 0x2  # __GFP_HIGH: may dip below the min watermark (ALLOC_HARDER)
    NOWARN = 0x4
    NOFAIL = 0x8


GFP_KERNEL = Gfp.DIRECT_RECLAIM
GFP_ATOMIC = Gfp.HIGH
GFP_NOWAIT = 0


def gfp_name(gfp: int) -> str:
    if gfp == GFP_KERNEL:
        return "GFP_KERNEL"
    if gfp == GFP_ATOMIC:
        return "GFP_ATOMIC"
    if gfp == GFP_NOWAIT:
        return "GFP_NOWAIT"
    return f"gfp={int(gfp):#x}"


MIGRATE_UNMOVABLE = 0
MIGRATE_MOVABLE = 1
MIGRATE_RECLAIMABLE = 2
MIGRATE_PCPTYPES = 3

PF_MEMALLOC = 0x0000_0800
PF_WQ_WORKER = 0x0000_0020
PF_KTHREAD = 0x0020_0000


class Protection(enum.StrEnum):
    """How a CPU's PCP lists are protected.

    * ``irq`` — local IRQs disabled around PCP access (≤ 4.10, 4.11 final … 5.13).
    * ``preempt`` — preemption disabled only (4.11-rc, ``374ad05ab64d``): an IPI arriving in
      the middle of a list update can walk the same list.
    * ``spinlock`` — a per-PCP ``pcp->lock`` (≥ 6.0): fast paths trylock it and fall back to
      the buddy; any CPU holding the lock may drain the PCP remotely.
    """

    IRQ = "irq"
    PREEMPT = "preempt"
    SPINLOCK = "spinlock"
