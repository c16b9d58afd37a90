"""L0 — the deterministic engine on trio.  Knows nothing about pages or workqueues.

Re-exports only; see ``_engine.py`` for how the baton works.
"""

from typing import Any

from ._actor import CPU as CPU
from ._actor import INHERIT as INHERIT
from ._actor import Actor as Actor
from ._actor import ActorState as ActorState
from ._engine import Engine as Engine
from ._engine import RunOver as RunOver
from ._engine import Waitable as Waitable
from ._engine import current_engine as current_engine
from ._errors import BadInput as BadInput
from ._errors import ForeignBlockError as ForeignBlockError
from ._errors import ModelError as ModelError
from ._errors import PcptrioError as PcptrioError
from ._errors import ReplayDrift as ReplayDrift
from ._errors import TokenError as TokenError
from ._gc import collect_run_garbage as collect_run_garbage
from ._gc import quiet_gc as quiet_gc
from ._nursery import EngineNursery as EngineNursery
from ._result import RunResult as RunResult
from ._result import RunStatistics as RunStatistics
from ._schedulers import DFSScheduler as DFSScheduler
from ._schedulers import PCTScheduler as PCTScheduler
from ._schedulers import RandomScheduler as RandomScheduler
from ._schedulers import ReplayScheduler as ReplayScheduler
from ._schedulers import Scheduler as Scheduler
from ._sync import Completion as Completion
from ._sync import Mutex as Mutex
from ._sync import RWSemaphore as RWSemaphore
from ._sync import SpinLock as SpinLock
from ._sync import WaitQueue as WaitQueue
from ._time import MSEC as MSEC
from ._time import NSEC as NSEC
from ._time import SEC as SEC
from ._time import USEC as USEC
from ._time import Timer as Timer
from ._token import MAX_BODY_BYTES as MAX_BODY_BYTES
from ._token import MAX_CONTAINERS as MAX_CONTAINERS
from ._token import MAX_DEPTH as MAX_DEPTH
from ._token import MAX_TOKEN_CHARS as MAX_TOKEN_CHARS
from ._token import TOKEN_PREFIX as TOKEN_PREFIX
from ._token import decode_token as decode_token
from ._token import encode_token as encode_token
from ._token import pack_decisions as pack_decisions
from ._token import unpack_decisions as unpack_decisions
from ._trace import TraceRecord as TraceRecord
from ._trace import record_dict as record_dict
from ._trace import render_jsonl as render_jsonl
from ._trace import trace_sha256 as trace_sha256
from ._values import Decision as Decision
from ._values import Outcome as Outcome
from ._values import Violation as Violation
from ._waitgraph import WaitGraph as WaitGraph
from ._waitgraph import build_wait_graph as build_wait_graph


async def point(event: str, **fields: Any) -> None:
    """A scheduling point in the current run (``await point("label")``)."""
    await current_engine().point(event, **fields)


def current() -> Actor:
    """The actor taking the current step of the current run."""
    return current_engine().current
