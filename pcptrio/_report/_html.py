"""``pcptrio report RESULT.json -o report.html`` (and ``--html`` on ``explore``/``matrix``):
one self-contained HTML file — inline CSS, SVG and JavaScript, no network, works from
``file://`` — with the matrix (each cell links to its detail) and, per cell: the verdict,
the outcome counts, the stage probes reached, the oracle's message, the failing interleaving
as a per-CPU timeline, the replay command and a button that downloads the run's Perfetto
JSON.

The timeline is an SVG with one lane per CPU and one column per step of the replayed token:
a slice per run of steps of one thread (its name in the tooltip), work items (queue → start)
and IPIs (raise → handler) as arrows, lock holds shaded under their lane, the violation's
step marked ▶ and each preemption of the (shrunk) schedule marked P.  The Perfetto JSON is
stored gzip-compressed and base64-encoded and inflated in the browser on click
(``DecompressionStream``).
"""

from __future__ import annotations

import base64
import gzip
import html
import json
from collections.abc import Sequence
from typing import Any

from .._core import RunResult
from .._explore import spec_from_token
from ._failure import failure_report
from ._perfetto import perfetto_trace
from ._rows import StepRow, replay_with_rows

__all__ = ["html_report", "timeline_svg"]

_STEP_W = 3  # px per step
_LANE_H = 22
_LEFT = 60
_PALETTE = (
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7",
    "#9c755f", "#e15759", "#bab0ac",
)  # fmt: skip
_TAKE = {"mutex_lock", "down_read", "down_write", "spin_lock", "spin_trylock", "mutex_trylock"}
_RELEASE = {"mutex_unlock", "up_read", "up_write", "spin_unlock"}

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222}
table.m{border-collapse:collapse}table.m td,table.m th{border:1px solid #ccc;padding:3px 8px}
table.m td.c{text-align:center;font-weight:bold}td.F{background:#f8d0d0}td.dot{background:#e8f4e8}
td.q{background:#fff2b3}td.na{color:#999}a{color:#1a5fb4}
.cell{border-top:2px solid #ddd;margin-top:28px;padding-top:8px}
.tl{overflow-x:auto;flex:1}
pre{background:#f4f4f4;padding:8px;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
.k{color:#666}button{margin:4px 0}
"""

_JS = """
async function pcptrioDownload(id, name) {
  const b64 = document.getElementById(id).textContent.trim();
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  const blob = new Blob([await new Response(stream).arrayBuffer()], {type: 'application/json'});
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
}
document.addEventListener('DOMContentLoaded', () => {
  for (const svg of document.querySelectorAll('.tl svg[data-focus]')) {
    const box = svg.parentElement;
    box.scrollLeft = Math.max(0, Number(svg.dataset.focus) - box.clientWidth * 0.75);
  }
});
"""


def _esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def timeline_svg(r: RunResult, rows: Sequence[StepRow]) -> str:
    """The per-CPU timeline of ``r`` (see the module docstring)."""
    if not rows:
        return "<p>(no steps)</p>"
    ncpu = max(len(row.cpus) for row in rows)
    col = {row.step: i for i, row in enumerate(rows)}
    step_w = max(_STEP_W, min(24, 1000 // len(rows)))
    width = max(_LEFT + step_w * len(rows) + 20, 720)
    height = 30 + _LANE_H * ncpu + 20
    colors: dict[str, str] = {}

    def color(actor: str) -> str:
        if actor not in colors:
            colors[actor] = _PALETTE[len(colors) % len(_PALETTE)]
        return colors[actor]

    def x(i: int) -> int:
        return _LEFT + step_w * i

    def y(cpu: int) -> int:
        return 30 + _LANE_H * cpu

    focus = 0
    if r.violation is not None:
        focus = max((k for k, row in enumerate(rows) if row.step <= r.violation.step), default=0)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'font-size="10" font-family="monospace" data-focus="{x(focus)}">',
        '<defs><marker id="ah" viewBox="0 0 6 6" refX="5" refY="3" markerWidth="6" '
        'markerHeight="6" orient="auto"><path d="M0,0 L6,3 L0,6 z" fill="#333"/></marker></defs>',
    ]
    labels = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_LEFT}" height="{height}" '
        'font-size="10" font-family="monospace">'
    ]
    for c in range(ncpu):
        labels.append(f'<text x="4" y="{y(c) + 15}">cpu{c}</text>')
        out.append(
            f'<line x1="{_LEFT}" y1="{y(c) + _LANE_H}" x2="{width}" y2="{y(c) + _LANE_H}" '
            'stroke="#eee"/>'
        )
    # lock holds: shaded under the holder's lane, from take to release
    held: dict[tuple[str, str], tuple[int, int]] = {}
    for step, _t, actor, cpu, event, fields in r.trace:
        lock = fields.get("lock")
        if not isinstance(lock, str) or cpu is None or step not in col:
            continue
        if event in _TAKE:
            held[(actor, lock)] = (col[step], cpu)
        elif event in _RELEASE and (actor, lock) in held:
            i0, c0 = held.pop((actor, lock))
            out.append(
                f'<rect x="{x(i0)}" y="{y(c0) + 17}" width="{max(step_w, x(col[step]) - x(i0))}"'
                f' height="3" fill="#000" opacity="0.7"><title>{_esc(actor)} holds '
                f"{_esc(lock)} (steps {rows[i0].step}–{step})</title></rect>"
            )
    # offline CPUs: their lane greyed
    for c in range(ncpu):
        i = 0
        while i < len(rows):
            if c < len(rows[i].cpus) and not rows[i].cpus[c].online:
                j = i
                while j < len(rows) and c < len(rows[j].cpus) and not rows[j].cpus[c].online:
                    j += 1
                out.append(
                    f'<rect x="{x(i)}" y="{y(c)}" width="{x(j) - x(i)}" height="{_LANE_H - 2}" '
                    f'fill="#bbb" opacity="0.5"><title>cpu{c} offline, steps {rows[i].step}–'
                    f"{rows[j - 1].step}</title></rect>"
                )
                i = j
            else:
                i += 1
    # slices: runs of one actor on a CPU
    for c in range(ncpu):
        start = 0
        for i in range(1, len(rows) + 1):
            cur = rows[i - 1].cpus[c].actor if c < len(rows[i - 1].cpus) else None
            nxt = rows[i].cpus[c].actor if i < len(rows) and c < len(rows[i].cpus) else object()
            if nxt != cur:
                if cur is not None:
                    out.append(
                        f'<rect x="{x(start)}" y="{y(c) + 2}" width="{x(i) - x(start)}" '
                        f'height="14" fill="{color(cur)}"><title>{_esc(cur)} on cpu{c}, steps '
                        f"{rows[start].step}–{rows[i - 1].step}</title></rect>"
                    )
                start = i
    # arrows: queue_work_on -> work_start, irq_raise -> the handler's first step
    queued: dict[str, tuple[int, int]] = {}
    raised: dict[str, tuple[int, int]] = {}
    first_seen: set[str] = set()
    arrows: list[tuple[int, int, int, int, str]] = []
    for step, _t, actor, cpu, event, fields in r.trace:
        if step not in col or cpu is None:
            continue
        i = col[step]
        if event == "queue_work_on":
            queued[str(fields.get("work"))] = (i, cpu)
        elif event == "work_start" and str(fields.get("work")) in queued:
            i0, c0 = queued.pop(str(fields.get("work")))
            arrows.append((i0, c0, i, cpu, f"work {fields.get('work')}"))
        elif event == "irq_raise":
            raised[str(fields.get("handler"))] = (i, cpu)
        if actor in raised and actor not in first_seen:
            first_seen.add(actor)
            i0, c0 = raised.pop(actor)
            arrows.append((i0, c0, i, cpu, f"IPI {actor}"))
    for i0, c0, i1, c1, label in arrows:
        out.append(
            f'<line x1="{x(i0)}" y1="{y(c0) + 9}" x2="{x(i1)}" y2="{y(c1) + 9}" stroke="#333" '
            f'stroke-width="1" marker-end="url(#ah)"><title>{_esc(label)}</title></line>'
        )
    # marks: the violation, the preemptions
    marks = [(s, "P") for _d, s in r.preempted]
    if r.violation is not None:
        marks.append((r.violation.step, "▶"))
    for s, m in marks:
        i = max((k for k, row in enumerate(rows) if row.step <= s), default=0)
        out.append(
            f'<line x1="{x(i)}" y1="22" x2="{x(i)}" y2="{height - 16}" stroke="'
            f'{"#c00" if m == "▶" else "#888"}" stroke-dasharray="3,2"/>'
            f'<text x="{x(i) - 3}" y="18" fill="{"#c00" if m == "▶" else "#555"}">{m}'
            f"<title>step {s}</title></text>"
        )
    out.append(
        f'<text x="{_LEFT}" y="{height - 4}" fill="#666">steps {rows[0].step}–{rows[-1].step}'
        " (one column per step); ▶ violation, P preemption, black bars: lock holds, grey: CPU"
        " offline</text></svg>"
    )
    legend = " ".join(
        f'<span style="background:{c};color:#fff;padding:0 4px;margin:2px;display:inline-block">'
        f"{_esc(a)}</span>"
        for a, c in colors.items()
    )
    labels.append("</svg>")
    return (
        '<div style="display:flex;border:1px solid #ddd;background:#fafafa;margin:8px 0">'
        f'<div>{"".join(labels)}</div><div class="tl">{"".join(out)}</div></div>'
        f'<div style="font-size:11px;padding:4px">{legend}</div>'
    )


def _cell_html(idx: int, c: dict[str, Any], timeline: bool) -> tuple[str, str | None]:
    """The detail section of one cell, and its gzip+base64 Perfetto JSON (None if no run)."""
    head = f"{c.get('hazard') or ''} {c['scenario']} × {c['design']}".strip()
    parts = [f'<div class="cell" id="cell{idx}"><h3>{_esc(head)}</h3>']
    parts.append(f"<p><b>verdict</b> {_esc(c['verdict'])}")
    if c.get("why"):
        parts.append(f" — {_esc(c['why'])}")
    parts.append("</p>")
    if c.get("outcomes"):
        o = ", ".join(f"{k} {v}" for k, v in c["outcomes"].items() if v)
        parts.append(
            f"<p><b>outcomes</b> {_esc(o)} ({_esc(c.get('schedules', '?'))} schedules)</p>"
        )
    if c.get("probes"):
        p = ", ".join(f"{k} {v}" for k, v in c["probes"].items())
        parts.append(f"<p><b>stage probes reached</b> {_esc(p)}</p>")
    if c.get("oracle"):
        parts.append(
            f"<p><b>oracle</b> {_esc(c['oracle'])} ({_esc(c.get('kind') or '')}): "
            f"{_esc(c.get('message') or '')}</p>"
        )
    blob = None
    token = c.get("token")
    if token:
        spec, decisions = spec_from_token(token)
        r, coll = replay_with_rows(spec, decisions)
        if timeline:
            parts.append(timeline_svg(r, coll.rows))
        report = failure_report(r, rows=coll.rows, replay_cmd=f"pcptrio replay {token}")
        parts.append(
            "<details><summary>the failure report (text, as the command prints it)</summary>"
            f"<pre>{_esc(report)}</pre></details>"
        )
        data = perfetto_trace(r, rows=coll.rows, zone_names=coll.zone_names)
        raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
        blob = base64.b64encode(gzip.compress(raw, mtime=0)).decode()
        name = f"{c['scenario']}-{c['design']}.perfetto.json"
        parts.append(
            f"<p><b>replay</b></p><pre>pcptrio replay {_esc(token)}</pre>"
            f"<button onclick=\"pcptrioDownload('pf{idx}', '{_esc(name)}')\">"
            "Download the Perfetto JSON</button> "
            '<span class="k">(open it at ui.perfetto.dev: Open trace file)</span>'
        )
    parts.append('<p><a href="#top">back to the top</a></p></div>')
    return "".join(parts), blob


def _symbol(c: dict[str, Any]) -> tuple[str, str]:
    v = c["verdict"]
    if v == "found":
        return "F", "F"
    if v == "not-found":
        return ".", "dot"
    if v == "n/a":
        return "n/a", "na"
    return ("E" if (c.get("outcomes") or {}).get("error") else "?"), "q"


def html_report(
    result: dict[str, Any], *, title: str = "pcptrio report", timeline: bool = True
) -> str:
    """The report of a ``pcptrio matrix`` or ``pcptrio explore`` JSON result."""
    if "cells" in result:
        cells = list(result["cells"])
        designs = list(result.get("designs") or dict.fromkeys(c["design"] for c in cells))
        rows = list(dict.fromkeys((c.get("hazard") or "", c["scenario"]) for c in cells))
    else:  # one campaign
        f = result.get("failure") or {}
        cells = [
            {
                "hazard": None,
                "scenario": result["scenario"],
                "design": result["design"],
                "verdict": result["verdict"],
                "why": result.get("reason"),
                "schedules": result.get("schedules_run"),
                "outcomes": result.get("outcomes"),
                "probes": result.get("probes"),
                "oracle": f.get("oracle"),
                "kind": f.get("kind"),
                "message": f.get("message"),
                "token": f.get("token"),
            }
        ]
        designs = [result["design"]]
        rows = [("", result["scenario"])]
    index = {(c.get("hazard") or "", c["scenario"], c["design"]): i for i, c in enumerate(cells)}
    head = "".join(f"<th>{_esc(d)}</th>" for d in designs)
    body = []
    for hz, sc in rows:
        tds = []
        for d in designs:
            i = index.get((hz, sc, d))
            if i is None:
                tds.append("<td></td>")
                continue
            sym, cls = _symbol(cells[i])
            tds.append(f'<td class="c {cls}"><a href="#cell{i}">{_esc(sym)}</a></td>')
        body.append(f"<tr><th>{_esc((hz + ' ' + sc).strip())}</th>{''.join(tds)}</tr>")
    details, blobs = [], []
    for i, c in enumerate(cells):
        text, blob = _cell_html(i, c, timeline)
        details.append(text)
        if blob is not None:
            blobs.append(f'<script type="text/plain" id="pf{i}">{blob}</script>')
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_esc(title)}</title><style>{_CSS}</style><script>{_JS}</script></head>"
        f'<body id="top"><h1>{_esc(title)}</h1>'
        '<p class="k">F found, . not found (every stage probe reached), ? / E inconclusive, '
        "n/a ruled out by the protection era.  Click a cell for its detail; a timeline opens "
        "at its violation.</p>"
        f'<table class="m"><tr><th></th>{head}</tr>{"".join(body)}</table>'
        + "".join(details)
        + "".join(blobs)
        + "</body></html>\n"
    )
