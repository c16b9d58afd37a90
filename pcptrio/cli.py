"""The ``pcptrio`` command.  Thin: parse arguments, call the library, print.

Exit codes: 0 = no violation, 1 = violation found, 2 = bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import trio

from ._core import (
    BadInput,
    Decision,
    Engine,
    Outcome,
    RandomScheduler,
    ReplayScheduler,
    RunResult,
    Violation,
    decode_token,
    encode_token,
)
from ._version import __version__

EXIT_OK = 0
EXIT_FOUND = 1
EXIT_BAD_INPUT = 2


class _UsageError(BadInput):
    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(self.prog, message)


async def _lost_update_run(engine: Engine, incs: int) -> RunResult:
    box = {"n": 0}

    async def inc() -> None:
        for _ in range(incs):
            v = box["n"]
            await engine.point("read", counter=v)
            box["n"] = v + 1
            await engine.point("write", counter=v + 1)

    async def main() -> None:
        async with engine.open_nursery() as n:
            n.start_soon(inc, name="cpu0/inc", cpu=0)
            n.start_soon(inc, name="cpu1/inc", cpu=1)
        if box["n"] != 2 * incs:
            engine.report_violation(
                Violation("lost-update", f"counter is {box['n']}, expected {2 * incs}")
            )

    return await engine.run(main)


def _demo_run(seed: int, incs: int, decisions: list[Decision] | None = None) -> RunResult:
    sched = ReplayScheduler(decisions) if decisions is not None else RandomScheduler(seed)
    return trio.run(_lost_update_run, Engine(cpus=2, scheduler=sched), incs)


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.schedules < 1:
        raise BadInput("--schedules must be at least 1")
    for i in range(args.schedules):
        seed = args.seed + i
        r = _demo_run(seed, args.incs)
        if r.outcome is Outcome.VIOLATION:
            token = encode_token({"demo": "lost-update", "incs": args.incs}, r.decision_list)
            print(f"found after {i + 1} schedule(s): {r.headline}")
            for rec in r.trace:
                if rec[4] in ("read", "write"):
                    step, _, actor, _, event, fields = rec
                    print(f"  step {step:3d}  {actor:<9} {event:<5} counter={fields['counter']}")
            again = _demo_run(0, args.incs, decode_token(token)[1])
            same = again.trace_sha256 == r.trace_sha256
            print(f"replay token: {token}")
            print(f"replayed: {again.outcome}, trace identical: {same}")
            return EXIT_FOUND
    print(f"not found: {args.schedules} random schedules, no lost update")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="pcptrio",
        description="Deterministic emulation of Linux per-CPU page lists and drain_all_pages().",
    )
    p.add_argument("--version", action="version", version=f"pcptrio {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    d = sub.add_parser("demo", help="find, print and replay a lost update between two CPUs")
    d.add_argument("--seed", type=int, default=0, help="first schedule seed (default 0)")
    d.add_argument("--schedules", type=int, default=200, help="schedules to try (default 200)")
    d.add_argument("--incs", type=int, default=3, help="increments per CPU (default 3)")
    d.set_defaults(func=_cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            parser.print_help()
            return EXIT_OK
        return int(args.func(args))
    except BadInput as exc:
        prog = exc.prog if isinstance(exc, _UsageError) else "pcptrio"
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
