"""Sensors: what the machine tells its observers (the oracles of L2, the metrics, reports).

L1 knows nothing about oracles.  It calls these hooks at the moments that matter; an oracle
subscribes to the ones it judges.  Every hook is a plain list of callbacks, empty by default,
so an unobserved machine pays one truth test per event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._core import Actor
    from ._drainstats import DrainCall
    from ._pcp import PerCpuPages

__all__ = ["Sensors"]


class Sensors:
    """Callback lists, one per kind of event."""

    def __init__(self) -> None:
        #: (pcp, actor already inside, actor entering): two actors inside one PCP at once.
        self.pcp_overlap: list[Callable[[PerCpuPages, Actor, Actor], None]] = []
        #: A drain_all_pages() call begins / returns.
        self.drain_begin: list[Callable[[DrainCall], None]] = []
        self.drain_end: list[Callable[[DrainCall], None]] = []
        #: The number of drain IPIs pending + drain works queued or running changed.
        self.disturbance: list[Callable[[int], None]] = []
        #: check_flush_dependency() warned (message, details).
        self.flush_warning: list[Callable[[str, dict[str, Any]], None]] = []
        #: The soft/hard lockup watchdog or khungtaskd reported (kind: ``soft-lockup``,
        #: ``hard-lockup`` or ``hung-task``; the kernel's headline; details).
        self.lockup: list[Callable[[str, str, dict[str, Any]], None]] = []
        #: The workqueue watchdog found a lockup (headline, dump, details).
        self.wq_lockup: list[Callable[[str, str, dict[str, Any]], None]] = []
        #: An actor starts touching a PCP's lists (it was not inside yet).  Stage probes
        #: unsubscribe once they have seen what they wait for, so the hot path pays only
        #: while someone listens.
        self.pcp_enter: list[Callable[[PerCpuPages, Actor], None]] = []
        #: A scenario stimulus begins (True) or ends (False): ``cpu-down`` / ``cpu-up`` while
        #: a hotplug request is in progress, or one a scenario actor marks (``hog``).
        self.stimulus: list[Callable[[str, bool], None]] = []
        #: Pages a drain call had moved off a PCP to the buddy (call, pcp, pages): the work,
        #: IPI handler or caller that drained ``pcp`` was working for ``call``.
        self.drain_freed: list[Callable[[DrainCall, PerCpuPages, int], None]] = []
        #: A WARN_ON / WARN_ON_ONCE of the kernel fired in model code: "file: function:
        #: condition", e.g. ``"kernel/smp.c: smp_call_function_many: WARN_ON_ONCE(...)"``.
        self.warning: list[Callable[[str], None]] = []
        #: CONFIG_DEBUG_OBJECTS_WORK caught a misuse of a work item (kind, message, details):
        #: INIT_WORK on a pending or running work, freeing a pending work, queueing an
        #: uninitialised work, and the list corruption an INIT_WORK on a queued work causes.
        self.work_debug: list[Callable[[str, str, dict[str, Any]], None]] = []

    def warn(self, message: str) -> None:
        for fn in self.warning:
            fn(message)
