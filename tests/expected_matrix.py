"""The expected hazard matrix of docs/hazards.md (test data: the library never sees it)."""

from __future__ import annotations

DESIGNS = (
    "ipi",
    "wq-rfc",
    "wq-hotplug",
    "wq-4.11-rc1",
    "wq-4.11-next",
    "wq-4.11",
    "wq-5.0",
    "remote-6.0",
    "remote-6.11",
)

# scenario -> row, in DESIGNS order: F found, . not found, n/a
EXPECTED: dict[str, tuple[str, ...]] = {
    "ipi-vs-preempt-pcp": ("F", ".", ".", ".", ".", ".", ".", "n/a", "n/a"),
    "drain-storm": ("F", "F", "F", ".", ".", ".", ".", ".", "."),
    "shared-mask-race": ("F", "F", "F", ".", ".", ".", ".", ".", "."),
    "offline-during-drain": (".", "F", ".", ".", ".", ".", ".", ".", "."),
    "offline-stale-mask": (".", "F", "F", ".", ".", ".", ".", ".", "."),
    "hotplug-lock-abba": (".", ".", "F", ".", ".", ".", ".", ".", "."),
    "no-rescuer-under-pressure": (".", "F", "F", "F", ".", ".", ".", ".", "."),
    "kthreadd-self-deadlock": (".", "F", "F", "F", ".", ".", ".", ".", "."),
    "early-boot-drain": (".", ".", ".", ".", "F", ".", ".", ".", "."),
    "freeze-resume-hang": (".", ".", ".", ".", "F", ".", ".", ".", "."),
    "drain-from-kworker": (".", "F", "F", "F", "F", "F", ".", ".", "."),
    "zone-over-drain": (".", "F", "F", "F", "F", "F", ".", ".", "."),
    "lost-global-drain": (".", ".", ".", "F", "F", "F", "F", "F", "F"),
    "hog-in-pool": (".", "F", "F", "F", "F", "F", "F", ".", "."),
    "long-irq-off-drain": ("F", "F", "F", "F", "F", "F", "F", "F", "."),
    "count-race": ("F", "F", "F", "F", "F", "F", "F", "F", "."),
}

# The oracle(s) each hazard's failure shows up under.
ORACLES: dict[str, set[str]] = {
    "ipi-vs-preempt-pcp": {"pcp-exclusive", "page-conservation"},
    "drain-storm": {"disturbance-bound"},
    "shared-mask-race": {"drain-completeness"},
    "offline-during-drain": {"pcp-exclusive", "page-conservation"},
    "offline-stale-mask": {"pcp-exclusive", "page-conservation"},
    "hotplug-lock-abba": {"deadlock"},
    "no-rescuer-under-pressure": {"liveness", "deadlock"},
    "kthreadd-self-deadlock": {"liveness", "deadlock", "lockup"},
    "early-boot-drain": {"kernel-warn", "drain-completeness"},
    "freeze-resume-hang": {"liveness", "deadlock", "lockup"},
    "drain-from-kworker": {"drain-completeness"},
    "zone-over-drain": {"zone-precision"},
    "lost-global-drain": {"drain-completeness"},
    "hog-in-pool": {"wq-watchdog", "liveness"},
    "long-irq-off-drain": {"irq-off-bound"},
    "count-race": {"drain-completeness"},
}


def cells(verdict: str | None = None) -> list[tuple[str, str, str]]:
    out = []
    for scenario, row in EXPECTED.items():
        for design, v in zip(DESIGNS, row, strict=True):
            if verdict is None or v == verdict:
                out.append((scenario, design, v))
    return out
