"""The built-in scenarios: one per hazard of ``docs/hazards.md``, and plain workloads.

Each sets the stage for its own hazard and keeps the others out (only H5 and H6 touch CPU
hotplug; in H3 and H11 the CPUs do not allocate or free while the drains run, so the count
race H4 cannot show).  None states an expected outcome: the oracles judge, whatever the design.
Written in the same schema as user TOML scenarios (``_scenario.py``); ``pcptrio list`` prints
them and their parameters.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BUILTIN_SCENARIOS"]

_ONE_ZONE = [{"name": "Normal", "pages": "$pages", "high": "$high", "batch": "$batch"}]
_PCP = {"pages": 16384, "high": 42, "batch": 7}  # 64 MiB zone, v4.x 128-MiB-zone PCP sizing

BUILTIN_SCENARIOS: list[dict[str, Any]] = [
    {
        "name": "ipi-vs-preempt-pcp",
        "hazard": "H1",
        "title": "IPI drain vs preempt-only PCP (list corruption)",
        "description": (
            "PCP protected by preemption only (4.11-rc E4). Every CPU allocates and frees "
            "while a reclaimer drains all CPUs repeatedly: a drain running in IRQ context "
            "may land in the middle of a PCP list update."
        ),
        "protection": "preempt",
        "oracles": ["pcp-exclusive", "page-conservation"],
        "probes": ["drain-vs-pcp-update"],
        "min_cpus": 2,
        "params": {**_PCP, "ops": 30, "drains": 4},
        "machine": {"zones": _ONE_ZONE},
        "budget": {"schedules": 60},
        "phases": [
            {
                "actors": [
                    {"kind": "churn", "cpus": "all", "ops": "$ops", "think_ns": 1000},
                    {"kind": "drain", "cpu": 0, "times": "$drains", "gap_ns": 4000},
                ]
            }
        ],
    },
    {
        "name": "drain-storm",
        "hazard": "H2",
        "title": "IPI / work storm under memory pressure",
        "description": (
            "N direct reclaimers (N >= 4) call drain_all_pages(NULL) at once while the CPUs "
            "keep pages on their PCPs. Judged by the disturbance bound: drain IPIs pending "
            "plus drain works queued or running must stay <= the number of CPUs. (Three "
            "CPUs at least: with two, IPIs from spinning senders can never exceed two.)"
        ),
        "oracles": ["disturbance-bound"],
        "probes": ["concurrent-drains"],
        "min_cpus": 3,
        "params": {**_PCP, "reclaimers": 4, "rounds": 2, "fill": 20},
        "machine": {"zones": _ONE_ZONE},
        "budget": {"schedules": 30},
        "phases": [
            {"actors": [{"kind": "fill", "cpus": "all", "pages": "$fill"}]},
            {
                "repeat": "$rounds",
                "actors": [
                    {"kind": "churn", "cpus": "all", "ops": 12, "think_ns": 1000},
                    {"kind": "drainers", "count": "$reclaimers", "times": 1},
                ],
            },
        ],
    },
    {
        "name": "shared-mask-race",
        "hazard": "H3",
        "title": "shared static cpus_with_pcps mask (missed CPU)",
        "description": (
            "Two zone-specific drainers (zone A, zone B) build the function-static mask at "
            "the same time. CPU1 holds pages of zone A only. The CPUs do not allocate or free "
            "while the drains run."
        ),
        "oracles": ["drain-completeness"],
        "probes": ["concurrent-zone-drains"],
        "min_cpus": 2,
        "params": {"pages": 16384, "high": 42, "batch": 7, "rounds": 3, "fill": 20},
        "machine": {
            "zones": [
                {"name": "DMA32", "pages": "$pages", "high": "$high", "batch": "$batch"},
                {"name": "Normal", "pages": "$pages", "high": "$high", "batch": "$batch"},
            ]
        },
        "budget": {"schedules": 60},
        "phases": [
            {
                "repeat": "$rounds",
                "phases": [
                    {
                        "actors": [
                            {"kind": "fill", "cpus": [1], "zone": "DMA32", "pages": "$fill"},
                            {"kind": "fill", "cpus": "first", "zone": "Normal", "pages": 8},
                        ]
                    },
                    {
                        "actors": [
                            {"kind": "drain", "cpu": 0, "zone": "DMA32", "name": "drainer-A"},
                            {"kind": "drain", "cpu": "last", "zone": "Normal", "name": "drainer-B"},
                        ]
                    },
                ],
            }
        ],
    },
    {
        "name": "offline-during-drain",
        "hazard": "H5",
        "title": "target CPU goes offline between mask and execution",
        "description": (
            "The CPUs hold pages on their PCPs; they allocate and free, a reclaimer calls "
            "drain_all_pages(NULL), and the last "
            "CPU goes down during that call and comes back 12 us later (longer than a kworker "
            "wake-up). A drain work for it then runs on an unbound worker, which may migrate. "
            "One drain per run: the mask's bit of a CPU that is already down when a later "
            "drain builds the mask is stale (for_each_online_cpu skips it), which is another "
            "trigger, staged by offline-stale-mask. (Three CPUs at least: with two, the "
            "unbound worker has one CPU to run on.)"
        ),
        "oracles": ["pcp-exclusive", "page-conservation"],
        "probes": ["cpu-down-during-drain"],
        "min_cpus": 3,
        "params": {**_PCP, "ops": 150, "fill": 20},
        "machine": {"zones": _ONE_ZONE},
        "budget": {"schedules": 100},
        "phases": [
            {"actors": [{"kind": "wq-warmup", "highpri": True}]},
            {"actors": [{"kind": "fill", "cpus": "all", "pages": "$fill"}]},
            {
                "actors": [
                    {"kind": "churn", "cpus": "all", "ops": "$ops", "think_ns": 30},
                    {"kind": "drain", "cpu": 0, "times": 1},
                    {
                        "kind": "hotplug",
                        "cpu": 1,
                        "ops": ["down:last", "up:last"],
                        "delay_ns": 1000,
                        "gap_ns": 12000,
                    },
                ],
            },
        ],
    },
    {
        "name": "offline-stale-mask",
        "hazard": "H5b",
        "title": "a drain while a CPU is down, with its stale cpus_with_pcps bit",
        "description": (
            "Rounds of: a drain while every CPU is up (the last CPU's bit is set in the shared "
            "mask); the last CPU goes down; a second drain runs while the other CPUs allocate "
            "and free; the last CPU comes back once that drain has returned.  No CPU changes "
            "state during a drain (that is H5, offline-during-drain).  for_each_online_cpu "
            "skips the offline CPU, so its bit stays set: work is queued to the offline CPU "
            "and runs on an unbound worker, whether or not the design holds the CPU hotplug "
            "lock; preempt_disable in the work function (v4.11 drain_local_pages_wq) is what "
            "keeps it on one CPU."
        ),
        "oracles": ["pcp-exclusive", "page-conservation"],
        "probes": ["drain-while-cpu-offline"],
        "min_cpus": 3,
        "params": {**_PCP, "ops": 150, "rounds": 3},
        "machine": {"zones": _ONE_ZONE},
        "budget": {"schedules": 100},
        "phases": [
            {"actors": [{"kind": "wq-warmup", "highpri": True}]},
            {
                "repeat": "$rounds",
                "phases": [
                    {
                        "actors": [
                            {"kind": "churn", "cpus": "all", "ops": 40, "think_ns": 30},
                            {"kind": "drain", "cpu": 0, "times": 1},
                        ]
                    },
                    {"actors": [{"kind": "hotplug", "cpu": 0, "ops": ["down:last"]}]},
                    {
                        "actors": [
                            {"kind": "churn", "cpus": "not-last", "ops": "$ops", "think_ns": 30},
                            {"kind": "drain", "cpu": 0, "times": 1, "delay_ns": 3000},
                        ]
                    },
                    {"actors": [{"kind": "hotplug", "cpu": 0, "ops": ["up:last"]}]},
                ],
            },
        ],
    },
    {
        "name": "hotplug-lock-abba",
        "hazard": "H6",
        "title": "CPU hotplug lock inside the allocator (ABBA)",
        "description": (
            "Each pool has three kworkers (it has run two works at once).  Memory is low "
            "(below the min watermark) with "
            "reclaimable page cache. cpu_up of "
            "the last CPU holds the hotplug lock and sets up percpu memory (pcpu_alloc_mutex) "
            "while another task's GFP_KERNEL percpu allocation, holding pcpu_alloc_mutex, "
            "populates a chunk and enters direct reclaim."
        ),
        "oracles": ["deadlock"],
        "probes": ["cpu-up-during-drain"],
        "min_cpus": 2,
        "params": {**_PCP, "cache": 300},
        "machine": {"zones": _ONE_ZONE, "percpu_populated": 0},
        "budget": {"schedules": 30},
        "phases": [
            # A machine that has been up has spare kworkers: without them the first work on a
            # pool under memory pressure needs kthreadd to fork one, which is H8, not H6.  Two
            # at once: wq-rfc's failed GFP_ATOMIC percpu allocation schedules
            # pcpu_balance_workfn, which blocks one kworker on pcpu_alloc_mutex.
            {"actors": [{"kind": "wq-warmup", "highpri": True, "concurrency": 2}]},
            {"actors": [{"kind": "hotplug", "cpu": 0, "ops": ["down:last"]}]},
            {"actors": [{"kind": "pagecache", "cpu": 0, "pages": "$cache"}]},
            {"actors": [{"kind": "exhaust", "cpu": 0}]},
            {
                "actors": [
                    {"kind": "hotplug", "cpu": 0, "ops": ["up:last"]},
                    {"kind": "percpu-alloc", "cpu": 0, "size": 64, "gfp": "kernel"},
                ]
            },
        ],
    },
    {
        "name": "no-rescuer-under-pressure",
        "hazard": "H7",
        "title": "drain work on a workqueue without a rescuer under memory pressure",
        "description": (
            "The CPUs hold pages on their PCPs; then memory is exhausted with nothing "
            "reclaimable, so creating a kworker fails. A reclaimer calls drain_all_pages(NULL)."
        ),
        "oracles": ["liveness", "deadlock"],
        "probes": ["exhausted-during-drain"],
        "min_cpus": 2,
        "params": {**_PCP, "fill": 20},
        "machine": {"zones": _ONE_ZONE},
        "budget": {"schedules": 20, "max_time_ms": 120000},
        "phases": [
            {"actors": [{"kind": "fill", "cpus": "all", "pages": "$fill"}]},
            {"actors": [{"kind": "exhaust", "cpu": 0}]},
            {"actors": [{"kind": "drain", "cpu": 0, "times": 1, "name": "reclaimer"}]},
        ],
    },
    {
        "name": "kthreadd-self-deadlock",
        "hazard": "H8",
        "title": "kthreadd's own allocation drains and waits for a worker only it can fork",
        "description": (
            "The CPUs hold pages on their PCPs; memory is low (below the min watermark) with "
            "reclaimable page cache; each pool has its one boot worker.  A burst of per-CPU "
            "work arrives (vmstat_update, lru_add_drain_all): each pool's worker must fork a "
            "spare before it runs a work, and asks kthreadd, whose GFP_KERNEL allocation "
            "enters direct reclaim and drain_all_pages()."
        ),
        "oracles": ["liveness", "deadlock"],
        "probes": ["drain-from-kthreadd"],
        "min_cpus": 1,
        "params": {**_PCP, "fill": 20, "cache": 300},
        "machine": {"zones": _ONE_ZONE},
        "budget": {"schedules": 20, "max_time_ms": 150000},
        "phases": [
            {"actors": [{"kind": "fill", "cpus": "all", "pages": "$fill"}]},
            {"actors": [{"kind": "pagecache", "cpu": 0, "pages": "$cache"}]},
            {"actors": [{"kind": "exhaust", "cpu": 0}]},
            {"actors": [{"kind": "wq-warmup"}]},
        ],
    },
    {
        "name": "early-boot-drain",
        "hazard": "H9",
        "title": "an early-boot CMA allocation drains before the drain workqueue exists",
        "description": (
            "A machine that boots with its initcalls: workqueue_init and init_mm_internals "
            "have run; the CPUs hold pages on their PCPs; an arch_initcall's CMA allocation "
            "isolates a range and calls drain_all_pages(zone); then the remaining initcall "
            "levels run (module_init is a device initcall)."
        ),
        "oracles": ["drain-completeness"],
        "probes": ["drain-during-boot"],
        "min_cpus": 1,
        "params": {**_PCP, "fill": 20},
        "machine": {"zones": _ONE_ZONE, "boot_initcalls": True},
        "budget": {"schedules": 20},
        "phases": [
            {"actors": [{"kind": "fill", "cpus": "all", "pages": "$fill"}]},
            {"actors": [{"kind": "initcall", "level": "postcore"}]},
            {
                "actors": [
                    {"kind": "drain", "cpu": 0, "zone": "Normal", "times": 1, "name": "cma_alloc"}
                ]
            },
            {"actors": [{"kind": "initcall", "level": "late"}]},
        ],
    },
    {
        "name": "freeze-resume-hang",
        "hazard": "H10",
        "title": "a resume callback drains while the workqueues are still frozen",
        "description": (
            "The CPUs hold pages on their PCPs.  Suspend freezes the freezable workqueues "
            "(freeze_workqueues_begin); on resume a device's resume callback allocates from "
            "CMA and calls drain_all_pages(zone) before thaw_workqueues(), which comes only "
            "after the devices have resumed."
        ),
        "oracles": ["liveness", "deadlock"],
        "probes": ["drain-during-suspend"],
        "min_cpus": 1,
        "params": {**_PCP, "fill": 20},
        "machine": {"zones": _ONE_ZONE},
        "budget": {"schedules": 20, "max_time_ms": 150000},
        "phases": [
            {"actors": [{"kind": "fill", "cpus": "all", "pages": "$fill"}]},
            {"actors": [{"kind": "suspend"}]},
            {
                "actors": [
                    {"kind": "drain", "cpu": 0, "zone": "Normal", "times": 1, "name": "dpm_resume"}
                ]
            },
            {"actors": [{"kind": "resume"}]},
        ],
    },
    {
        "name": "drain-from-kworker",
        "hazard": "H11",
        "title": "drain_all_pages(zone) called from a kworker",
        "description": (
            "Memory hot-remove runs in a kworker and drains one zone; the CPUs hold pages of "
            "that zone on their PCPs and do not allocate or free meanwhile."
        ),
        "oracles": ["drain-completeness"],
        "probes": ["drain-from-kworker"],
        "min_cpus": 1,
        "params": {**_PCP, "fill": 20},
        "machine": {"zones": _ONE_ZONE},
        "budget": {"schedules": 20},
        "phases": [
            {"actors": [{"kind": "fill", "cpus": "all", "pages": "$fill"}]},
            {"actors": [{"kind": "kworker-drain", "cpu": 0, "zone": "Normal"}]},
        ],
    },
    {
        "name": "zone-over-drain",
        "hazard": "H12",
        "title": "a zone-specific drain empties every zone's PCPs",
        "description": (
            "Two zones; every CPU holds pages of both on its PCPs.  A zone-specific caller "
            "(alloc_contig_range isolating a CMA range in zone Normal; memory offline and "
            "hwpoison drain one zone too) calls drain_all_pages(Normal).  Nobody allocates or "
            "frees meanwhile."
        ),
        "oracles": ["zone-precision"],
        "probes": ["zone-call-other-zones"],
        "min_cpus": 1,
        "params": {**_PCP, "fill": 20},
        "machine": {
            "zones": [
                {"name": "DMA32", "pages": "$pages", "high": "$high", "batch": "$batch"},
                {"name": "Normal", "pages": "$pages", "high": "$high", "batch": "$batch"},
            ]
        },
        "budget": {"schedules": 20},
        "phases": [
            {
                "actors": [
                    {"kind": "fill", "cpus": "all", "zone": "DMA32", "pages": "$fill"},
                    {"kind": "fill", "cpus": "all", "zone": "Normal", "pages": "$fill"},
                ]
            },
            {
                "actors": [
                    {
                        "kind": "drain",
                        "cpu": 0,
                        "zone": "Normal",
                        "times": 1,
                        "name": "alloc_contig_range",
                    }
                ]
            },
        ],
    },
    {
        "name": "lost-global-drain",
        "hazard": "H13",
        "title": "a global drain that returns because another drain holds the mutex",
        "description": (
            "The CPUs hold pages on their PCPs; two direct reclaimers call "
            "drain_all_pages(NULL) at the same time, and nobody allocates or frees meanwhile. "
            "Every caller is judged strictly: the pages on the PCPs when its call began must "
            "be gone when it returns.  Since E5 a global caller that finds pcpu_drain_mutex "
            "held returns at once, by design (the other drainer is on it); the row shows it."
        ),
        "oracles": ["drain-completeness"],
        "oracle_options": {"drain-completeness": {"strict": True}},
        "probes": ["concurrent-drains"],
        "min_cpus": 2,
        "params": {**_PCP, "fill": 20},
        "machine": {"zones": _ONE_ZONE},
        "budget": {"schedules": 20},
        "phases": [
            {"actors": [{"kind": "fill", "cpus": "all", "pages": "$fill"}]},
            {"actors": [{"kind": "drainers", "count": 2, "times": 1}]},
        ],
    },
    {
        "name": "hog-in-pool",
        "hazard": "H14",
        "title": "a CPU hog in the target CPU's worker pool",
        "description": (
            "A work item that stays runnable for 60 s of virtual time occupies the last "
            "CPU's normal pool (worker creation works fine); then a reclaimer drains."
        ),
        "oracles": ["wq-watchdog", "liveness"],
        "probes": ["hog-during-drain"],
        "min_cpus": 2,
        "params": {**_PCP, "fill": 20, "hog_s": 60},
        "machine": {"zones": _ONE_ZONE},
        "budget": {"schedules": 20, "max_time_ms": 150000},
        "phases": [
            {"actors": [{"kind": "fill", "cpus": "all", "pages": "$fill"}]},
            {"actors": [{"kind": "hog-work", "cpu": "last", "seconds": "$hog_s"}]},
            {"actors": [{"kind": "sleep", "ns": 2000000}]},
            {"actors": [{"kind": "drain", "cpu": 0, "times": 1, "name": "reclaimer"}]},
        ],
    },
    {
        "name": "long-irq-off-drain",
        "hazard": "H17",
        "title": "draining a 5.14+-sized PCP in one lock hold",
        "description": (
            "A PCP sized as from v5.14 (high 2,048 pages, batch 15: a 128 MiB zone): every "
            "CPU frees a 6 MiB buffer page by page, so each PCP holds 1,536 pages, three of "
            "E17's 480-page chunks (batch << CONFIG_PCP_BATCH_SCALE_MAX).  Then a reclaimer "
            "drains.  Judged by irq-off-bound: no CPU may run with IRQs or preemption off for "
            "more than 40 us; one chunk takes about 19 us under the locks, a whole PCP about "
            "61 us (40 ns per page)."
        ),
        "oracles": ["irq-off-bound"],
        # The bound is the scenario's, not a parameter: a smaller bound is another question
        # (and the shrinker would take it).
        "oracle_options": {"irq-off-bound": {"bound_us": 40}},
        "probes": ["drain-large-pcp"],
        "min_cpus": 1,
        "params": {"pages": 32768, "high": 2048, "batch": 15, "fill": 1536},
        "machine": {"zones": _ONE_ZONE, "pcp_batch_scale_max": 5},
        "budget": {"schedules": 10},
        "phases": [
            {"actors": [{"kind": "free-burst", "cpus": "all", "pages": "$fill"}]},
            {"actors": [{"kind": "drain", "cpu": 0, "times": 1, "name": "reclaimer"}]},
        ],
    },
    {
        "name": "count-race",
        "hazard": "H4/H16",
        "title": "racy pcp->count check misses pages being linked",
        "description": (
            "Memory offline drains one zone (force_all_cpus where the design has it) while "
            "the CPUs refill and free. A page linked onto a PCP list whose count is not "
            "updated yet is invisible to an unlocked count check."
        ),
        "oracles": ["drain-completeness"],
        "probes": ["drain-vs-pcp-update"],
        "min_cpus": 2,
        "params": {"pages": 16384, "high": 12, "batch": 3, "ops": 40, "drains": 6},
        "machine": {"zones": _ONE_ZONE},
        "budget": {"schedules": 100},
        "phases": [
            {
                "actors": [
                    {"kind": "churn", "cpus": "all", "ops": "$ops", "hold": 6, "think_ns": 1000},
                    {
                        "kind": "drain",
                        "cpu": 0,
                        "times": "$drains",
                        "zone": "Normal",
                        "force": True,
                        "gap_ns": 3000,
                        "name": "offline_pages",
                    },
                ]
            }
        ],
    },
    # ------------------------------------------------------------------ plain workloads
    {
        "name": "steady",
        "title": "steady alloc/free with an occasional global drain",
        "description": "Every CPU allocates and frees; a reclaimer calls drain_all_pages(NULL).",
        "oracles": [],
        "probes": ["drain-called"],
        "min_cpus": 1,
        "params": {**_PCP, "ops": 40, "drains": 3},
        "machine": {"zones": _ONE_ZONE},
        "budget": {"schedules": 50},
        "phases": [
            {
                "actors": [
                    {"kind": "churn", "cpus": "all", "ops": "$ops", "think_ns": 2000},
                    {"kind": "drain", "cpu": 0, "times": "$drains", "gap_ns": 15000},
                ]
            }
        ],
    },
    {
        "name": "reclaim-storm",
        "title": "direct reclaim on every CPU under memory pressure",
        "description": (
            "Memory below the min watermark with reclaimable page cache; every CPU allocates "
            "GFP_KERNEL, so each enters direct reclaim and drains."
        ),
        "oracles": ["liveness"],
        "probes": ["drain-called"],
        "min_cpus": 1,
        "params": {**_PCP, "cache": 600, "allocs": 6},
        "machine": {"zones": _ONE_ZONE},
        "budget": {"schedules": 50},
        "phases": [
            {"actors": [{"kind": "pagecache", "cpu": 0, "pages": "$cache"}]},
            {"actors": [{"kind": "exhaust", "cpu": 0}]},
            {"actors": [{"kind": "alloc", "cpus": "all", "count": "$allocs"}]},
        ],
    },
    {
        "name": "hotplug-churn",
        "title": "alloc/free and drains while a CPU goes down and up",
        "description": (
            "Every CPU allocates and frees; drains; the last CPU goes down and up twice."
        ),
        "oracles": [],
        "probes": ["drain-called"],
        "min_cpus": 2,
        "params": {**_PCP, "ops": 40, "drains": 4},
        "machine": {"zones": _ONE_ZONE},
        "budget": {"schedules": 50},
        "phases": [
            {
                "actors": [
                    {"kind": "churn", "cpus": "all", "ops": "$ops", "think_ns": 1500},
                    {"kind": "drain", "cpu": 0, "times": "$drains", "gap_ns": 8000},
                    {
                        "kind": "hotplug",
                        "cpu": 0,
                        "ops": ["down:last", "up:last", "down:last", "up:last"],
                        "gap_ns": 10000,
                    },
                ]
            }
        ],
    },
    {
        "name": "bench-drain",
        "title": "drain latency: fill every CPU's PCP, then one global drain, in rounds",
        "description": (
            "Every CPU leaves pages on its PCP, the pools are warm, then a reclaimer calls "
            "drain_all_pages(NULL); repeated. What pcptrio bench measures."
        ),
        "oracles": [],
        "probes": ["drain-called"],
        "min_cpus": 1,
        "params": {**_PCP, "fill": 8, "rounds": 3},
        "machine": {"zones": _ONE_ZONE},
        "budget": {"schedules": 3, "max_steps": 2000000},
        "phases": [
            {"actors": [{"kind": "wq-warmup"}]},
            {
                "repeat": "$rounds",
                "phases": [
                    {"actors": [{"kind": "fill", "cpus": "all", "pages": "$fill"}]},
                    {"actors": [{"kind": "drain", "cpu": 0, "times": 1, "name": "reclaimer"}]},
                ],
            },
        ],
    },
    {
        "name": "bench-drain-load",
        "title": "drain latency under load: every CPU allocates and frees during the drains",
        "description": (
            "The pools are warm and every CPU leaves pages on its PCP; then every CPU "
            "allocates and frees while a reclaimer calls drain_all_pages(NULL) again and "
            "again. The latencies vary with the interleaving: pcptrio bench --scenario "
            "bench-drain-load."
        ),
        "oracles": [],
        "probes": ["drain-called"],
        "min_cpus": 1,
        "params": {**_PCP, "fill": 8, "ops": 600, "drains": 8},
        "machine": {"zones": _ONE_ZONE},
        "budget": {"schedules": 3, "max_steps": 2000000},
        "phases": [
            {"actors": [{"kind": "wq-warmup"}]},
            {"actors": [{"kind": "fill", "cpus": "all", "pages": "$fill"}]},
            {
                "actors": [
                    {"kind": "churn", "cpus": "all", "ops": "$ops", "think_ns": 300},
                    {
                        "kind": "drain",
                        "cpu": 0,
                        "times": "$drains",
                        "gap_ns": 4000,
                        "name": "reclaimer",
                    },
                ]
            },
        ],
    },
]
