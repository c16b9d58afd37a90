"""pcptrio — a deterministic trio emulation of Linux per-CPU page lists and drain_all_pages().

Architecture (imports only point down; ``tests/test_layers.py`` enforces it)::

    cli.py        L5  the ``pcptrio`` command: parses, calls L3/L4, prints
    _report/      L4  structlog setup, text tables, failure reports, Perfetto export
    testing.py    L4  pytest helpers: run a scenario, replay a token, assert an outcome
    _explore/     L3  runs and tokens, campaigns, shrinking, the hazard matrix, bench
    _scenarios/   L3  one scenario per hazard, plain workloads, the TOML loader
    _check/       L2  oracles: invariants and monitors, independent of designs
    _drain/       L2  drain_all_pages() designs, one module per kernel era, a registry
    _kernel/      L1  the machine: CPUs, zones/buddy, PCP, allocator, percpu, hotplug,
                      IPIs, workqueues
    _core/        L0  the engine: actors on trio run one at a time in an order chosen by a
                      scheduler; decisions, virtual time, sync primitives, deadlock, trace

This module only re-exports the public API.  Everything below an underscore is private.
"""

# L0 — the engine
# L2 — stage probes
from ._check import PROBES as PROBES
from ._check import oracle_names as oracle_names
from ._core import INHERIT as INHERIT
from ._core import MSEC as MSEC
from ._core import NSEC as NSEC
from ._core import SEC as SEC
from ._core import USEC as USEC
from ._core import Actor as Actor
from ._core import BadInput as BadInput
from ._core import Completion as Completion
from ._core import Decision as Decision
from ._core import DFSScheduler as DFSScheduler
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

# L2 — designs and oracles
from ._drain import BUILTIN_DESIGNS as BUILTIN_DESIGNS
from ._drain import CpuMask as CpuMask
from ._drain import DrainDesign as DrainDesign
from ._drain import build_cpus_with_pcps as build_cpus_with_pcps
from ._drain import design_names as design_names
from ._drain import design_ref as design_ref
from ._drain import flush_in_nursery as flush_in_nursery
from ._drain import install_design as install_design
from ._drain import register_design as register_design
from ._drain import resolve_design as resolve_design
from ._explore import OUTCOMES as OUTCOMES
from ._explore import CampaignConfig as CampaignConfig
from ._explore import CampaignResult as CampaignResult
from ._explore import RunSpec as RunSpec
from ._explore import ScheduleError as ScheduleError
from ._explore import code_fingerprint as code_fingerprint
from ._explore import explore as explore
from ._explore import make_run_spec as make_run_spec
from ._explore import replay as replay
from ._explore import run_bench as run_bench
from ._explore import run_campaign as run_campaign
from ._explore import run_matrix as run_matrix
from ._explore import run_spec as run_spec
from ._explore import run_spec_async as run_spec_async
from ._explore import run_verdict as run_verdict
from ._explore import shrink as shrink
from ._explore import shrink_failure as shrink_failure
from ._explore import token_of as token_of

# L1 — the machine (the kernel API designs are written against)
from ._kernel import GFP_ATOMIC as GFP_ATOMIC
from ._kernel import GFP_KERNEL as GFP_KERNEL
from ._kernel import PF_MEMALLOC as PF_MEMALLOC
from ._kernel import PF_WQ_WORKER as PF_WQ_WORKER
from ._kernel import WQ_MEM_RECLAIM as WQ_MEM_RECLAIM
from ._kernel import KernelFeatures as KernelFeatures
from ._kernel import Machine as Machine
from ._kernel import MachineParams as MachineParams
from ._kernel import PerCpuPages as PerCpuPages
from ._kernel import Protection as Protection
from ._kernel import TaskStruct as TaskStruct
from ._kernel import Workqueue as Workqueue
from ._kernel import WorkStruct as WorkStruct
from ._kernel import Zone as Zone
from ._kernel import ZoneSpec as ZoneSpec
from ._kernel import debug_check_no_obj_freed as debug_check_no_obj_freed
from ._kernel import destroy_work_on_stack as destroy_work_on_stack

# L4 — reports
from ._report import campaign_report as campaign_report

# L3 — scenarios and exploration
from ._scenarios import NotApplicable as NotApplicable
from ._scenarios import ScenarioDef as ScenarioDef
from ._scenarios import load_toml_scenario as load_toml_scenario
from ._scenarios import resolve_scenario as resolve_scenario
from ._scenarios import scenario_names as scenario_names
from ._version import __version__ as __version__
