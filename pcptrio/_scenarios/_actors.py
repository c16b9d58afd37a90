"""The building blocks of a scenario: kinds of workload actors.

A scenario is phases of actors; each actor entry has a ``kind`` and arguments.  The kinds
set the stage — fill PCPs, churn, call drain_all_pages(), take a CPU down, exhaust memory —
and never judge: oracles do that.

=============== ==========================================================================
kind            what it does (arguments, defaults)
=============== ==========================================================================
fill            on each CPU of ``cpus``: allocate ``pages`` pages of ``zone`` and free
                them again, leaving them on that CPU's PCP (cpus="all", pages=16)
churn           on each CPU of ``cpus``: ``ops`` random order-0 alloc/free operations,
                holding at most ``hold`` pages, ``think_ns`` busy time between operations;
                frees everything at the end (cpus="all", ops=30, hold=12, think_ns=1000)
drain           on ``cpu``: wait ``delay_ns``, then ``times`` calls of
                ``drain_all_pages(zone, force_all_cpus=force)`` ``gap_ns`` apart (cpu=0,
                times=1, zone=None, force=false, delay_ns=0, gap_ns=2000)
drainers        ``count`` actors ``drainer#i`` on CPU i mod N, each like ``drain``
hotplug         on ``cpu``: wait ``delay_ns``, then each op of ``ops`` ("down:<cpu>" /
                "up:<cpu>", cpu "last" allowed) ``gap_ns`` apart (cpu=0)
pagecache       on ``cpu``: ``pages`` pages into a page cache that reclaim can shrink
exhaust         on ``cpu``: GFP_ATOMIC allocations (order 9, 4, then 0) until they fail,
                keeping ``keep`` pages free if asked (cpu=0, keep=0)
percpu-alloc    on ``cpu``: ``alloc_percpu_gfp(size, gfp)`` ``times`` times (gfp "kernel" or
                "atomic")
kworker-drain   queue on ``cpu``'s system_wq a work that calls drain_all_pages(zone, force)
                (memory hot-remove running in a kworker) and wait for it
hog-work        queue on ``cpu``'s system_wq a work that stays runnable for ``seconds`` of
                virtual time (busy in ``slice_ms`` slices, never sleeping); do not wait
alloc           on each CPU of ``cpus``: ``count`` GFP_KERNEL order-0 allocations
                (direct reclaim if needed), ``think_ns`` apart, pages kept
free-burst      on each CPU of ``cpus``: take ``pages`` pages as order-9 blocks and free them
                page by page, so the PCP grows up to ``high`` (cpus="all", pages=4096)
irq-alloc       on each CPU of ``cpus``: ``times`` interrupts ``gap_ns`` apart, each allocating
                ``pages`` GFP_ATOMIC order-0 pages and freeing them (network receive in
                interrupt context) (cpus="all", times=4, pages=4, gap_ns=2000)
initcall        ``do_initcalls()`` up to ``level`` (a machine with ``boot_initcalls``)
suspend         freeze the freezable workqueues (``freeze_workqueues_begin()``)
resume          thaw them (``thaw_workqueues()``)
wq-warmup       a no-op work on every online CPU's system_wq (and system_highpri_wq with
                ``highpri = true``), flushed: each pool has created its spare kworker, as on
                a machine that has been up for a while; with ``concurrency`` N, N works
                per pool that sleep at once, so each pool ends with N + 1 kworkers
sleep           wait ``ns`` of virtual time
=============== ==========================================================================

CPU selectors: an int, a list of ints, ``"all"``, ``"others"`` (all but 0), ``"first"``,
``"last"``, ``"not-last"``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .._core import MSEC, SEC, BadInput
from .._kernel import (
    GFP_ATOMIC,
    GFP_KERNEL,
    INITCALL_LEVELS,
    Machine,
    PageCache,
    WorkStruct,
    Zone,
)

__all__ = ["ACTOR_KINDS", "MAX_ACTORS", "ActorSpec", "check_actor", "run_actor", "select_cpus"]

ActorSpec = dict[str, Any]


def select_cpus(sel: Any, n: int, where: str) -> list[int]:
    """Resolve a CPU selector against an ``n``-CPU machine."""
    if isinstance(sel, bool):
        raise BadInput(f"{where}: expected a CPU selector, got {sel!r}")
    if isinstance(sel, int):
        cpus = [sel]
    elif isinstance(sel, list):
        cpus = []
        for x in sel:
            cpus += select_cpus(x, n, where)
    elif sel == "all":
        cpus = list(range(n))
    elif sel == "others":
        cpus = list(range(1, n))
    elif sel == "first":
        cpus = [0]
    elif sel == "last":
        cpus = [n - 1]
    elif sel == "not-last":
        cpus = list(range(n - 1))
    else:
        raise BadInput(
            f"{where}: unknown CPU selector {sel!r} "
            "(use an int, a list, 'all', 'others', 'first', 'last' or 'not-last')"
        )
    for c in cpus:
        if not 0 <= c < n:
            raise BadInput(f"{where}: CPU {c} does not exist on a {n}-CPU machine")
    return cpus


def _zone(m: Machine, name: Any, where: str) -> Zone | None:
    if name is None:
        return None
    try:
        return m.zone(str(name))
    except KeyError:
        raise BadInput(
            f"{where}: no zone {name!r} (zones: {', '.join(z.name for z in m.zones)})"
        ) from None


async def _spread(
    m: Machine, cpus: list[int], fn: Callable[[int], Awaitable[None]], name: str
) -> None:
    async with m.engine.open_nursery() as n:
        for c in cpus:
            n.start_soon(fn, c, name=f"cpu{c}/{name}", cpu=c)


# ------------------------------------------------------------------------- kinds


async def _fill(m: Machine, a: ActorSpec, where: str) -> None:
    zone = _zone(m, a.get("zone"), where)
    pages = int(a.get("pages", 16))

    async def one(cpu: int) -> None:
        held = []
        for _ in range(pages):
            pfn = await m.alloc_pages(GFP_KERNEL, zone=zone)
            if pfn is not None:
                held.append(pfn)
        for pfn in reversed(held):
            await m.free_pages(pfn)

    await _spread(m, select_cpus(a.get("cpus", "all"), m.nr_cpus, where), one, "fill")


async def _churn(m: Machine, a: ActorSpec, where: str) -> None:
    zone = _zone(m, a.get("zone"), where)
    ops = int(a.get("ops", 30))
    hold = int(a.get("hold", 12))
    think = int(a.get("think_ns", 1000))
    e = m.engine

    async def one(cpu: int) -> None:
        held: list[int] = []
        for _ in range(ops):
            if held and (len(held) >= hold or e.chance("churn:free", 0.5)):
                await m.free_pages(held.pop())
            else:
                pfn = await m.alloc_pages(GFP_KERNEL, zone=zone)
                if pfn is not None:
                    held.append(pfn)
            await e.spend(think, local=True)  # think time: touches nothing shared
        while held:
            await m.free_pages(held.pop())

    await _spread(m, select_cpus(a.get("cpus", "all"), m.nr_cpus, where), one, "churn")


async def _drain_loop(m: Machine, a: ActorSpec, where: str) -> None:
    zone = _zone(m, a.get("zone"), where)
    force = bool(a.get("force", False))
    e = m.engine
    delay = int(a.get("delay_ns", 0))
    if delay:
        await e.sleep(delay)
    for i in range(int(a.get("times", 1))):
        if i:
            await e.sleep(int(a.get("gap_ns", 2000)))
        await m.drain_all_pages(zone, force_all_cpus=force)


async def _drain(m: Machine, a: ActorSpec, where: str) -> None:
    cpu = select_cpus(a.get("cpu", 0), m.nr_cpus, where)[0]
    async with m.engine.open_nursery() as n:
        n.start_soon(_drain_loop, m, a, where, name=str(a.get("name", "drainer")), cpu=cpu)


async def _drainers(m: Machine, a: ActorSpec, where: str) -> None:
    count = int(a.get("count", 4))
    async with m.engine.open_nursery() as n:
        for i in range(count):
            n.start_soon(_drain_loop, m, a, where, name=f"drainer#{i + 1}", cpu=i % m.nr_cpus)


async def _hotplug(m: Machine, a: ActorSpec, where: str) -> None:
    e = m.engine
    ops = a.get("ops", [])
    if not isinstance(ops, list):
        raise BadInput(f"{where}.ops: expected a list like ['down:last', 'up:last']")
    plan: list[tuple[str, int]] = []
    for op in ops:
        verb, _, target = str(op).partition(":")
        if verb not in ("down", "up"):
            raise BadInput(f"{where}.ops: {op!r} is not 'down:<cpu>' or 'up:<cpu>'")
        tsel: Any = int(target) if target.isdigit() else target
        plan.append((verb, select_cpus(tsel, m.nr_cpus, f"{where}.ops")[0]))

    async def hp() -> None:
        if a.get("delay_ns"):
            await e.sleep(int(a["delay_ns"]))
        for i, (verb, cpu) in enumerate(plan):
            if i:
                await e.sleep(int(a.get("gap_ns", 5000)))
            if verb == "down":
                await m.cpu_down(cpu)
            else:
                await m.cpu_up(cpu)

    cpu = select_cpus(a.get("cpu", 0), m.nr_cpus, where)[0]
    async with e.open_nursery() as n:
        n.start_soon(hp, name="hotplug", cpu=cpu)


def page_cache(m: Machine) -> PageCache:
    for s in m.shrinkers:
        if isinstance(s, PageCache):
            return s
    return m.add_page_cache()


async def _pagecache(m: Machine, a: ActorSpec, where: str) -> None:
    cache = page_cache(m)
    zone = _zone(m, a.get("zone"), where)

    async def one(cpu: int) -> None:
        for _ in range(int(a.get("pages", 64))):
            pfn = await m.alloc_pages(GFP_KERNEL, zone=zone, owner="pagecache")
            if pfn is not None:
                cache.add(m, pfn)

    await _spread(m, select_cpus(a.get("cpu", 0), m.nr_cpus, where), one, "pagecache")


async def _exhaust(m: Machine, a: ActorSpec, where: str) -> None:
    keep = int(a.get("keep", 0))

    async def one(cpu: int) -> None:
        for order in (9, 4, 0):
            while True:
                if keep and sum(z.nr_free for z in m.zones) <= keep + (1 << order):
                    break
                if await m.alloc_pages(GFP_ATOMIC, order=order, owner="hog") is None:
                    break

    await _spread(m, select_cpus(a.get("cpu", 0), m.nr_cpus, where), one, "exhaust")


async def _percpu_alloc(m: Machine, a: ActorSpec, where: str) -> None:
    gfp_name = str(a.get("gfp", "kernel"))
    if gfp_name not in ("kernel", "atomic"):
        raise BadInput(f"{where}.gfp: expected 'kernel' or 'atomic', got {gfp_name!r}")
    gfp = GFP_KERNEL if gfp_name == "kernel" else GFP_ATOMIC

    async def one(cpu: int) -> None:
        for _ in range(int(a.get("times", 1))):
            await m.alloc_percpu_gfp(int(a.get("size", 1)), gfp)

    await _spread(m, select_cpus(a.get("cpu", 0), m.nr_cpus, where), one, "percpu")


async def _kworker_drain(m: Machine, a: ActorSpec, where: str) -> None:
    zone = _zone(m, a.get("zone"), where)
    force = bool(a.get("force", False))
    cpu = select_cpus(a.get("cpu", 0), m.nr_cpus, where)[0]

    async def offline_pages_work(work: WorkStruct) -> None:
        await m.drain_all_pages(zone, force_all_cpus=force)

    w = WorkStruct(offline_pages_work, "acpi_hotplug_work_fn", "memory-hot-remove")
    await m.queue_work_on(cpu, m.system_wq, w)
    await m.flush_work(w)


async def _hog_work(m: Machine, a: ActorSpec, where: str) -> None:
    e = m.engine
    total = int(float(a.get("seconds", 60)) * SEC)
    slice_ns = int(float(a.get("slice_ms", 10)) * MSEC)
    cpu = select_cpus(a.get("cpu", "last"), m.nr_cpus, where)[0]

    async def hog(work: WorkStruct) -> None:
        m.stimulus_begin("hog")
        spent = 0
        while spent < total:
            # Busy: still "running" for concurrency management, and CPU-local (it touches
            # nothing shared, so it runs ahead while nothing else is due).
            await e.spend(slice_ns, local=True)
            spent += slice_ns
            # cond_resched(): kernel/sched/core.c __cond_resched() schedules only
            # "if (should_resched(0))", i.e. when something waits for this CPU.
            await e.preempt_point("cond_resched")
        m.stimulus_end("hog")

    await m.queue_work_on(cpu, m.system_wq, WorkStruct(hog, "hog_work_fn", "hog"))


async def _alloc(m: Machine, a: ActorSpec, where: str) -> None:
    zone = _zone(m, a.get("zone"), where)
    e = m.engine

    async def one(cpu: int) -> None:
        for _ in range(int(a.get("count", 8))):
            await m.alloc_pages(GFP_KERNEL, zone=zone)
            await e.spend(int(a.get("think_ns", 1000)), local=True)  # think time

    await _spread(m, select_cpus(a.get("cpus", "all"), m.nr_cpus, where), one, "alloc")


async def _free_burst(m: Machine, a: ActorSpec, where: str) -> None:
    """A task that held a large buffer frees it page by page (``munmap``, an exiting
    process): the pages come from order-9 blocks and go back as order-0 frees through the
    PCP, which grows up to ``high`` (a 5.14+ ``high`` lets it hold megabytes)."""
    zone = _zone(m, a.get("zone"), where)
    pages = int(a.get("pages", 4096))

    async def one(cpu: int) -> None:
        blocks: list[int] = []
        while len(blocks) * 512 < pages:
            head = await m.alloc_pages(GFP_KERNEL, order=9, zone=zone)
            if head is None:
                break
            blocks.append(head)
        left = pages
        for head in blocks:  # split_page(): each page of the block is freed on its own
            for pfn in range(head, head + min(512, left)):
                await m.free_pages(pfn)
            left -= 512

    await _spread(m, select_cpus(a.get("cpus", "all"), m.nr_cpus, where), one, "free-burst")


async def _irq_alloc(m: Machine, a: ActorSpec, where: str) -> None:
    """Allocations and frees from interrupt context (a NIC's receive path refilling its
    ring).  Which path they take is the kernel's: the E4 era's ``in_interrupt()`` bypass of the
    PCP, 6.0's IRQ-safe ``pcp->lock``, 6.2+'s trylock with a buddy fallback.

    Simplified: the handler runs as a hardirq (IRQs off until it returns), where the kernel
    would do this work in ``NET_RX`` softirq with IRQs enabled.  Both are ``in_interrupt()``
    and both find their CPU's ``pcp->lock`` as the interrupted task left it, which is what
    decides the path; only nesting another interrupt inside the handler is not modelled."""
    zone = _zone(m, a.get("zone"), where)
    pages = int(a.get("pages", 4))
    times = int(a.get("times", 4))
    gap = int(a.get("gap_ns", 2000))
    e = m.engine

    async def handler() -> None:
        held = []
        for _ in range(pages):
            pfn = await m.alloc_pages(GFP_ATOMIC, zone=zone)
            if pfn is not None:
                held.append(pfn)
        for pfn in held:
            await m.free_pages(pfn)

    async def one(cpu: int) -> None:
        for i in range(times):
            if i:
                await e.sleep(gap)
            e.raise_irq(cpu, handler, name=f"irq:cpu{cpu}/rx")

    await _spread(m, select_cpus(a.get("cpus", "all"), m.nr_cpus, where), one, "irq-alloc")


async def _initcall(m: Machine, a: ActorSpec, where: str) -> None:
    """``do_initcalls()`` up to a level, in a machine that boots with its initcalls
    (``machine.boot_initcalls``)."""
    level = str(a.get("level", "late"))
    if not m.params.boot_initcalls:
        raise BadInput(f"{where}: an initcall actor needs machine.boot_initcalls = true")
    try:
        m.initcall(level)
    except ValueError as exc:
        raise BadInput(f"{where}.level: {exc}") from None
    await m.engine.point("initcall_done", level=level)


async def _suspend(m: Machine, a: ActorSpec, where: str) -> None:
    """``suspend_prepare`` … ``freeze_processes`` → ``freeze_workqueues_begin()``: freezable
    workqueues run nothing new until ``resume`` thaws them (``thaw_workqueues()``)."""
    m.stimulus_begin("suspend")
    m.wq.freeze()
    await m.engine.point("suspend")


async def _resume(m: Machine, a: ActorSpec, where: str) -> None:
    """The end of the resume path: ``thaw_workqueues()`` (after the devices resumed)."""
    m.wq.thaw()
    m.stimulus_end("suspend")
    await m.engine.point("resume")


async def _noop(work: WorkStruct) -> None:
    return None


async def _warmup_sleep(work: WorkStruct) -> None:
    m, ns = work.data
    await m.engine.sleep(ns)


async def _wq_warmup(m: Machine, a: ActorSpec, where: str) -> None:
    """A machine that has been up has spare kworkers: run work on every CPU's normal (and
    highpri) pool so each has created its spare workers before the scenario proper.

    With ``concurrency`` N > 1, N works per pool sleep at the same time, so each pool forks
    a worker per work and ends with N + 1 (a worker never starts a work while it would
    leave no idle one: ``may_start_working()``).  The kernel keeps them: idle workers are
    reaped only beyond two idle ones, after ``IDLE_WORKER_TIMEOUT`` (300 s).  The works sleep
    long enough for kthreadd to fork every pool's workers one after another, and the warmup
    ends when no pool is still forking one."""
    n = int(a.get("concurrency", 1))
    # kthreadd forks one worker at a time: every pool of one workqueue forks n of them.
    nap = n * m.nr_cpus * m.costs.create_worker_ns + MSEC
    wqs = [m.system_wq]
    if a.get("highpri", False) and m.wq.system_highpri_wq is not None:
        wqs.append(m.wq.system_highpri_wq)
    for wq in wqs:
        if n == 1:
            works = [(c, WorkStruct(_noop, "warmup_fn", f"warmup[{c}]")) for c in m.online_cpus()]
        else:
            works = [
                (c, WorkStruct(_warmup_sleep, "warmup_fn", f"warmup[{c}.{i}]", (m, nap)))
                for c in m.online_cpus()
                for i in range(n)
            ]
        for c, w in works:
            await m.queue_work_on(c, wq, w)
        for _, w in works:
            await m.flush_work(w)
    if n > 1:
        while any(pool.manager is not None for pool in m.wq.all_pools()):
            await m.engine.sleep(MSEC)


async def _sleep(m: Machine, a: ActorSpec, where: str) -> None:
    await m.engine.sleep(int(a.get("ns", 1000)))


ActorFn = Callable[[Machine, ActorSpec, str], Awaitable[None]]

#: kind -> (implementation, allowed argument names)
ACTOR_KINDS: dict[str, tuple[ActorFn, frozenset[str]]] = {
    "fill": (_fill, frozenset({"cpus", "pages", "zone"})),
    "churn": (_churn, frozenset({"cpus", "ops", "hold", "think_ns", "zone"})),
    "drain": (_drain, frozenset({"cpu", "times", "zone", "force", "delay_ns", "gap_ns", "name"})),
    "drainers": (_drainers, frozenset({"count", "times", "zone", "force", "delay_ns", "gap_ns"})),
    "hotplug": (_hotplug, frozenset({"cpu", "ops", "delay_ns", "gap_ns"})),
    "pagecache": (_pagecache, frozenset({"cpu", "pages", "zone"})),
    "exhaust": (_exhaust, frozenset({"cpu", "keep"})),
    "percpu-alloc": (_percpu_alloc, frozenset({"cpu", "size", "gfp", "times"})),
    "kworker-drain": (_kworker_drain, frozenset({"cpu", "zone", "force"})),
    "hog-work": (_hog_work, frozenset({"cpu", "seconds", "slice_ms"})),
    "alloc": (_alloc, frozenset({"cpus", "count", "think_ns", "zone"})),
    "free-burst": (_free_burst, frozenset({"cpus", "pages", "zone"})),
    "irq-alloc": (_irq_alloc, frozenset({"cpus", "times", "pages", "gap_ns", "zone"})),
    "initcall": (_initcall, frozenset({"level"})),
    "suspend": (_suspend, frozenset()),
    "resume": (_resume, frozenset()),
    "sleep": (_sleep, frozenset({"ns"})),
    "wq-warmup": (_wq_warmup, frozenset({"highpri", "concurrency"})),
}


# ------------------------------------------------------------------------- argument checks

#: Most actors a ``drainers`` entry may spawn (a spawn is not a step, so no step budget
#: would stop a runaway count).
MAX_ACTORS = 4096
_BIG = 10_000_000
_NS = 10**13  # virtual-time arguments: a little under three hours
_SELECTOR_WORDS = ("all", "others", "first", "last", "not-last")


def _bad(where: str, k: str, what: str, v: Any) -> BadInput:
    return BadInput(f"{where}.{k}: expected {what}, got {v!r}")


def _count(hi: int) -> Callable[[str, str, Any], None]:
    def check(where: str, k: str, v: Any) -> None:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= hi:
            raise _bad(where, k, f"an integer within [0, {hi}]", v)

    return check


def _number(hi: float, *, positive: bool = False) -> Callable[[str, str, Any], None]:
    def check(where: str, k: str, v: Any) -> None:
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= hi
        if not ok or (positive and v == 0):
            raise _bad(where, k, f"a number within {'(' if positive else '['}0, {hi}]", v)

    return check


def _flag(where: str, k: str, v: Any) -> None:
    if not isinstance(v, bool):
        raise _bad(where, k, "true or false", v)


def _text(where: str, k: str, v: Any) -> None:
    if not isinstance(v, str) or not v:
        raise _bad(where, k, "a non-empty string", v)


def _initcall_level(where: str, k: str, v: Any) -> None:
    if v not in INITCALL_LEVELS:
        raise _bad(where, k, f"an initcall level ({', '.join(INITCALL_LEVELS)})", v)


def _selector(where: str, k: str, v: Any, cpus: int) -> None:
    items = v if isinstance(v, list) else [v]
    for x in items:
        ok = (isinstance(x, int) and not isinstance(x, bool) and 0 <= x < cpus) or (
            isinstance(x, str) and x in _SELECTOR_WORDS
        )
        if not ok:
            raise _bad(
                where,
                k,
                f"a CPU number below {cpus}, a list of them, or one of {_SELECTOR_WORDS}",
                v,
            )


def _hotplug_ops(where: str, k: str, v: Any, cpus: int) -> None:
    if not isinstance(v, list) or len(v) > 1000 or not all(isinstance(x, str) for x in v):
        raise _bad(where, k, "a list like ['down:last', 'up:last']", v)
    for op in v:
        verb, _, target = op.partition(":")
        tsel: Any = int(target) if target.isdigit() else target
        if verb not in ("down", "up"):
            raise _bad(where, k, "ops 'down:<cpu>' or 'up:<cpu>'", op)
        _selector(where, k, tsel, cpus)


_ARG_CHECKS: dict[str, Callable[[str, str, Any], None]] = {
    "pages": _count(_BIG),
    "ops": _count(_BIG),
    "hold": _count(_BIG),
    "think_ns": _count(_NS),
    "times": _count(_BIG),
    "delay_ns": _count(_NS),
    "gap_ns": _count(_NS),
    "ns": _count(_NS),
    "count": _count(MAX_ACTORS),
    "concurrency": _count(64),
    "keep": _count(_BIG),
    "size": _count(1 << 20),
    "seconds": _number(10_000.0),
    "slice_ms": _number(10_000.0, positive=True),
    "zone": _text,
    "name": _text,
    "gfp": _text,
    "force": _flag,
    "highpri": _flag,
    "level": _initcall_level,
}


def check_actor(source: str, where: str, a: Any, cpus: int) -> None:
    """Validate an actor entry after parameter substitution, on a ``cpus``-CPU machine: its
    kind and every argument's type and range (so a bad value is refused when the scenario
    loads, not mid-run)."""
    if not isinstance(a, dict) or not isinstance(a.get("kind"), str):
        raise BadInput(f"{source}: {where}: expected a table with a 'kind'")
    w = f"{source}: {where}"
    for k, v in a.items():
        if k == "kind":
            continue
        if a["kind"] == "hotplug" and k == "ops":
            _hotplug_ops(w, k, v, cpus)
        elif k in ("cpus", "cpu"):
            _selector(w, k, v, cpus)
        elif k in _ARG_CHECKS:
            _ARG_CHECKS[k](w, k, v)


async def run_actor(m: Machine, a: ActorSpec, where: str) -> None:
    fn, _ = ACTOR_KINDS[a["kind"]]
    await fn(m, a, where)
