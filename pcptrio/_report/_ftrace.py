"""The trace as ftrace's text output (``pcptrio run|replay --ftrace out.txt``).

The layout is the kernel's ``trace`` file with the four-column latency flags
(``kernel/trace/trace_output.c``, ``trace_print_lat_fmt``)::

    # tracer: nop
    #
    # entries-in-buffer/entries-written: 2170/2170   #P:4
    #
    #                              _-----=> irqs-off
    #                             / _----=> need-resched
    #                            | / _---=> hardirq/softirq
    #                            || / _--=> preempt-depth
    #                            ||| /     delay
    #           TASK-PID   CPU#  ||||    TIMESTAMP  FUNCTION
    #              | |       |   ||||       |         |
         kworker/1:0-4     [001] d..1     0.006013: workqueue_execute_start: ...

Every record of the run is one line, at its virtual time (seconds, microseconds as the kernel
prints them), in time order as the kernel merges its per-CPU buffers (a CPU that ran ahead
on its local clock has its lines sorted in; records of one time keep the run's order).
Events get the kernel's tracepoint name and fields where one exists —
``sched_switch`` (between two steps of a CPU whose running thread changed),
``sched_wakeup`` (at the step of the thread that woke it), ``mm_page_alloc_zone_locked``
(a PCP refill from the buddy),
``workqueue_queue_work``, ``workqueue_activate_work``,
``workqueue_execute_start``/``_end``, ``ipi_raise``/``ipi_entry``/``ipi_exit``,
``irq_handler_entry``, ``mm_page_alloc``, ``mm_page_free``, ``mm_page_pcpu_drain``,
``cpuhp_enter``/``cpuhp_exit`` and lockdep's ``lock_acquire``/``lock_release`` — and the
rest keep their model name behind a ``pcptrio_`` prefix.  Pids are the threads' spawn order;
timer callbacks are ``<idle>-0``.  The flags come from the thread that took the step
(``StepRow.flags``): IRQs off, hardirq context, preempt depth; need-resched is not modelled
(always ``.``).  Perfetto's systrace importer reads the file (its line grammar is checked in
the tests).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

from .._core import RunResult
from ._rows import StepRow

__all__ = ["FTRACE_HEADER", "ftrace_text"]

FTRACE_HEADER = """\
# tracer: nop
#
# entries-in-buffer/entries-written: {n}/{n}   #P:{cpus}
#
#                              _-----=> irqs-off
#                             / _----=> need-resched
#                            | / _---=> hardirq/softirq
#                            || / _--=> preempt-depth
#                            ||| /     delay
#           TASK-PID   CPU#  ||||    TIMESTAMP  FUNCTION
#              | |       |   ||||       |         |
"""

_LOCK_TAKEN = frozenset({"mutex_lock", "spin_lock", "down_read", "down_write"})
_LOCK_WAIT = frozenset({"mutex_wait", "spin_wait", "down_read_wait", "down_write_wait"})
_LOCK_RELEASED = frozenset({"mutex_unlock", "spin_unlock", "up_read", "up_write"})
#: A thread's last event before it left its CPU -> ``prev_state`` of ``sched_switch``.
_IDLE_WAITS = frozenset({"worker_idle", "rescuer_idle", "kthreadd_idle"})


def _prev_state(event: str | None) -> str:
    if event in _IDLE_WAITS:
        return "I"
    if event == "exit":
        return "X"
    if event is not None and (event.endswith("_wait") or event.startswith("wait_for")):
        return "D"
    if event in ("sleep", "nursery_join", "block", "flush_work"):
        return "D"
    return "R+"


def _addr(name: str) -> str:
    """A stable pseudo-address for a lock or work (lockdep prints the object's address)."""
    return f"{zlib.crc32(name.encode()):016x}"


def _val(v: Any) -> str:
    if v is None:
        return "(null)"
    if isinstance(v, bool):
        return str(int(v))
    return str(v)


def _kv(fields: dict[str, Any]) -> str:
    return " ".join(f"{k}={_val(v)}" for k, v in fields.items())


def _event(event: str, f: dict[str, Any], funcs: dict[str, str]) -> tuple[str, str]:
    """(tracepoint, fields) of one model record; ``funcs``: work label -> its function."""
    if event == "queue_work_on":
        work = str(f.get("work"))
        return "workqueue_queue_work", (
            f"work struct={_addr(work)} function={funcs.get(work, work)} "
            f"workqueue={f.get('wq')} req_cpu={f.get('target')} cpu={f.get('target')}"
        )
    if event == "work_queued" and not f.get("delayed"):
        return "workqueue_activate_work", f"work struct {_addr(str(f.get('work')))}"
    if event in ("work_start", "work_end"):
        name = "workqueue_execute_start" if event == "work_start" else "workqueue_execute_end"
        return name, f"work struct {_addr(str(f.get('work')))}: function {f.get('func')}"
    if event == "irq_raise":
        return "ipi_raise", f"target_mask={f.get('target')} (Function call interrupts)"
    if event == "rmqueue_bulk":
        return "mm_page_alloc_zone_locked", (
            f"order=0 percpu_refill=1 cpu={f.get('target')} zone={f.get('zone')} "
            f"pages={f.get('pages')}"
        )
    if event in ("pcp_alloc", "pcp_free"):
        name = "mm_page_alloc" if event == "pcp_alloc" else "mm_page_free"
        return name, f"pfn=0x{int(f.get('pfn', 0)):x} order=0 zone={f.get('zone')}"
    if event == "pcp_bulk_free":
        return "mm_page_pcpu_drain", (
            f"cpu={f.get('target')} zone={f.get('zone')} pages={f.get('freed')}"
        )
    if event == "cpuhp_callback":
        return "cpuhp_enter", (
            f"cpu: {int(f.get('target', 0)):04d} target: {f.get('phase')} step: {f.get('callback')}"
        )
    if event in ("cpu_down_end", "cpu_up_end"):
        return "cpuhp_exit", f"cpu: {int(f.get('target', 0)):04d} state: {event[:-4]} ret: 0"
    if event == "migrate":
        return "sched_migrate_task", (
            f"comm={f.get('_comm')} pid={f.get('_pid')} prio=120 orig_cpu={f.get('src')} "
            f"dest_cpu={f.get('dst')}"
        )
    lock = f.get("lock")
    if isinstance(lock, str):
        if event in _LOCK_TAKEN:
            return "lock_acquire", f"{_addr(lock)} {lock}"
        if event == "trylock_result" and f.get("ok"):
            return "lock_acquire", f"{_addr(lock)} trylock {lock}"
        if event in _LOCK_WAIT:
            return "lock_contended", f"{_addr(lock)} {lock}"
        if event == "lock_acquired":
            return "lock_acquired", f"{_addr(lock)} {lock}"
        if event in _LOCK_RELEASED:
            return "lock_release", f"{_addr(lock)} {lock}"
    return "pcptrio_" + event, _kv({k: v for k, v in f.items() if not k.startswith("_")})


def _ts(t_ns: int) -> str:
    return f"{t_ns // 1_000_000_000:5d}.{(t_ns // 1000) % 1_000_000:06d}"


def _line(comm: str, pid: int, cpu: int, flags: str, t_ns: int, name: str, text: str) -> str:
    return f"{comm:>16}-{pid:<5} [{cpu:03d}] {flags} {_ts(t_ns)}: {name}: {text}".rstrip()


def ftrace_text(
    r: RunResult,
    rows: Sequence[StepRow],
    pids: dict[str, int],
    wakes: Sequence[tuple[int, int, str, str, int]] = (),
) -> str:
    """The run ``r`` as an ftrace text file; ``rows``, ``pids`` and ``wakes`` come from a
    :class:`~pcptrio._report._rows.RowCollector` on a replay of it.

    ``sched_switch`` follows each CPU's running thread in the rows: a thread that leaves its
    CPU and another that takes it at the same virtual time is one switch (``prev_state``
    from the leaving thread's last event: ``D`` waiting, ``I`` an idle worker, ``X`` exited,
    ``R+`` preempted); a CPU left idle in between switches to ``swapper/N`` and back.
    Interrupt handlers run on top of the interrupted thread and switch nothing."""
    by_step = {row.step: row for row in rows}
    ncpus = max((len(row.cpus) for row in rows), default=1)
    running: list[str | None] = [None] * ncpus
    left: list[tuple[str, int] | None] = [None] * ncpus  # (thread, time) a CPU went idle
    last_event: dict[str, str] = {}
    lines: list[tuple[int, str]] = []
    funcs = {
        str(f.get("work")): str(f.get("func"))
        for _s, _t, _a, _c, ev, f in r.trace
        if ev == "work_start" and f.get("func") is not None
    }

    def who(actor: str) -> tuple[str, int]:
        return ("<idle>", 0) if actor == "-" else (actor, pids.get(actor, 0))

    def switch(k: int, t: int, prev: str | None, nxt: str | None) -> None:
        pc, pp = who(prev) if prev is not None else (f"swapper/{k}", 0)
        nc, np_ = who(nxt) if nxt is not None else (f"swapper/{k}", 0)
        state = _prev_state(last_event.get(prev)) if prev is not None else "R"
        task, pid = (pc, pp) if prev is not None else ("<idle>", 0)
        text = (
            f"prev_comm={pc} prev_pid={pp} prev_prio=120 prev_state={state} ==> "
            f"next_comm={nc} next_pid={np_} next_prio=120"
        )
        lines.append((t, _line(task, pid, k, "d..2", t, "sched_switch", text)))

    def is_irq(actor: str | None) -> bool:
        return actor is not None and actor.startswith(("ipi:", "irq:"))

    def track(row: StepRow, t: int) -> None:
        for k, cell in enumerate(row.cpus):
            new = cell.actor
            if is_irq(new) or new == running[k]:
                continue
            if new is None:  # the CPU goes idle (or its thread blocks): decide later
                was = running[k]
                if was is not None:
                    left[k] = (was, t)
                running[k] = None
                continue
            gone = left[k]
            if running[k] is not None:  # preempted in favour of another thread
                switch(k, t, running[k], new)
            elif gone is not None and gone[1] == t:
                switch(k, t, gone[0], new)
            else:
                if gone is not None:
                    switch(k, gone[1], gone[0], None)
                switch(k, t, None, new)
            running[k] = new
            left[k] = None

    handlers_seen: set[str] = set()
    wake_at: dict[int, list[tuple[int, int, str, str, int]]] = {}
    for w in wakes:
        wake_at.setdefault(w[0], []).append(w)
    last_cpu: dict[str, int] = {}

    def flush_wakes(step: int) -> None:
        for _s, t, woken, waker, target in wake_at.pop(step, []):
            wc, wp = who(waker)
            nc, np_ = who(woken)
            c = last_cpu.get(waker, 0)
            text = f"comm={nc} pid={np_} prio=120 target_cpu={target:03d}"
            lines.append((t, _line(wc, wp, c, "d..3", t, "sched_wakeup", text)))

    prev_step = None
    for step, t_ns, actor, cpu, event, fields in r.trace:
        if prev_step is not None and step != prev_step:
            flush_wakes(prev_step)
        prev_step = step
        row = by_step.get(step)
        comm, pid = who(actor)
        c = cpu if cpu is not None else last_cpu.get(actor, 0)
        flags = row.flags if row is not None and row.actor == actor else "...."
        if actor == "-":
            flags = "..s."  # a timer callback: softirq context
        if row is not None and row.actor == actor and row.event == event:
            track(row, t_ns)
            if is_irq(actor) and actor not in handlers_seen:
                handlers_seen.add(actor)
                name, text = (
                    ("ipi_entry", "(Function call interrupts)")
                    if actor.startswith("ipi:")
                    else ("irq_handler_entry", f"irq={pid} name={actor}")
                )
                lines.append((t_ns, _line(comm, pid, c, flags, t_ns, name, text)))
        if cpu is not None:
            last_cpu[actor] = cpu
        last_event[actor] = event
        if event == "exit" and actor.startswith("ipi:"):
            text = "(Function call interrupts)"
            lines.append((t_ns, _line(comm, pid, c, flags, t_ns, "ipi_exit", text)))
            continue
        f = {**fields, "_comm": comm, "_pid": pid} if event == "migrate" else fields
        name, text = _event(event, f, funcs)
        lines.append((t_ns, _line(comm, pid, c, flags, t_ns, name, text)))
    for step in sorted(wake_at):
        flush_wakes(step)
    # CPUs may run ahead of one another (local clocks): like the kernel merging its per-CPU
    # buffers, the file is in time order (records of one time keep the run's order).
    lines.sort(key=lambda x: x[0])
    header = FTRACE_HEADER.format(n=len(lines), cpus=ncpus)
    return header + "\n".join(ln for _, ln in lines) + "\n"
