"""Where every page is: the page-conservation sensor.

Each page frame (PFN) is in exactly one place: free in its zone's buddy, on one CPU's PCP list,
or allocated to one owner.  Every move between places goes through :class:`PageMap`, which
checks in O(1) that the page really was where the mover believes it was.  A mismatch is not
an exception in the model — it is what happens in the kernel when a race corrupts a list (a
page handed out that a drain already gave back to the buddy, a page freed twice) — so it is
reported to the listeners (the ``page-conservation`` oracle) and the model carries on.

:meth:`PageMap.audit` is the full check on demand: it walks the buddy blocks, every PCP list
and the owners, and verifies that each page of the machine appears exactly once and that every
PCP's ``count`` matches its lists.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from ._pcp import PerCpuPages
    from ._zone import Zone

__all__ = ["ALLOC", "BUDDY", "PCP", "PCP_PAGE", "PageError", "PageMap"]

BUDDY = 0
PCP = 1
#: ``PCP`` under the name the package exports (a page state, not a ``PerCpuPages``).
PCP_PAGE = PCP
ALLOC = 2
_WHERE = {BUDDY: "free in the buddy", PCP: "on a PCP list", ALLOC: "allocated"}


@attrs.frozen
class PageError:
    """A page was not where a move expected it: a lost, duplicated or corrupted page."""

    kind: str  # "double-place", "count-mismatch", "stale-list-entry", "audit"
    message: str
    pfn: int | None = None
    details: dict[str, Any] = attrs.field(factory=dict, eq=False)


class PageMap:
    """Location of every page of a machine, with O(1) checked moves."""

    def __init__(self, total_pages: int) -> None:
        self.state = bytearray(total_pages)  # all BUDDY at boot
        self.pcp_cpu: dict[int, int] = {}
        self.owner: dict[int, str] = {}
        self.mt: dict[int, int] = {}
        #: Sequence number of the link that put a PCP page where it is (residency identity).
        self.link_seq: dict[int, int] = {}
        self._seq = 0
        self.counts = [total_pages, 0, 0]  # BUDDY, PCP, ALLOC
        self.listeners: list[Callable[[PageError], None]] = []
        self.errors = 0

    # ---------------------------------------------------------------- reporting

    def report(self, err: PageError) -> None:
        self.errors += 1
        for fn in self.listeners:
            fn(err)

    def where(self, pfn: int) -> str:
        s = self.state[pfn]
        if s == PCP:
            return f"on cpu{self.pcp_cpu.get(pfn)}'s PCP list"
        if s == ALLOC:
            return f"allocated to {self.owner.get(pfn)}"
        return _WHERE[s]

    def _misplaced(self, pfn: int, want: int, cpu: int | None, action: str) -> None:
        """Report that ``pfn`` was not where a move expected it (the failure path only: the
        moves check inline and build this message only when it is reported)."""
        exp = _WHERE[want] if want != PCP else f"on cpu{cpu}'s PCP list"
        self.report(
            PageError(
                "double-place",
                f"page {pfn} {action}: expected it {exp}, but it is {self.where(pfn)}",
                pfn,
                {"expected": exp, "found": self.where(pfn), "action": action},
            )
        )

    # ---------------------------------------------------------------- moves
    #
    # The hot path of the allocator: each move checks the page's place inline (one bytearray
    # read) and updates ``counts`` itself; the message is formatted by ``_misplaced`` only
    # when the check fails.

    def buddy_to_pcp(self, pfn: int, cpu: int) -> None:
        state = self.state
        s = state[pfn]
        if s != BUDDY:
            self._misplaced(pfn, BUDDY, None, f"refilled onto cpu{cpu}'s PCP")
        c = self.counts
        c[s] -= 1
        c[PCP] += 1
        state[pfn] = PCP
        self.pcp_cpu[pfn] = cpu
        self._seq = seq = self._seq + 1
        self.link_seq[pfn] = seq

    def alloc_to_pcp(self, pfn: int, cpu: int) -> None:
        state = self.state
        s = state[pfn]
        if s != ALLOC:
            self._misplaced(pfn, ALLOC, None, f"freed onto cpu{cpu}'s PCP")
        self.owner.pop(pfn, None)
        c = self.counts
        c[s] -= 1
        c[PCP] += 1
        state[pfn] = PCP
        self.pcp_cpu[pfn] = cpu
        self._seq = seq = self._seq + 1
        self.link_seq[pfn] = seq

    def pcp_to_alloc(self, pfn: int, cpu: int, owner: str) -> None:
        state = self.state
        s = state[pfn]
        pcp_cpu = self.pcp_cpu
        if s != PCP or pcp_cpu.get(pfn) != cpu:
            self._misplaced(pfn, PCP, cpu, f"allocated from cpu{cpu}'s PCP")
        pcp_cpu.pop(pfn, None)
        self.link_seq.pop(pfn, None)
        c = self.counts
        c[s] -= 1
        c[ALLOC] += 1
        state[pfn] = ALLOC
        self.owner[pfn] = owner

    def pcp_to_buddy(self, pfn: int, cpu: int) -> None:
        state = self.state
        s = state[pfn]
        pcp_cpu = self.pcp_cpu
        if s != PCP or pcp_cpu.get(pfn) != cpu:
            self._misplaced(pfn, PCP, cpu, f"freed from cpu{cpu}'s PCP to the buddy")
        pcp_cpu.pop(pfn, None)
        self.link_seq.pop(pfn, None)
        c = self.counts
        c[s] -= 1
        c[BUDDY] += 1
        state[pfn] = BUDDY

    def buddy_to_alloc(self, pfn: int, owner: str) -> None:
        state = self.state
        s = state[pfn]
        if s != BUDDY:
            self._misplaced(pfn, BUDDY, None, "allocated from the buddy")
        c = self.counts
        c[s] -= 1
        c[ALLOC] += 1
        state[pfn] = ALLOC
        self.owner[pfn] = owner

    def buddy_to_alloc_block(self, head: int, n: int, owner: str, mt: int) -> None:
        """:meth:`buddy_to_alloc` of the ``n`` pages from ``head`` (a high-order allocation),
        with migratetype ``mt``: one check of the whole block; page by page (for the exact
        error) only if some page is not free."""
        state = self.state
        end = head + n
        if state.count(BUDDY, head, end) != n:
            for p in range(head, end):
                self.buddy_to_alloc(p, owner)
                self.mt[p] = mt
            return
        state[head:end] = bytes([ALLOC]) * n
        c = self.counts
        c[BUDDY] -= n
        c[ALLOC] += n
        pages = range(head, end)
        self.owner.update(dict.fromkeys(pages, owner))
        self.mt.update(dict.fromkeys(pages, mt))

    def alloc_to_buddy_block(self, head: int, n: int) -> None:
        """:meth:`alloc_to_buddy` of the ``n`` pages from ``head``: one check of the block;
        page by page (for the exact error) only if some page is not allocated."""
        state = self.state
        end = head + n
        if state.count(ALLOC, head, end) != n:
            for p in range(head, end):
                self.alloc_to_buddy(p)
            return
        state[head:end] = bytes([BUDDY]) * n
        c = self.counts
        c[ALLOC] -= n
        c[BUDDY] += n
        owner = self.owner
        for p in range(head, end):
            owner.pop(p, None)

    def alloc_to_buddy(self, pfn: int) -> None:
        state = self.state
        s = state[pfn]
        if s != ALLOC:
            self._misplaced(pfn, ALLOC, None, "freed to the buddy")
        self.owner.pop(pfn, None)
        c = self.counts
        c[s] -= 1
        c[BUDDY] += 1
        state[pfn] = BUDDY

    def give(self, pfn: int, owner: str) -> None:
        """Change the owner of an allocated page (e.g. the page cache takes it)."""
        if self.state[pfn] == ALLOC:
            self.owner[pfn] = owner
        else:
            self._misplaced(pfn, ALLOC, None, f"handed to {owner}")

    # ---------------------------------------------------------------- audit

    def _audit_clean(self, zones: list[Zone], pcps: list[PerCpuPages]) -> bool:
        """Whether :meth:`audit` would find nothing: buddy blocks disjoint and free, every
        PCP list page marked on that CPU's PCP and listed once, counts matching the lists,
        every owned page marked allocated, and every page accounted for.  (A page is then in
        exactly one place: its mark names one kind of place, and each kind is checked.)"""
        state = self.state
        blocks = sorted(
            (head, head + (1 << order)) for z in zones for head, order in z.free_blocks()
        )
        free_total = 0
        prev_end = -1
        for head, end in blocks:
            if head < prev_end or state.count(BUDDY, head, end) != end - head:
                return False
            prev_end = end
            free_total += end - head
        pcp_cpu = self.pcp_cpu
        listed: set[int] = set()
        n_listed = 0
        for p in pcps:
            total = 0
            cpu = p.cpu
            for lst in p.lists:
                total += len(lst)
                for pfn in lst:
                    if state[pfn] != PCP or pcp_cpu.get(pfn) != cpu:
                        return False
                listed.update(lst)
            if total != p.count:
                return False
            n_listed += total
        if len(listed) != n_listed:
            return False  # a page on two lists (or twice on one)
        for pfn in self.owner:
            if state[pfn] != ALLOC:
                return False
        return free_total + n_listed + len(self.owner) == len(state)

    def audit(self, zones: list[Zone], pcps: list[PerCpuPages]) -> list[PageError]:
        """Check every page of the machine is in exactly one place; counts match lists.

        Buddy blocks are checked as intervals (sorted, disjoint, every page marked free), the
        PCP lists and owners page by page; so an audit costs O(pages on PCPs and owned +
        free blocks · log), not O(memory).  A first pass only checks that everything holds
        (no message is built); the full pass below, which says what is wrong, runs when
        something does not.
        """
        if self._audit_clean(zones, pcps):
            return []
        errs: list[PageError] = []
        state = self.state
        blocks: list[tuple[int, int, str]] = []
        for z in zones:
            for head, order in z.free_blocks():
                blocks.append((head, head + (1 << order), z.name))
        blocks.sort()
        starts = [b[0] for b in blocks]
        free_total = 0
        prev_end = -1
        for head, end, zname in blocks:
            if head < prev_end:
                errs.append(PageError("audit", f"buddy blocks overlap at page {head}", head))
            prev_end = end
            free_total += end - head
            if state.count(BUDDY, head, end) != end - head:
                bad = next(p for p in range(head, end) if state[p] != BUDDY)
                errs.append(
                    PageError(
                        "audit",
                        f"page {bad} is in {zname}'s buddy but recorded as {self.where(bad)}",
                        bad,
                    )
                )

        def in_buddy(pfn: int) -> bool:
            i = bisect.bisect_right(starts, pfn) - 1
            return i >= 0 and blocks[i][0] <= pfn < blocks[i][1]

        seen: dict[int, str] = {}

        def place(pfn: int, where: str) -> None:
            prev = seen.get(pfn)
            if prev is None and in_buddy(pfn):
                prev = "free in the buddy"
            if prev is not None:
                errs.append(PageError("audit", f"page {pfn} is both {prev} and {where}", pfn))
            else:
                seen[pfn] = where

        for p in pcps:
            total = 0
            for mt, lst in enumerate(p.lists):
                for pfn in lst:
                    total += 1
                    place(pfn, f"on cpu{p.cpu}'s {p.zone.name} PCP list {mt}")
                    if state[pfn] != PCP or self.pcp_cpu.get(pfn) != p.cpu:
                        errs.append(
                            PageError(
                                "audit",
                                f"page {pfn} is on cpu{p.cpu}'s PCP list but recorded as "
                                f"{self.where(pfn)}",
                                pfn,
                            )
                        )
            if total != p.count:
                errs.append(
                    PageError(
                        "count-mismatch",
                        f"cpu{p.cpu}'s {p.zone.name} PCP count is {p.count} but its lists hold "
                        f"{total} pages",
                        None,
                        {"cpu": p.cpu, "zone": p.zone.name, "count": p.count, "listed": total},
                    )
                )
        for pfn, owner in self.owner.items():
            place(pfn, f"allocated to {owner}")
            if state[pfn] != ALLOC:
                errs.append(
                    PageError(
                        "audit", f"page {pfn} has owner {owner} but is {self.where(pfn)}", pfn
                    )
                )
        accounted = free_total + len(seen)
        total_pages = len(state)
        if accounted != total_pages:
            missing = [pfn for pfn in range(total_pages) if pfn not in seen and not in_buddy(pfn)]
            errs.append(
                PageError(
                    "audit",
                    f"{len(missing)} page(s) are nowhere (lost), e.g. {missing[:8]}",
                    missing[0] if missing else None,
                    {"lost": missing[:8]},
                )
            )
        return errs
