"""``work-debug``: the machine's ``CONFIG_DEBUG_OBJECTS_WORK`` reports as an oracle.

The workqueue model (``pcptrio._kernel``) tracks every work item's debug object the way
``lib/debugobjects.c`` does through ``work_debug_descr`` and calls ``m.sensors.work_debug``
on a misuse; this oracle turns the first one into a violation.  The kinds:

================ =========================================================================
init-active      ``INIT_WORK`` on a pending work ("ODEBUG: init active"); its list keeps a
                 link the work has forgotten
init-running     ``INIT_WORK`` on a running work: ``flush_work`` no longer waits for it
                 (the kernel's debug objects miss this one; the spec's oracle does not)
free-pending     ``destroy_work_on_stack`` or ``debug_check_no_obj_freed`` on a pending work,
                 or an on-stack work whose frame returned while it was pending
                 ("ODEBUG: free active")
activate-uninit  ``queue_work_on`` on a work never initialised, or freed since
                 ("ODEBUG: activate not available")
list-corruption  the consequence of init-active when nothing stopped the run: the work
                 linked twice (``list_add`` corruption) or a worker reaching the orphaned link
================ =========================================================================

Every violation names the work (``details["work"]``, ``details["func"]``), its state
(``pending``, ``running``: the worker, ``queued``: which list of which pool, ``pool``, ``wq``)
and the actor that did it (``details["actor"]``, first in ``actors``).  The oracle never looks
at which design runs; it only listens.
"""

from __future__ import annotations

from typing import Any

from .._kernel import Machine
from ._base import Oracle

__all__ = ["WorkDebug"]


class WorkDebug(Oracle):
    name = "work-debug"
    description = (
        "CONFIG_DEBUG_OBJECTS_WORK: no INIT_WORK on a pending or running work, no freeing of a "
        "pending work, no queueing of an uninitialised work"
    )

    def attach(self, m: Machine) -> None:
        def on_misuse(kind: str, message: str, details: dict[str, Any]) -> None:
            names = [details.get(k) for k in ("actor", "owner", "worker")]
            actors = tuple(dict.fromkeys(str(n) for n in names if n))
            self.report(
                m,
                message,
                kind=kind,
                actors=actors,
                details=details,
                subject=(str(details.get("work", "")), *actors),
            )

        m.sensors.work_debug.append(on_misuse)
