"""Per-call metrics of drain_all_pages(): latency, IPIs, works, pages drained per CPU.

The machine wraps every call of the configured drain design in a :class:`DrainCall`.  Work
done on the call's behalf by other actors (an IPI handler, a drain work on a kworker or the
rescuer) is attributed through ``task.drain_call``, which the IPI and workqueue code copy from
the sender to the actor doing the work.
"""

from __future__ import annotations

from typing import Any

import attrs

__all__ = ["DrainCall"]


@attrs.define(eq=False)
class DrainCall:
    """One drain_all_pages() call."""

    id: int
    caller: str
    cpu: int | None
    zone: str | None
    force_all_cpus: bool
    start_ns: int
    start_step: int
    #: Pages on each online CPU's PCP lists (for ``zone``) when the call began:
    #: pfn -> (cpu, link sequence).  Filled only when an oracle asks for it.
    snapshot: dict[int, tuple[int, int]] | None = None
    online_at_start: tuple[int, ...] = ()
    end_ns: int | None = None
    end_step: int | None = None
    ipis: int = 0
    works: int = 0
    pages: dict[int, int] = attrs.field(factory=dict)
    rescuer_ran: bool = False
    maydays: int = 0
    went_offline: set[int] = attrs.field(factory=set)

    @property
    def done(self) -> bool:
        return self.end_ns is not None

    @property
    def latency_ns(self) -> int | None:
        return None if self.end_ns is None else self.end_ns - self.start_ns

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "caller": self.caller,
            "cpu": self.cpu,
            "zone": self.zone,
            "force_all_cpus": self.force_all_cpus,
            "start_ns": self.start_ns,
            "end_ns": self.end_ns,
            "latency_ns": self.latency_ns,
            "ipis": self.ipis,
            "works": self.works,
            "pages": {str(k): v for k, v in sorted(self.pages.items())},
            "pages_total": sum(self.pages.values()),
            "rescuer_ran": self.rescuer_ran,
            "maydays": self.maydays,
        }
