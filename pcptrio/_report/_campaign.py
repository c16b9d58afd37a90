"""The text of a campaign: what ``pcptrio explore`` prints, for library users too.

:func:`campaign_report` renders a :class:`~pcptrio._explore.CampaignResult`: the summary, the
outcome counts, the stage probes, the first error with its token, and — for a found failure —
what shrinking changed, the full failure report of a replay of the failure's token (so what
is shown is what the token replays), and a ready-to-paste pytest-trio test.
"""

from __future__ import annotations

from .._explore import CampaignResult, spec_from_token
from ._failure import DEFAULT_VIEW, TableView, failure_report
from ._rows import replay_with_rows

__all__ = ["campaign_report", "pytest_snippet"]


def pytest_snippet(token: str, oracle: str, name: str) -> str:
    """A ready-to-paste pytest-trio test that replays ``token``."""
    ident = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_").lower()
    return (
        "from pcptrio.testing import assert_replays\n\n\n"
        f"async def test_{ident}() -> None:\n"
        f'    await assert_replays(\n        "{token}",\n        oracle="{oracle}",\n    )\n'
    )


def campaign_lines(res: CampaignResult) -> list[str]:
    """The outcome counts, the probes and, if any, the first error with its token."""
    lines = [f"  outcomes: {res.outcome_text()}"]
    if res.probes:
        lines.append(f"  stage probes reached in: {res.probes_text()}")
    e = res.first_error
    if e is not None:
        lines += [
            f"  first error (schedule #{e.index}): {e.headline}",
            f"    replay: pcptrio replay {e.token}",
        ]
    return lines


def campaign_report(
    res: CampaignResult,
    *,
    wall_s: float | None = None,
    source: str | None = None,
    view: TableView = DEFAULT_VIEW,
) -> str:
    """The text ``pcptrio explore`` prints for ``res`` (``wall_s``: the wall time it took;
    ``source``: the file resumed schedules were loaded from)."""
    text = [res.summary()]
    if wall_s is not None:
        ran = res.schedules_run - res.resumed
        resumed = f", {res.resumed} loaded from {source}" if res.resumed else ""
        search = res.search_s if res.search_s is not None else wall_s
        rate = ran / max(search, 1e-9)
        text.append(f"({wall_s:.1f}s wall, {ran} run at {rate:.0f} schedules/s{resumed})")
    text += campaign_lines(res)
    f = res.failure
    if f is None:
        return "\n".join(text)
    sh = f.shrink
    if sh is not None:
        changed = " ".join(f"{k}={v}" for k, v in sh.params_changed.items())
        needed = ", ".join(map(str, sh.required_steps))
        text.append(
            f"shrunk: {sh.steps_before} -> {sh.steps_after} steps, "
            f"{sh.preemptions_before} -> {sh.preemptions_after} preemptions"
            + (f", workload {changed}" if changed else "")
            + (f"; needs the preemption(s) at step(s) {needed}" if needed else "")
        )
    # The report comes from replaying the printed token: what is shown is what it replays.
    spec, decisions = spec_from_token(f.token)
    r, coll = replay_with_rows(spec, decisions)
    spec_c = res.config.spec
    text += [
        "",
        failure_report(
            r,
            rows=coll.rows,
            replay_cmd=f"pcptrio replay {f.token}",
            needed=sh.required_steps if sh is not None else None,
            view=view,
        ),
        "",
        "A pytest-trio test that replays it:",
        "",
        pytest_snippet(f.token, f.oracle, f"{spec_c.scenario.name}_{spec_c.design.name}"),
    ]
    return "\n".join(text)
