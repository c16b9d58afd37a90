"""The wait-for graph: who waits on what, and who holds it.

Built from the blocked actors when a run deadlocks (and by reports on demand).  Nodes are
actors (``actor:cpu1/kworker:0``) and resources (``mutex pcpu_alloc_mutex``,
``completion flush cpu2``).  Edges go actor → resource ("waits for") and resource → holder
("held by"); a holder may itself be a resource (a flush barrier is held by the work ahead of
it, which is held by its pool's workers).  Cycles are reported in a canonical rotation
(smallest node first) so the same deadlock always reads the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ._actor import Actor, ActorState

if TYPE_CHECKING:
    from ._engine import Waitable

__all__ = ["WaitGraph", "build_wait_graph"]


@attrs.frozen
class WaitGraph:
    edges: tuple[tuple[str, str, str], ...]  # (src, "waits for" | "held by", dst)
    cycles: tuple[tuple[str, ...], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "edges": [list(e) for e in self.edges],
            "cycles": [list(c) for c in self.cycles],
        }

    def render(self) -> str:
        lines = [f"  {s} --{rel}--> {d}" for s, rel, d in self.edges]
        for c in self.cycles:
            lines.append("  cycle: " + " -> ".join((*c, c[0])))
        return "\n".join(lines)


def _node(x: Actor | Waitable) -> str:
    if isinstance(x, Actor):
        return f"actor {x.name}"
    return x.wait_name


def build_wait_graph(actors: Sequence[Actor]) -> WaitGraph:
    edges: list[tuple[str, str, str]] = []
    adj: dict[str, list[str]] = {}
    seen_res: set[str] = set()

    def add(src: str, rel: str, dst: str) -> None:
        edges.append((src, rel, dst))
        adj.setdefault(src, []).append(dst)

    def expand(res: Waitable, depth: int) -> None:
        name = res.wait_name
        if name in seen_res or depth > 16:
            return
        seen_res.add(name)
        for h in res.wait_holders():
            add(name, "held by", _node(h))
            if not isinstance(h, Actor):
                expand(h, depth + 1)

    for a in actors:  # spawn order: deterministic
        if a.state is ActorState.BLOCKED and a.waiting_on is not None:
            add(_node(a), "waits for", a.waiting_on.wait_name)
            expand(a.waiting_on, 0)

    cycles: list[tuple[str, ...]] = []
    found: set[tuple[str, ...]] = set()
    # Small graphs: a DFS from every node, keeping each elementary cycle once.
    for start in list(adj):
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = [start]
        on_path = {start}
        while stack:
            node, i = stack[-1]
            nexts = adj.get(node, [])
            if i >= len(nexts):
                stack.pop()
                on_path.discard(path.pop())
                continue
            stack[-1] = (node, i + 1)
            nxt = nexts[i]
            if nxt == start:
                cyc = tuple(path)
                k = cyc.index(min(cyc))
                canon = cyc[k:] + cyc[:k]
                if canon not in found:
                    found.add(canon)
                    cycles.append(canon)
            elif nxt not in on_path and nxt > start:
                stack.append((nxt, 0))
                path.append(nxt)
                on_path.add(nxt)
    cycles.sort()
    return WaitGraph(tuple(edges), tuple(cycles))
