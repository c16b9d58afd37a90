"""Schedulers: one module each behind :class:`Scheduler`."""

from ._base import Scheduler as Scheduler
from ._dfs import DFSScheduler as DFSScheduler
from ._pct import PCTScheduler as PCTScheduler
from ._random import RandomScheduler as RandomScheduler
from ._replay import ReplayScheduler as ReplayScheduler

__all__ = ["DFSScheduler", "PCTScheduler", "RandomScheduler", "ReplayScheduler", "Scheduler"]
