"""Decisions, replay tokens, strict replay and drift, and cross-process determinism."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from pcptrio._core import (
    Engine,
    Outcome,
    RandomScheduler,
    ReplayScheduler,
    RunResult,
    Scheduler,
    TokenError,
    decode_token,
    encode_token,
)


async def _toy(sched: Scheduler, incs: int = 3) -> tuple[RunResult, int]:
    e = Engine(cpus=2, scheduler=sched)
    box = {"n": 0}

    async def inc() -> None:
        for _ in range(incs):
            v = box["n"]
            await e.point("read", v=v)
            if e.chance("slow-path", 0.3):
                await e.spend(100)
            box["n"] = v + 1
            await e.point("write", v=v + 1)

    async def main() -> None:
        async with e.open_nursery() as n:
            n.start_soon(inc, name="a", cpu=0)
            n.start_soon(inc, name="b", cpu=1)
        if box["n"] != 2 * incs:
            from pcptrio._core import Violation

            e.report_violation(Violation("lost-update", f"counter is {box['n']}"))

    r = await e.run(main)
    return r, box["n"]


async def _first_failure() -> RunResult:
    for seed in range(100):
        r, _ = await _toy(RandomScheduler(seed))
        if r.outcome is Outcome.VIOLATION:
            return r
    raise AssertionError("no failing seed in 100")


async def test_replaying_a_failing_run_reproduces_it_byte_for_byte() -> None:
    """A recorded failing run, replayed from its token, fails the same way with the same bytes."""
    r = await _first_failure()
    token = encode_token({"toy": "racy", "incs": 3}, r.decision_list)
    assert token.startswith("pcptrio1:") and "\n" not in token
    spec, decisions = decode_token(token)
    assert spec == {"toy": "racy", "incs": 3}
    r2, _ = await _toy(ReplayScheduler(decisions))
    assert r2.outcome is Outcome.VIOLATION
    assert r2.violation is not None and r.violation is not None
    assert r2.violation.message == r.violation.message
    assert r2.trace_jsonl == r.trace_jsonl


async def test_decisions_include_model_choices() -> None:
    """chance() is a recorded decision with its label and choice-set size."""
    r = await _first_failure()
    labels = {label for label, _, _ in r.decisions}
    assert "sched" in labels and "slow-path" in labels
    assert all(n >= 2 and 0 <= c < n for _, n, c in r.decisions)


async def test_strict_replay_reports_drift() -> None:
    """Replaying decisions on a different program stops with a clear drift message."""
    r = await _first_failure()
    r2, _ = await _toy(ReplayScheduler(r.decision_list), incs=5)
    assert r2.outcome is Outcome.ERROR
    assert r2.error is not None and r2.error.startswith("replay drift at step ")
    assert "expected" in r2.error and "got" in r2.error


async def test_lenient_replay_fills_in_defaults() -> None:
    """Lenient replay of an empty decision list runs with default choices, no error."""
    r, n = await _toy(ReplayScheduler([], strict=False))
    assert r.outcome is Outcome.OK and n == 6


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-7],
        lambda t: t[:30] + ("A" if t[30] != "A" else "B") + t[31:],
        lambda t: "shuttle:" + t.split(":", 1)[1],
        lambda t: "not a token at all",
        lambda t: "pcptrio1:",
    ],
    ids=["truncated", "one-char-changed", "foreign-prefix", "garbage", "empty-body"],
)
def test_tampered_token_is_a_clear_error(mangle: object) -> None:
    """A truncated, edited or foreign token is refused with a TokenError, not a traceback."""
    from pcptrio._core import Decision

    token = encode_token({"x": 1}, [Decision("sched", 3, 1), Decision("timer", 2, 0)] * 40)
    bad = mangle(token)  # type: ignore[operator]
    with pytest.raises(TokenError) as info:
        decode_token(bad)
    assert "token" in str(info.value)


_SCRIPT = textwrap.dedent(
    """
    import trio
    from pcptrio._core import Engine, RandomScheduler, Mutex

    async def run():
        e = Engine(cpus=3, scheduler=RandomScheduler(1234))
        m = Mutex(e, "m")
        shared = {}

        async def worker(i):
            for k in range(6):
                await m.lock()
                shared[f"k{i}-{k}"] = {"v": k, "who": e.current.name}
                await e.point("inside", key=f"k{i}-{k}", size=len(shared))
                await m.unlock()
                if e.chance("nap", 0.4):
                    await e.sleep(10 * (i + 1))

        async def main():
            async with e.open_nursery() as n:
                for i in range(5):
                    n.start_soon(worker, i, name=f"w{i}", cpu=i % 3)

        r = await e.run(main)
        print(r.trace_sha256, r.stats.steps)

    trio.run(run)
    """
)


def test_trace_is_identical_across_processes_and_hash_seeds() -> None:
    """The same run in subprocesses with different PYTHONHASHSEEDs has the same trace hash."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    outs = set()
    for hs in ("0", "1", "4242"):
        env = dict(os.environ, PYTHONHASHSEED=hs, PYTHONPATH=root)
        out = subprocess.run(
            [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, check=True
        )
        outs.add(out.stdout.strip())
    assert len(outs) == 1
    sha, steps = outs.pop().split()
    assert len(sha) == 64 and int(steps) > 30


async def test_trace_events_go_through_structlog_when_a_logger_is_attached() -> None:
    """With a logger, every trace record is also a structlog event with the same fields."""
    import structlog
    from structlog.testing import capture_logs

    with capture_logs() as logs:
        e = Engine(cpus=1, logger=structlog.get_logger("pcptrio.trace"))

        async def main() -> None:
            await e.point("hello", cpu_count=1)
            e.emit("note", what="x")

        r = await e.run(main)
    hello = [ev for ev in logs if ev["event"] == "hello"]
    assert hello == [
        {
            "event": "hello",
            "step": 1,
            "t_ns": 0,
            "actor": "main",
            "cpu": 0,
            "cpu_count": 1,
            "log_level": "debug",
        }
    ]
    assert len(logs) == len(r.trace)


async def _staggered_run(
    swap: bool, scheduler: Scheduler, expect: tuple[int, ...] | None = None
) -> RunResult:
    """Three workers start 0, 1 and 2 µs in; ``swap`` swaps the start times of workers 1 and
    2.  The two runs have the same shape (every decision has the same number of options),
    but at each decision the other one of the two is among the candidates."""
    e = Engine(cpus=3, scheduler=scheduler)
    e.expect_choices = expect
    delays = [0, 2000, 1000] if swap else [0, 1000, 2000]

    async def worker(i: int) -> None:
        await e.sleep(delays[i])
        for _ in range(100):
            await e.point("w")
            await e.point("w")
            await e.spend(100, "w")

    async def main() -> None:
        async with e.open_nursery() as n:
            for i in range(3):
                n.start_soon(worker, i, name=f"w{i}", cpu=i)

    return await e.run(main)


async def test_strict_replay_notices_other_candidates_with_the_same_counts() -> None:
    """The recorded choice-set digests catch a run whose decisions have the same numbers of
    options as the recording but other candidates: counting options alone replays it
    silently as another run."""
    rec = await _staggered_run(False, RandomScheduler(5, switch_p=0.5))
    assert rec.outcome is Outcome.OK and len(rec.choices) >= 2
    same = await _staggered_run(False, ReplayScheduler(rec.decision_list), rec.choices)
    assert same.outcome is Outcome.OK and same.trace_sha256 == rec.trace_sha256
    blind = await _staggered_run(True, ReplayScheduler(rec.decision_list))  # counts only
    assert blind.outcome is Outcome.OK and blind.trace_sha256 != rec.trace_sha256
    other = await _staggered_run(True, ReplayScheduler(rec.decision_list), rec.choices)
    assert other.outcome is Outcome.ERROR
    assert other.error is not None and other.error.startswith("replay drift"), other.error


def test_a_token_carries_its_choice_digests_and_a_strict_replay_checks_them() -> None:
    """A run's token records its choice-set digests; the token replays to the same trace, and
    the same decisions with a changed digest are a replay drift, not another run."""
    from pcptrio._explore import make_run_spec, replay, run_spec, token_of

    r = run_spec(make_run_spec("shared-mask-race", "wq-rfc", {"cpus": 4}), RandomScheduler(4))
    tok = token_of(r)
    spec, decisions = decode_token(tok)
    assert spec["choices"] == list(r.choices)
    assert replay(tok).trace_sha256 == r.trace_sha256
    bent = encode_token({**spec, "choices": [c ^ 1 for c in spec["choices"]]}, decisions)
    again = replay(bent)
    assert again.outcome is Outcome.ERROR
    assert again.error is not None and again.error.startswith("replay drift"), again.error
