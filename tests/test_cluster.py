"""Campaigns on Dask (``--cluster``): the same answer as one process and the local pool,
on an in-process cluster and on worker processes; workers running other code are refused."""

from __future__ import annotations

import pathlib

import pytest

from pcptrio import BadInput
from pcptrio._explore import CampaignConfig, explore, make_run_spec

distributed = pytest.importorskip("distributed")


def _cfg(**kw: object) -> CampaignConfig:
    spec = make_run_spec("shared-mask-race", "wq-rfc", {"cpus": 2})
    return CampaignConfig(spec, schedules=30, seed=3, **kw)  # type: ignore[arg-type]


def _answer(cfg: CampaignConfig) -> tuple[object, ...]:
    res = explore(cfg)
    f = res.failure
    return (res.verdict, res.outcomes, res.probes, f.index if f else None, f.token if f else None)


@pytest.fixture(scope="module")
def inproc_address() -> object:
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    yield cluster.scheduler_address
    cluster.close()


def test_same_answer_everywhere(inproc_address: str) -> None:
    one = _answer(_cfg(jobs=1))
    assert one[0] == "found"
    assert _answer(_cfg(jobs=2)) == one
    assert _answer(_cfg(cluster=inproc_address)) == one  # an existing cluster, in-process
    assert _answer(_cfg(cluster="local:2")) == one  # a LocalCluster of worker processes


def test_not_found_cell_and_budget_counts(inproc_address: str) -> None:
    spec = make_run_spec("shared-mask-race", "wq-4.11", {"cpus": 2})
    base = explore(CampaignConfig(spec, schedules=25, seed=1, jobs=1))
    there = explore(CampaignConfig(spec, schedules=25, seed=1, cluster=inproc_address))
    assert there.verdict == base.verdict == "not-found"
    assert there.outcomes == base.outcomes and there.schedules_run == 25


def test_workers_running_other_code_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import pcptrio._explore._campaign as campaign

    monkeypatch.setattr(campaign, "code_fingerprint", lambda design=None: "0.0.0+driver")
    with pytest.raises(BadInput, match="pcptrio code mismatch"):
        explore(_cfg(cluster="local:1"))


@pytest.mark.parametrize(
    ("cluster", "message"),
    [
        ("local:0", "1 <= N <= 256"),
        ("somewhere", "local:N or a scheduler address"),
        ("tcp://127.0.0.1:1", "cannot reach the Dask scheduler"),
    ],
)
def test_bad_clusters(cluster: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        explore(_cfg(cluster=cluster))


def test_matrix_on_a_cluster(inproc_address: str) -> None:
    from pcptrio._explore import run_matrix

    kw = {"budget": 6, "shrink_failures": False}
    here = run_matrix(["wq-rfc", "wq-4.11"], ["shared-mask-race"], jobs=1, **kw)  # type: ignore[arg-type]
    there = run_matrix(["wq-rfc", "wq-4.11"], ["shared-mask-race"], cluster=inproc_address, **kw)  # type: ignore[arg-type]
    assert [(c.design, c.verdict, c.token) for c in here.cells] == [
        (c.design, c.verdict, c.token) for c in there.cells
    ]


def test_an_interrupted_campaign_resumes_against_the_cluster(
    inproc_address: str, tmp_path: pathlib.Path
) -> None:
    """Kill the driver mid-campaign (a KeyboardInterrupt from its progress callback): the
    file keeps every schedule it recorded, and resuming against the cluster runs only what
    is missing and ends with the uninterrupted campaign's answer."""
    spec = make_run_spec("shared-mask-race", "wq-4.11", {"cpus": 2})
    cfg = CampaignConfig(spec, schedules=60, seed=4, cluster=inproc_address)
    out = tmp_path / "c.jsonl"

    def bail(done: int, total: int) -> None:
        if done >= 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        explore(cfg, out=out, progress=bail)
    kept = len(out.read_text().splitlines()) - 1
    assert 20 <= kept < 60
    resumed = explore(cfg, out=out, resume=True)
    whole = explore(CampaignConfig(spec, schedules=60, seed=4, jobs=1))
    assert resumed.resumed == kept  # loaded, not run again
    assert (resumed.verdict, resumed.outcomes, resumed.schedules_run) == (
        whole.verdict,
        whole.outcomes,
        whole.schedules_run,
    )
