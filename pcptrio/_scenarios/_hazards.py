"""The hazard catalogue: what each built-in hazard row is, what goes wrong and what fixed it
(``pcptrio describe H7``).  A row's trigger and stage are its scenario's description and
probes; this module adds what the scenario cannot say.  It never holds a verdict: which
designs a hazard is found in comes from exploration (a matrix result)."""

from __future__ import annotations

import attrs

__all__ = ["HAZARDS", "Hazard"]


@attrs.frozen
class Hazard:
    id: str
    failure: str
    fixed_by: str


HAZARDS: dict[str, Hazard] = {
    h.id: h
    for h in (
        Hazard(
            "H1",
            "The drain IPI's handler enters a PCP that the interrupted task is updating with "
            "only preemption disabled (E4's preempt-only PCP): two actors in one PCP.",
            "E3 0ccce3b92421 (no IPIs); E9 d34b0733b452 restored IRQ-off protection anyway.",
        ),
        Hazard(
            "H2",
            "Many callers drain at once: every one sends IPIs or queues works to every CPU, "
            "so the machine is flooded with drain interrupts or works under memory pressure.",
            "E5 bd233f538d51 (one drainer at a time; a global caller that finds the mutex "
            "taken returns).",
        ),
        Hazard(
            "H3",
            "Two callers share the static cpus_with_pcps mask: one clears a CPU's bit while "
            "the other is about to use it, and a PCP with pages of the zone is never drained.",
            "E5 bd233f538d51 (the mutex covers building and using the mask).",
        ),
        Hazard(
            "H5",
            "A CPU goes offline after the mask is built: its work runs on an unbound kworker "
            "that reads smp_processor_id() preemptibly, migrates, and drains another CPU's "
            "PCP while that CPU's task is inside it.",
            "E6 a459eeb7b852 (preempt_disable() in the work function); E16 drains by CPU id "
            "under pcp->lock.",
        ),
        Hazard(
            "H5b",
            "A drain starts while a CPU is already down and keeps its stale cpus_with_pcps "
            "bit: the work queued for the dead CPU runs unbound and, preemptible, drains the "
            "wrong PCP concurrently with its owner.",
            "E6 a459eeb7b852 (preempt_disable() in the work function).",
        ),
        Hazard(
            "H6",
            "cpu_up holds the hotplug lock and needs pcpu_alloc_mutex; a GFP_KERNEL percpu "
            "allocation holds the mutex, reclaims, drains and waits in get_online_cpus(): "
            "an ABBA deadlock.",
            "E6 a459eeb7b852 (no hotplug lock in the drain).",
        ),
        Hazard(
            "H7",
            "Under memory pressure the drain works need a new kworker, which cannot be "
            "created; system_wq has no rescuer, so the reclaimer waits in flush_work() for "
            "ever.",
            "E7 ce612879ddc7 (works on mm_percpu_wq, WQ_MEM_RECLAIM, with a rescuer).",
        ),
        Hazard(
            "H8",
            "kthreadd, forking a kworker, reclaims and drains itself; its drain waits for a "
            "work that needs a kworker only kthreadd can fork.",
            "E7 ce612879ddc7 (the rescuer of mm_percpu_wq runs the works).",
        ),
        Hazard(
            "H9",
            "An early initcall's allocation drains before mm_percpu_wq exists: "
            "WARN_ON_ONCE(!mm_percpu_wq) and the PCPs are not drained.",
            '"mm: move mm_percpu_wq initialization earlier" (v4.11).',
        ),
        Hazard(
            "H10",
            "A device's resume callback drains while the freezable mm_percpu_wq is frozen: "
            "its works never run and the resume hangs.",
            'E8 ("mm: make mm_percpu_wq non freezable", v4.11).',
        ),
        Hazard(
            "H11",
            "drain_all_pages() called from a kworker returns at once (the PF_WQ_WORKER "
            "check), so memory hot-remove running in a kworker leaves pages on the PCPs.",
            "E10 (v4.15, 20170828093341.26341-1-mhocko@kernel.org).",
        ),
        Hazard(
            "H12",
            "A zone-specific drain drains every zone on the target CPUs: pages of other zones "
            "leave the PCPs for nothing.",
            "E11 (v5.0, 20181212002933.53337-1-richard.weiyang@gmail.com: the work carries "
            "the zone).",
        ),
        Hazard(
            "H13",
            "A global caller that finds pcpu_drain_mutex taken returns without draining, "
            "while pages it needed stay on the CPUs.",
            "Not fixed: intended since E5 bd233f538d51 (global callers are parallel direct "
            "reclaimers; one drain is enough).",
        ),
        Hazard(
            "H14",
            "A CPU hog in the target CPU's worker pool keeps the drain work from running "
            "(concurrency management starts no second worker for a runnable one).",
            "E16 443c2accd1b6 (v6.0: remote drains, no work items).",
        ),
        Hazard(
            "H17",
            "A 5.14+-sized PCP is drained in one free_pcppages_bulk() call with IRQs off "
            "or pcp->lock held: interrupts stay off for tens to hundreds of microseconds.",
            "E17 55f77df7d715 (v6.10: at most batch << CONFIG_PCP_BATCH_SCALE_MAX pages per "
            "lock hold).",
        ),
        Hazard(
            "H4/H16",
            "The unlocked count check that builds the mask (H4) or picks the amount to drain "
            "(H16) misses pages another CPU is adding: the caller returns with them on the "
            "PCP.",
            "E18 66eca1021a42 (v6.11: count read under pcp->lock).",
        ),
    )
}
