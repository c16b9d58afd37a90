"""Kernel features a design declares: machine behaviour that differs between the kernels the
designs come from, chosen by the design and read by the machine (which never looks at a
design's name).  The protection era is one such choice and has its own field
(``DrainDesign.eras``); these are the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from .._core import BadInput

if TYPE_CHECKING:
    from ._machine import Machine

__all__ = ["HOTPLUG_LOCKS", "KernelFeatures"]

#: ``cpu_hotplug_lock`` semantics: ``mutex-refcount`` is 4.10/4.11's ``get_online_cpus()``
#: (``mutex_lock(&cpu_hotplug.lock); refcount++; mutex_unlock``): a writer waiting in
#: ``cpu_hotplug_begin()`` drops the mutex around ``schedule()``, so new readers are not
#: held off by it (only an active writer blocks them).  ``percpu-rwsem`` is 4.13+'s
#: (fc8dffd379ca, "cpu/hotplug: Convert hotplug locking to percpu rwsem"): a waiting
#: writer blocks new readers.
HOTPLUG_LOCKS = ("mutex-refcount", "percpu-rwsem")


@attrs.frozen
class KernelFeatures:
    """What the design's kernel had.  A user design that declares nothing gets a current
    kernel's behaviour."""

    hotplug_lock: str = attrs.field(default="percpu-rwsem")

    @hotplug_lock.validator
    def _check_hotplug_lock(self, attribute: object, value: object) -> None:
        if value not in HOTPLUG_LOCKS:
            raise BadInput(
                f"unknown hotplug_lock feature {value!r} (known: {', '.join(HOTPLUG_LOCKS)})"
            )

    def apply(self, m: Machine) -> None:
        """Set the machine up for these features (before the run starts)."""
        m.hotplug.lock.writer_blocks_readers = self.hotplug_lock == "percpu-rwsem"

    def to_json(self) -> dict[str, str]:
        return {"hotplug_lock": self.hotplug_lock}
