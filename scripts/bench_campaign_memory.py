"""Memory a campaign keeps per schedule: the compact store of finished schedules
(``_Done``) against the records themselves, for N synthetic ``ok`` schedule records (what a
long campaign of a clean cell produces), with tracemalloc.

    python scripts/bench_campaign_memory.py --schedules 1000000
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc

from pcptrio._explore._campaign import _Done


def record(i: int) -> dict[str, object]:
    return {
        "index": i,
        "seed": 1234567890123 + i,
        "outcome": "ok",
        "steps": 812,
        "preemptions": 2,
        "probes": ["drain-called", "concurrent-drains"],
    }


def measure(n: int, compact: bool) -> float:
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    keep: object
    if compact:
        d = _Done()
        for i in range(n):
            d.add(record(i))
        keep = d
    else:
        keep = {i: record(i) for i in range(n)}
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del keep
    return used / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--schedules", type=int, default=1_000_000)
    n = ap.parse_args().schedules
    compact = measure(n, True)
    full = measure(n, False)
    per = 100_000 / n
    print(f"{n} ok schedules: compact store {compact:.1f} MiB ({compact * per:.2f} MiB per 100K),")
    print(f"  records kept whole {full:.1f} MiB ({full * per:.1f} MiB per 100K)")


if __name__ == "__main__":
    main()
