"""pcptrio — a deterministic trio emulation of Linux per-CPU page lists and drain_all_pages().

Architecture (imports only point down; ``tests/test_layers.py`` enforces it)::

    cli.py        L5  the ``pcptrio`` command: parses, calls L3/L4, prints
    _report/      L4  structlog setup, text tables, JSON, Perfetto export, plots
    testing.py    L4  pytest helpers: run a scenario, replay a token, assert an outcome
    _explore/     L3  campaigns: many schedules, shrinking, replay tokens, worker pool
    _scenarios/   L3  one scenario per hazard, plain workloads, the TOML loader
    _check/       L2  oracles: invariants and monitors, independent of designs
    _drain/       L2  drain_all_pages() designs, one module per kernel era, a registry
    _kernel/      L1  the machine: CPUs, zones/buddy, PCP, allocator, percpu, hotplug,
                      IPIs, workqueues
    _core/        L0  the engine: actors on trio run one at a time in an order chosen by a
                      scheduler; decisions, virtual time, sync primitives, deadlock, trace

This module only re-exports.  Everything below an underscore is private.
"""

from ._core import INHERIT as INHERIT
from ._core import MSEC as MSEC
from ._core import NSEC as NSEC
from ._core import SEC as SEC
from ._core import USEC as USEC
from ._core import Actor as Actor
from ._core import BadInput as BadInput
from ._core import Completion as Completion
from ._core import Decision as Decision
from ._core import Engine as Engine
from ._core import ModelError as ModelError
from ._core import Mutex as Mutex
from ._core import Outcome as Outcome
from ._core import PCTScheduler as PCTScheduler
from ._core import RandomScheduler as RandomScheduler
from ._core import ReplayDrift as ReplayDrift
from ._core import ReplayScheduler as ReplayScheduler
from ._core import RunResult as RunResult
from ._core import RWSemaphore as RWSemaphore
from ._core import Scheduler as Scheduler
from ._core import SpinLock as SpinLock
from ._core import TokenError as TokenError
from ._core import Violation as Violation
from ._core import WaitQueue as WaitQueue
from ._core import current as current
from ._core import decode_token as decode_token
from ._core import encode_token as encode_token
from ._core import point as point
from ._version import __version__ as __version__
