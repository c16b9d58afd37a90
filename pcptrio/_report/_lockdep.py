"""A dependency cycle of a deadlock (or of a stuck drain) in the shape of lockdep's "possible
circular locking dependency detected" report: who waits for what, who holds it, the step at
which each lock was taken and each wait began, and, for a cycle of locks between threads,
lockdep's "Possible unsafe locking scenario" table.

The cycle comes from the wait-for graph (``RunResult.wait_graph``): it alternates threads
(``actor X``) and what they wait for — locks (``mutex``, ``rwsem``, ``spinlock``), completions
(a flush, a ``kthread_create``), a worker pool, a nursery's children.  Lockdep itself only sees
locks; the model also closes cycles through works, completions and kthreadd, which is how the
workqueue hangs (H7, H8) look.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._core import RunResult, TraceRecord

__all__ = ["lockdep_report"]

_LOCK_KINDS = ("mutex ", "rwsem ", "spinlock ")
_TAKE = frozenset(
    {"mutex_lock", "mutex_trylock", "down_read", "down_write", "spin_lock", "spin_trylock"}
)
_RULE = "=" * 54
_THIN = "-" * 54


def _lock_name(node: str) -> str | None:
    for k in _LOCK_KINDS:
        if node.startswith(k):
            return node[len(k) :]
    return None


def _last(trace: Sequence[TraceRecord], actor: str, pred: Any) -> TraceRecord | None:
    for rec in reversed(trace):
        if rec[2] == actor and pred(rec):
            return rec
    return None


def _taken(trace: Sequence[TraceRecord], actor: str, lock: str) -> str:
    rec = _last(trace, actor, lambda r: r[4] in _TAKE and r[5].get("lock") == lock)
    return f"step {rec[0]}" if rec is not None else "before the trace"


def _waits_since(trace: Sequence[TraceRecord], actor: str, node: str) -> str:
    rec = _last(trace, actor, lambda r: r[5].get("on") == node)
    return f"step {rec[0]}, {rec[4]}" if rec is not None else "its last step"


def lockdep_report(r: RunResult, pids: dict[str, int] | None = None) -> str | None:
    """The first dependency cycle of ``r``'s wait-for graph as lockdep would print it, or
    None when the graph has no cycle."""
    graph = r.wait_graph
    v = r.violation
    if graph is None and v is not None and isinstance(v.details.get("graph"), dict):
        graph = v.details["graph"]
    cycles = (graph or {}).get("cycles") or []
    if not cycles:
        return None
    cycle: list[str] = list(cycles[0])
    # rotate so the cycle starts at a thread
    while cycle and not cycle[0].startswith("actor "):
        cycle.append(cycle.pop(0))
    trace = r.trace
    pids = pids or {}

    def who(node: str) -> str:
        name = node[len("actor ") :]
        return f"{name}/{pids[name]}" if name in pids else name

    # (thread, what it waits for, what it holds = the node before it in the cycle)
    hops: list[tuple[str, str, str]] = []
    n = len(cycle)
    for i, node in enumerate(cycle):
        if node.startswith("actor "):
            hops.append((node, cycle[(i + 1) % n], cycle[(i - 1) % n]))
    extra = r.extra
    what = f"{extra['scenario']} × {extra['design']}" if "scenario" in extra else "run"
    locks_only = all(_lock_name(h) is not None for _, _, h in hops)
    if not locks_only:
        return _wait_cycle(hops, what, trace, who, len(cycles))
    first_actor, first_wait, first_hold = hops[0]
    lines = [
        _RULE,
        "WARNING: possible circular locking dependency detected",
        f"pcptrio {what}",
        _THIN,
        f"{who(first_actor)} is trying to acquire lock:",
        f" ({first_wait}), waiting since {_waits_since(trace, first_actor[6:], first_wait)}",
        "",
        "but task is already holding lock:",
        f" ({first_hold}), taken at {_taken(trace, first_actor[6:], str(_lock_name(first_hold)))}",
        "",
        "which lock already depends on the new lock.",
        "",
        "the existing dependency chain (in reverse order) is:",
        "",
    ]
    # lockdep numbers the locks from the new one (#0) along the chain; it prints #n-1 first
    holder = {wait: cycle[(cycle.index(wait) + 1) % n] for _, wait, _ in hops}
    chain = []
    lock = first_wait
    for _ in hops:
        chain.append(lock)
        owner = holder[lock]
        lock = next(w for a, w, _ in hops if a == owner)
    for k in reversed(range(len(chain))):
        lk = chain[k]
        owner = holder[lk]
        name = str(_lock_name(lk))
        nxt = next(w for a, w, _ in hops if a == owner)
        lines.append(f"-> #{k} ({lk}): taken by {who(owner)} at {_taken(trace, owner[6:], name)},")
        lines.append(
            f"       which then waits for ({nxt}) since {_waits_since(trace, owner[6:], nxt)}"
        )
        lines.append("")
    if 2 <= len(hops) <= 4:
        width = 24
        cols = [who(a) for a, _, _ in hops]
        lines += [
            "other info that might help us debug this:",
            "",
            " Possible unsafe locking scenario:",
            "",
            "       " + "".join(c.ljust(width) for c in cols).rstrip(),
            "       " + "".join(("-" * len(c)).ljust(width) for c in cols).rstrip(),
        ]
        for i, (_, _, holds) in enumerate(hops):
            lines.append("  " + " " * (width * i) + f"lock({_lock_name(holds)});")
        for i, (_, waits, _) in enumerate(hops):
            lines.append("  " + " " * (width * i) + f"lock({_lock_name(waits)});")
        lines += ["", " *** DEADLOCK ***", ""]
    if len(cycles) > 1:
        lines.append(f"({len(cycles) - 1} more cycle(s) in the wait-for graph below)")
    return "\n".join(lines).rstrip()


def _wait_cycle(
    hops: list[tuple[str, str, str]],
    what: str,
    trace: Sequence[TraceRecord],
    who: Any,
    ncycles: int,
) -> str:
    """A cycle through completions, works, pools or joins: not a lock cycle, so lockdep
    would stay silent; the hung-task watchdog is what reports such a machine."""
    lines = [
        _RULE,
        "INFO: circular wait detected (not only locks: lockdep would not report it)",
        f"pcptrio {what}",
        _THIN,
    ]
    for actor, waits, _holds in hops:
        lines.append(
            f"{who(actor)} waits for ({waits}) since {_waits_since(trace, actor[6:], waits)},"
        )
        owner = next((a for a, _w, h in hops if h == waits), None)
        if owner is not None:
            lines.append(f"  which {who(owner)} holds or must complete")
    lines.append(" ... and round again: nobody can go on")
    if ncycles > 1:
        lines.append(f"({ncycles - 1} more cycle(s) in the wait-for graph below)")
    return "\n".join(lines)
