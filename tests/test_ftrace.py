"""``--ftrace``: the kernel's trace-file header, Perfetto's systrace line grammar on every
line, tracepoint names where the kernel has them."""

from __future__ import annotations

import pathlib
import re

import pytest

from tests.test_cli import assert_bad_input, cli

#: Perfetto's systrace importer (src/trace_processor/importers/systrace/
#: systrace_line_tokenizer.cc): the task is what precedes the match.
PERFETTO_LINE = re.compile(
    r"-(\d+)\s+\(?\s*(\d+|-+)?\)?\s?\[(\d+)\]\s*[a-zA-Z0-9.]{0,4}\s+(\d+\.\d+):\s+(\S+):"
)

HEADER = """\
# tracer: nop
#
# entries-in-buffer/entries-written: {n}/{n}   #P:4
#
#                              _-----=> irqs-off
#                             / _----=> need-resched
#                            | / _---=> hardirq/softirq
#                            || / _--=> preempt-depth
#                            ||| /     delay
#           TASK-PID   CPU#  ||||    TIMESTAMP  FUNCTION
#              | |       |   ||||       |         |
"""

KERNEL_TRACEPOINTS = {
    "sched_switch",
    "sched_wakeup",
    "mm_page_alloc_zone_locked",
    "workqueue_queue_work",
    "workqueue_activate_work",
    "workqueue_execute_start",
    "workqueue_execute_end",
    "ipi_raise",
    "ipi_entry",
    "ipi_exit",
    "irq_handler_entry",
    "mm_page_alloc",
    "mm_page_free",
    "mm_page_pcpu_drain",
    "cpuhp_enter",
    "cpuhp_exit",
    "lock_acquire",
    "lock_contended",
    "lock_acquired",
    "lock_release",
    "sched_migrate_task",
}


def _ftrace(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path, *argv: str
) -> tuple[int, str]:
    out = tmp_path / f"trace{len(list(tmp_path.iterdir()))}.txt"
    rc, _, err = cli(capsys, "run", *argv, "--ftrace", str(out))
    assert "Traceback" not in err
    return rc, out.read_text()


def _body(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if not ln.startswith("#")]


def test_header_and_golden_lines(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    rc, text = _ftrace(capsys, tmp_path, "drain-from-kworker", "--design", "wq-4.11")
    assert rc == 1
    body = _body(text)
    assert text.startswith(HEADER.format(n=len(body)))
    assert (
        "   kworker-drain-17    [000] ....     0.000004: workqueue_queue_work: "
        "work struct=00000000bf4e982e function=acpi_hotplug_work_fn workqueue=events "
        "req_cpu=0 cpu=0"
    ) in body
    assert (
        "     kworker/0:1-19    [000] ....     0.001014: workqueue_execute_start: "
        "work struct 00000000bf4e982e: function acpi_hotplug_work_fn"
    ) in body


@pytest.mark.parametrize(
    "argv",
    [
        ("drain-from-kworker", "--design", "wq-4.11"),
        ("offline-during-drain", "--design", "wq-rfc", "--seed", "3"),
        ("drain-storm", "--design", "ipi", "--cpus", "3"),
        ("count-race", "--design", "remote-6.11"),
        ("hotplug-lock-abba", "--design", "wq-hotplug", "--seed", "1"),
    ],
)
def test_every_line_fits_perfettos_systrace_grammar(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path, argv: tuple[str, ...]
) -> None:
    _, text = _ftrace(capsys, tmp_path, *argv)
    ncpus = int(re.search(r"#P:(\d+)", text).group(1))  # type: ignore[union-attr]
    last = 0.0
    names = set()
    body = _body(text)
    assert body
    for ln in body:
        m = PERFETTO_LINE.search(ln)
        assert m, ln
        task = ln[: m.start()].strip()
        assert task and int(m.group(1)) >= 0, ln
        assert 0 <= int(m.group(3)) < ncpus, ln
        ts = float(m.group(4))
        assert ts >= last, ln  # the file is in time order
        last = ts
        name = m.group(5)
        assert name in KERNEL_TRACEPOINTS or name.startswith("pcptrio_"), ln
        names.add(name)
    assert {"sched_switch", "lock_acquire"} <= names
    # per CPU, the switches chain: each switches out the thread the previous one switched in
    running: dict[int, str] = {}
    for ln in body:
        m = re.search(r"\[(\d+)\].*sched_switch: prev_comm=(\S+) .*next_comm=(\S+) ", ln)
        if m:
            cpu, prev, nxt = int(m.group(1)), m.group(2), m.group(3)
            assert running.get(cpu, prev) == prev, ln
            running[cpu] = nxt


def test_hotplug_ipis_and_works_get_kernel_tracepoints(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    _, text = _ftrace(capsys, tmp_path, "offline-during-drain", "--design", "wq-rfc", "--seed", "3")
    names = {PERFETTO_LINE.search(ln).group(5) for ln in _body(text)}  # type: ignore[union-attr]
    assert {
        "cpuhp_enter",
        "cpuhp_exit",
        "workqueue_execute_start",
        "mm_page_alloc",
        "mm_page_alloc_zone_locked",
        "sched_wakeup",
    } <= names
    _, text = _ftrace(capsys, tmp_path, "drain-storm", "--design", "ipi")
    names = {PERFETTO_LINE.search(ln).group(5) for ln in _body(text)}  # type: ignore[union-attr]
    assert "ipi_raise" in names


def test_ftrace_refuses_to_overwrite(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "trace.txt"
    out.write_text("mine")
    line = assert_bad_input(
        *cli(capsys, "run", "count-race", "--design", "ipi", "--ftrace", str(out))
    )
    assert "--force" in line and out.read_text() == "mine"
