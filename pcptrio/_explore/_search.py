"""What ``pcptrio explore`` does, as one library call: a campaign, then its failure shrunk.

:func:`run_campaign` returns the campaign's :class:`CampaignResult` with ``failure`` replaced
by the shrunk one (``failure.shrink`` says what changed); every field of that failure comes
from the strict replay of its token.  ``pcptrio._report.campaign_report`` turns the result into
the text the command prints::

    res = run_campaign(CampaignConfig(make_run_spec("shared-mask-race", "wq-rfc")))
    print(campaign_report(res))
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

import attrs

from ._campaign import CampaignConfig, CampaignResult, explore, merge_shards
from ._run import run_timeout
from ._shrink import ShrinkProgress, shrink_failure

__all__ = ["merge_campaign", "run_campaign"]


def run_campaign(
    cfg: CampaignConfig,
    *,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    replace: bool = False,
    progress: Callable[[int, int], None] | None = None,
    on_failure: Callable[[int], None] | None = None,
    shrink_budget: int = 60,
    shrink_progress: ShrinkProgress | None = None,
) -> CampaignResult:
    """:func:`explore`, then shrink its failure with ``shrink_budget`` replays (0: keep the
    failure as found).  ``out``, ``resume``, ``replace``, ``progress`` and ``on_failure`` are
    :func:`explore`'s."""
    t0 = time.perf_counter()  # reported beside the result, never inside a run
    res = explore(
        cfg, out=out, resume=resume, replace=replace, progress=progress, on_failure=on_failure
    )
    res = attrs.evolve(res, search_s=time.perf_counter() - t0)
    if res.failure is None or shrink_budget <= 0:
        return res
    with run_timeout(cfg.run_timeout_s):  # every replay of the shrinking is guarded too
        shrunk = shrink_failure(res, budget=shrink_budget, progress=shrink_progress)
    return attrs.evolve(res, failure=shrunk)


def merge_campaign(
    paths: Sequence[str | os.PathLike[str]],
    *,
    shrink_budget: int = 60,
    allow_import: bool = False,
    shrink_progress: ShrinkProgress | None = None,
) -> CampaignResult:
    """:func:`merge_shards`, then shrink the failure on this machine, as :func:`run_campaign`
    does: the answer (and, shrinking being deterministic, the token) an unsharded campaign
    gives."""
    res = merge_shards(paths, allow_import=allow_import)
    if res.failure is None or shrink_budget <= 0:
        return res
    shrunk = shrink_failure(res, budget=shrink_budget, progress=shrink_progress)
    return attrs.evolve(res, failure=shrunk)
