"""Drain designs written the way a user writes them, for ``resolve_design("module:attr")``.

tests/test_designs.py puts this directory on ``sys.path`` and names them as
``user_designs:<attribute>``; none of them is registered.
"""

from __future__ import annotations

from pcptrio._drain import DrainDesign
from pcptrio._kernel import Machine, Protection, Zone


async def drain_all_pages(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    """IPI every online CPU (no mask, no mutex); each drains its own PCPs in IRQ context."""

    async def drain_local(z: Zone | None) -> None:
        await m.drain_local_pages(z)

    await m.on_each_cpu_mask(m.online_cpus(), drain_local, zone, True)


async def drain_remote_everything(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    """Drain every online CPU's PCPs from the caller under each ``pcp->lock``."""
    for cpu in m.online_cpus():
        for z in [zone] if zone is not None else m.zones:
            await m.drain_pages_zone(cpu, z)


# A bare function may say which protection eras it supports.
drain_remote_everything.eras = ("spinlock",)  # type: ignore[attr-defined]

USER_REMOTE = DrainDesign(
    "user-remote",
    drain_remote_everything,
    eras=(Protection.SPINLOCK,),
    kernel="tests",
    summary="remote drain of every online CPU under pcp->lock, no mask, no mutex",
)


def make_design() -> DrainDesign:
    """A factory: ``resolve_design`` calls it and takes the DrainDesign it returns."""
    return USER_REMOTE


#: Neither a design, nor a factory, nor a drain function.
NOT_A_DESIGN = 42


# Broken the way a user's first draft breaks: each must make a campaign inconclusive (E),
# never a "." (tests/test_verdicts.py).


async def raises(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    """Raises on every call."""
    raise RuntimeError("my design has a bug")


async def wrong_signature(m: Machine) -> None:
    """Takes one argument where the machine passes three."""


async def sleeps_on_trio(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    """Awaits a raw trio primitive the engine cannot see."""
    import trio

    await trio.sleep(0.001)


def not_async(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    """Written without ``async``."""
