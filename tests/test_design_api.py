"""The design API of docs/design-api.md, used the way a user uses it.

Each classic broken design (``tests/classic_broken_designs.py``) is caught by the oracle of the
scenario that stages its hazard, within the scenario's default budget; a working design built
from the same names stays clean; a design that raises or awaits trio makes runs ``error`` and
campaigns ``inconclusive``; every name the page documents is used by a test design, and the
broken designs import nothing but the public facade.
"""

from __future__ import annotations

import ast
import pathlib
import re

import classic_broken_designs as classic  # type: ignore[import-not-found]  # tests/ is on sys.path
import pytest
import trio

import pcptrio
from pcptrio import (
    GFP_ATOMIC,
    PF_WQ_WORKER,
    CampaignConfig,
    CpuMask,
    DrainDesign,
    KernelFeatures,
    Machine,
    Mutex,
    Protection,
    RandomScheduler,
    WorkStruct,
    Zone,
    build_cpus_with_pcps,
    explore,
    flush_in_nursery,
    make_run_spec,
    point,
    register_design,
    replay,
    resolve_design,
    run_spec_async,
)

TESTS = pathlib.Path(__file__).parent
DOC = TESTS.parent / "docs" / "design-api.md"
DESIGN_FILES = ("classic_broken_designs.py", "user_designs.py", "test_design_api.py")


# ============================================================================ a working design


class _ReferenceState:
    """Static state: the shared mask, ``pcpu_drain_mutex`` and the per-CPU works."""

    def __init__(self, m: Machine) -> None:
        self.mask = CpuMask(m.nr_cpus)
        self.mutex = Mutex(m.engine, "pcpu_drain_mutex")
        self.works = [
            WorkStruct(drain_zone_wq, "drain_zone_wq", f"pcpu_drain[{c}]", (m, None))
            for c in range(m.nr_cpus)
        ]


def _reference_setup(m: Machine) -> None:
    m.design_state["test-reference"] = _ReferenceState(m)


async def drain_zone_wq(work: WorkStruct) -> None:
    """v5.0's work function: drain this CPU's PCPs of the requested zone, pinned to it."""
    m: Machine
    zone: Zone | None
    m, zone = work.data
    m.engine.preempt_disable()  # a459eeb7b852: no migration between reading the CPU and draining
    cpu = m.engine.smp_processor_id()
    await m.engine.spend(50)  # the work function's own cost before it reaches the PCP
    if zone is None:
        await m.drain_pages(cpu)
    else:
        flags = m.engine.local_irq_save()  # the owner is off its PCP: count is exact here
        empty = m.pcp(cpu, zone).count == 0
        m.engine.local_irq_restore(flags)
        if not empty:
            await m.drain_pages_zone(cpu, zone)
    m.engine.preempt_enable()


async def drain_remote_611(m: Machine, cpu: int, zone: Zone) -> None:
    """v6.11's ``drain_pages_zone``: lock, read count, drain a chunk, unlock, until empty."""
    pcp = m.pcp(cpu, zone)
    while True:
        flags = await pcp.lock.lock_irqsave()
        count = pcp.count
        if count:
            chunk = min(count, pcp.batch << m.params.pcp_batch_scale_max)
            await m.free_pcppages_bulk(zone, chunk, pcp)
            count -= chunk
        await pcp.lock.unlock_irqrestore(flags)
        if not count:
            return


async def reference_drain(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    """wq-5.0 in the irq and preempt eras (with v5.11's force_all_cpus), remote-6.11 in the
    spinlock era: a design with none of the classic mistakes."""
    st: _ReferenceState = m.design_state["test-reference"]
    remote = m.protection is Protection.SPINLOCK
    wq = m.mm_percpu_wq
    if not remote and wq is None:
        m.sensors.warn(f"WARN_ON_ONCE(!mm_percpu_wq) in drain_all_pages ({m.engine.current.name})")
        return
    if not await st.mutex.trylock():
        if zone is None:
            return
        await st.mutex.lock()
    await build_cpus_with_pcps(m, st.mask, zone, force_all_cpus)
    cpus = st.mask.cpus()
    if remote:
        for cpu in cpus:
            for z in [zone] if zone is not None else m.zones:
                await drain_remote_611(m, cpu, z)
    else:
        assert wq is not None
        for cpu in cpus:
            work = st.works[cpu]
            work.data = (m, zone)
            work.init(drain_zone_wq, "drain_zone_wq")
            await m.queue_work_on(cpu, wq, work)
        await flush_in_nursery(m, [(cpu, st.works[cpu]) for cpu in cpus])
    await st.mutex.unlock()


REFERENCE = DrainDesign(
    "test-reference",
    reference_drain,
    eras=(Protection.IRQ, Protection.PREEMPT, Protection.SPINLOCK),
    summary="wq-5.0 with force_all_cpus; remote-6.11 in the spinlock era",
    setup=_reference_setup,
)


# ============================================================================ more broken ones


async def drain_local_wq(work: WorkStruct) -> None:
    """E3's work function: drain this CPU (all zones)."""
    m: Machine = work.data
    await m.drain_local_pages(None)


async def hotplug_in_allocator(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    """The hotplug lock inside the allocator: 0ccce3b92421 as merged (E3 v5).

    ``get_online_cpus()`` around the drain, reached from direct reclaim under
    ``pcpu_alloc_mutex`` while ``cpu_up`` holds the hotplug lock and needs that mutex: the
    ABBA of Dmitry Vyukov's lockdep report (H6), fixed by a459eeb7b852.
    """
    if m.current.flags & PF_WQ_WORKER:
        return
    await m.get_online_cpus()
    area = await m.alloc_percpu_gfp(1, GFP_ATOMIC)
    mask = CpuMask(m.nr_cpus)
    await build_cpus_with_pcps(m, mask, zone, force_all_cpus)
    await point("cpus_with_pcps_built", cpus=mask.cpus())
    if area is not None:
        works = [
            (c, WorkStruct(drain_local_wq, "drain_local_pages_wq", f"d[{c}]", m))
            for c in mask.cpus()
        ]
        for cpu, work in works:
            await m.schedule_work_on(cpu, work)
        for _, work in works:
            await m.flush_work(work)
        m.free_percpu(area)
    else:  # one on-stack work at a time
        for cpu in mask.cpus():
            work = WorkStruct(drain_local_wq, "drain_local_pages_wq", f"d[{cpu}]", m, on_stack=True)
            await m.schedule_work_on(cpu, work)
            await m.flush_work(work)
    await m.put_online_cpus()


HOTPLUG_IN_ALLOCATOR = DrainDesign(
    "test-hotplug-in-allocator",
    hotplug_in_allocator,
    eras=(Protection.PREEMPT, Protection.IRQ),
    summary="E3 v5: the workqueue drain inside get_online_cpus()",
    features=KernelFeatures(hotplug_lock="mutex-refcount"),  # a 4.10 kernel
)


async def raises(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    """A design with a bug of its own: it raises on every call."""
    raise RuntimeError("my design has a bug")


RAISES = DrainDesign("test-raises", raises)


async def awaits_trio(m: Machine, zone: Zone | None, force_all_cpus: bool) -> None:
    """Waits on a raw trio primitive the engine cannot see."""
    await trio.sleep(1)


AWAITS_TRIO = DrainDesign("test-awaits-trio", awaits_trio)


# =========================================================================== the nine are caught

CAUGHT: list[tuple[DrainDesign, str, str, str]] = [
    # design, scenario, oracle, kind
    (classic.NO_FLUSH, "drain-from-kworker", "drain-completeness", "pages-left"),
    (classic.REMOTE_NO_LOCK, "count-race", "pcp-exclusive", "overlap"),
    (classic.NO_MUTEX, "drain-storm", "work-debug", "init-active"),
    (classic.ON_SYSTEM_WQ, "no-rescuer-under-pressure", "liveness", "drain-stuck"),
    (classic.IPI_NO_WAIT, "shared-mask-race", "drain-completeness", "pages-left"),
    (classic.COUNT_OUTSIDE_LOCK, "count-race", "drain-completeness", "pages-left"),
    (classic.REMOTE_ALL_ZONES, "zone-over-drain", "zone-precision", "other-zone"),
    (classic.IPI_IRQS_OFF, "steady", "kernel-warn", "warn"),
    (classic.POLL_PREEMPT_OFF, "drain-from-kworker", "lockup", "soft-lockup"),
]


@pytest.mark.parametrize(
    ("design", "scenario", "oracle", "kind"),
    CAUGHT,
    ids=[c[0].name for c in CAUGHT],
)
def test_classic_broken_design_is_caught(
    design: DrainDesign, scenario: str, oracle: str, kind: str
) -> None:
    """A PCT campaign within the scenario's default budget finds the design's bug."""
    spec = make_run_spec(scenario, design)
    res = explore(CampaignConfig(spec, schedules=spec.scenario.schedules, seed=0))
    assert res.verdict == "found", res.summary()
    f = res.failure
    assert f is not None
    assert (f.oracle, f.kind) == (oracle, kind), res.summary()
    again = replay(f.token)  # the token names the design as classic_broken_designs:<NAME>
    assert again.violation is not None and again.violation.signature == f.signature


# ============================================================================ a working design


@pytest.mark.parametrize(
    ("scenario", "params"),
    [
        ("count-race", {}),
        ("count-race", {"protection": "spinlock"}),
        ("shared-mask-race", {}),
        ("drain-from-kworker", {}),
        ("drain-storm", {}),
        ("no-rescuer-under-pressure", {}),
    ],
)
def test_reference_design_built_from_the_page_stays_clean(
    scenario: str, params: dict[str, str]
) -> None:
    """The same names make a design that no oracle faults where the broken ones fail."""
    spec = make_run_spec(scenario, REFERENCE, params)
    res = explore(CampaignConfig(spec, schedules=min(spec.scenario.schedules, 30), seed=0))
    assert res.verdict == "not-found", res.summary()


def test_hotplug_lock_inside_the_allocator_deadlocks() -> None:
    """get_online_cpus() in the drain closes the H6 cycle with cpu_up and pcpu_alloc_mutex."""
    spec = make_run_spec("hotplug-lock-abba", HOTPLUG_IN_ALLOCATOR)
    res = explore(CampaignConfig(spec, schedules=spec.scenario.schedules, seed=0))
    assert res.verdict == "found", res.summary()
    assert res.failure is not None and res.failure.oracle == "deadlock"


# ============================================================================ wrong designs


def test_a_design_that_raises_makes_the_campaign_inconclusive_and_replays() -> None:
    """Every run is ``error``, the campaign ``inconclusive``, and the first error's token
    lands on the line that raised."""
    res = explore(CampaignConfig(make_run_spec("steady", RAISES), schedules=3, seed=0))
    assert res.verdict == "inconclusive" and res.failure is None, res.summary()
    assert res.outcomes["error"] == res.schedules_run == 3
    err = res.first_error
    assert err is not None
    assert "RuntimeError: my design has a bug" in err.headline
    again = replay(err.token)
    assert str(again.outcome) == "error"
    assert again.error is not None and "my design has a bug" in again.error
    assert "test_design_api.py" in again.error


async def test_awaiting_a_raw_trio_primitive_is_an_error() -> None:
    """A design blocked in trio.sleep() ends its run with outcome error, saying where."""
    result = await run_spec_async(make_run_spec("steady", AWAITS_TRIO), RandomScheduler(0))
    assert str(result.outcome) == "error"
    assert result.error is not None
    assert "trio primitive the engine cannot see" in result.error
    assert "awaits_trio" in result.error


def test_designs_are_found_by_module_attr_and_by_registered_name() -> None:
    """``module:attr`` needs no registration; ``register_design`` adds a name."""
    assert resolve_design("classic_broken_designs:NO_FLUSH") is classic.NO_FLUSH
    register_design(REFERENCE, replace=True)
    assert resolve_design("test-reference") is REFERENCE


# ============================================================================ the page itself


def _key(span: str) -> str:
    """What code must use for a documented ``span``: its last name, qualified by the one
    before it when the receiver is not just a variable (``m.engine.current`` ->
    ``engine.current``, ``pcp.lock.lock_irqsave()`` -> ``lock.lock_irqsave``)."""
    parts = span.removeprefix("await ").split("(")[0].split(".")
    assert all(p.isidentifier() for p in parts), f"cannot read a name from `{span}`"
    return ".".join(parts[-2:]) if len(parts) >= 3 else parts[-1]


def _documented_names() -> dict[str, str]:
    """Key -> backticked text, from the first cell of every table headed ``name``."""
    names: dict[str, str] = {}
    lines = DOC.read_text().splitlines()
    in_table = False
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if not in_table and re.match(r"^\|[-| ]+\|$", nxt):
            in_table = cells[0] == "name"  # a header row
            continue
        if not in_table or set(line) <= set("|- "):
            continue
        for span in re.findall(r"`([^`]+)`", cells[0]):
            names[_key(span)] = span
    return names


def _used_names(path: pathlib.Path) -> set[str]:
    """Names, attributes and ``receiver.attribute`` pairs the code of ``path`` uses (imports
    do not count)."""
    used: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Name):
            used.add(node.id)
        elif isinstance(node, ast.Attribute):
            used.add(node.attr)
            v = node.value
            parent = (
                v.id
                if isinstance(v, ast.Name)
                else v.attr
                if isinstance(v, ast.Attribute)
                else None
            )
            if parent is not None:
                used.add(f"{parent}.{node.attr}")
    return used


def test_every_documented_name_is_used_by_a_test_design() -> None:
    """Each name in the page's API tables appears in the code of a test design module."""
    documented = _documented_names()
    assert {"queue_work_on", "flush_work", "init", "lock.lock_irqsave", "engine.point"} <= set(
        documented
    )
    assert len(documented) >= 50, sorted(documented)
    used: set[str] = set()
    for name in DESIGN_FILES:
        used |= _used_names(TESTS / name)
    unused = sorted(f"`{span}`" for ident, span in documented.items() if ident not in used)
    assert not unused, f"documented in {DOC.name} but used by no test design: {unused}"


def test_classic_broken_designs_import_only_the_public_facade() -> None:
    """classic_broken_designs.py imports only ``pcptrio`` names without an underscore."""
    path = TESTS / "classic_broken_designs.py"
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            pytest.fail(f"line {node.lineno}: import {', '.join(a.name for a in node.names)}")
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module in ("__future__", "pcptrio"), (
                f"line {node.lineno}: from {node.module} import ..."
            )
            for alias in node.names:
                assert not alias.name.startswith("_") or node.module == "__future__"
                if node.module == "pcptrio":
                    assert hasattr(pcptrio, alias.name), alias.name


def test_each_broken_design_names_the_kernel_bug_it_recreates() -> None:
    """Every classic design's function has a docstring citing a kernel commit id."""
    for name in classic.__all__:
        design = getattr(classic, name)
        doc = design.drain_all_pages.__doc__ or ""
        assert re.search(r"\b[0-9a-f]{12}\b", doc), f"{name}: no commit id in its docstring"
