"""``pcptrio bench``: real distributions (≥ 30 samples, p99 from 100), a loaded scenario,
reclaim throughput, identical designs named, the wq/ipi ratio."""

from __future__ import annotations

import pytest

from tests.test_cli import assert_bad_input, cli, cli_json


def test_default_bench_collects_thirty_samples_per_cell(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc, data = cli_json(
        capsys, "bench", "--designs", "ipi,wq-4.11", "--cpus-list", "2,8",
        "--scenario", "bench-drain-load", "--json",
    )  # fmt: skip
    assert rc == 0
    for c in data["cells"]:
        assert c["samples"] >= 30
        assert len(c["latencies_ns"]) + c["returned_at_once"] == c["samples"] == c["calls"]
        assert all(x > 0 for x in c["latencies_ns"])  # calls that returned at once: apart
        assert len(set(c["latencies_ns"])) > 1  # the interleaving moves the latency
        assert c["latency_max_us"] >= c["latency_p90_us"] > c["latency_p50_us"] >= 0
        assert c["latency_p99_us"] is None
    ratio = data["ratio_to_ipi_p50"]["wq-4.11"]
    assert set(ratio) == {"2", "8"} and all(v > 1 for v in ratio.values())  # slower than IPIs


def test_p99_from_a_hundred_samples(capsys: pytest.CaptureFixture[str]) -> None:
    rc, data = cli_json(
        capsys, "bench", "--designs", "ipi", "--cpus-list", "8",
        "--scenario", "bench-drain-load", "--samples", "100", "--json",
    )  # fmt: skip
    (c,) = data["cells"]
    assert rc == 0 and c["samples"] >= 100
    assert c["latency_p99_us"] is not None
    assert c["latency_max_us"] >= c["latency_p99_us"] > c["latency_p50_us"]


def test_reclaim_throughput_under_reclaim_load(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = cli(
        capsys, "bench", "--designs", "ipi,remote-6.11", "--cpus-list", "4",
        "--scenario", "reclaim-storm", "--samples", "10",
    )  # fmt: skip
    assert rc == 0 and "reclaimed/s" in out
    rc, data = cli_json(
        capsys, "bench", "--designs", "ipi,remote-6.11", "--cpus-list", "4",
        "--scenario", "reclaim-storm", "--samples", "10", "--json",
    )  # fmt: skip
    assert all(c["reclaimed"] > 0 and c["reclaim_pages_per_s"] > 0 for c in data["cells"])


def test_identical_designs_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    """On the quiet bench-drain, wq-4.11 and wq-4.11-next do exactly the same thing."""
    rc, out, _ = cli(
        capsys, "bench", "--designs", "ipi,wq-4.11,wq-4.11-next", "--cpus-list", "2,4",
        "--seeds", "1",
    )  # fmt: skip
    assert rc == 0
    assert "identical in every measure at every CPU count: wq-4.11 = wq-4.11-next" in out
    assert "ipi =" not in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--samples", "0"], "--samples must be at least 1"),
        (["--seeds", "0"], "--seeds"),
        (["--seeds", "2", "--samples", "5"], "give one"),
        (["--designs", ""], "--designs is empty"),
    ],
)
def test_bench_refuses_empty_budgets(
    capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    line = assert_bad_input(*cli(capsys, "bench", "--designs", "ipi", "--cpus-list", "2", *extra))
    assert message in line
