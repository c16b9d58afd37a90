"""The HTML report: self-contained, one detail per cell, a timeline, the Perfetto JSON; and
in a real headless Chromium: no console error, the Perfetto blob inflates, the page is not
blank."""

from __future__ import annotations

import base64
import gzip
import json
import os
import pathlib
import re
import shutil
import struct
import subprocess
import zlib

import pytest

from tests.test_cli import assert_bad_input, cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and os.environ.get("PCPTRIO_REQUIRE_CHROMIUM"):  # .ci/run installs it
    raise RuntimeError("PCPTRIO_REQUIRE_CHROMIUM is set but chromium is not installed")


@pytest.fixture(scope="module")
def explore_report(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    import io
    from contextlib import redirect_stdout

    from pcptrio.cli import main

    d = tmp_path_factory.mktemp("html")
    res = d / "explore.json"
    buf = io.StringIO()
    with redirect_stdout(buf):
        rc = main(["explore", "shared-mask-race", "--design", "wq-rfc", "--json"])
    assert rc == 1
    res.write_text(buf.getvalue())
    with redirect_stdout(io.StringIO()):
        assert main(["report", str(res), "-o", str(d / "report.html")]) == 0
    return d / "report.html"


def test_report_is_self_contained(explore_report: pathlib.Path) -> None:
    page = explore_report.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # no network
    assert "<svg" in page and "cpu0" in page and "cpu1" in page
    assert 'href="#cell0"' in page and 'id="cell0"' in page
    assert "pcptrio replay pcptrio1:" in page
    assert "drain-completeness" in page  # the oracle and its message
    blob = re.search(r'<script type="text/plain" id="pf0">([^<]+)</script>', page)
    assert blob
    trace = json.loads(gzip.decompress(base64.b64decode(blob.group(1))))
    assert trace["traceEvents"]


def test_matrix_html_links_every_cell(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    out = tmp_path / "m.html"
    rc, _, _ = cli(
        capsys, "matrix", "--hazards", "H3,H13", "--designs", "wq-rfc,wq-4.11",
        "--no-shrink", "--quiet", "--html", str(out),
    )  # fmt: skip
    assert rc == 1
    page = out.read_text()
    for i in range(4):
        assert f'href="#cell{i}"' in page and f'id="cell{i}"' in page
    assert page.count('class="c F"') >= 1 and page.count("<svg") >= 1


def test_report_refuses_what_is_not_a_result(
    capsys: pytest.CaptureFixture[str], tmp_path: pathlib.Path
) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"hello": 1}')
    line = assert_bad_input(*cli(capsys, "report", str(bad), "-o", str(tmp_path / "r.html")))
    assert "not a result" in line
    assert not (tmp_path / "r.html").exists()


def _png_pixels(png: bytes) -> bytes:
    """The decompressed image data of a PNG (filter bytes included)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        if kind == b"IDAT":
            idat += png[pos + 8 : pos + 8 + n]
        pos += 12 + n
    return zlib.decompress(idat)


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_report_in_headless_chromium(explore_report: pathlib.Path, tmp_path: pathlib.Path) -> None:
    # the page as written: no console output at all (an error would be logged here)
    p = _chromium("--enable-logging=stderr", "--v=0", "--dump-dom", explore_report.as_uri())
    assert "</svg>" in p.stdout
    assert "CONSOLE" not in p.stderr, p.stderr
    # the Perfetto button's code path: inflate the blob in the browser
    probe = tmp_path / "probe.html"
    probe.write_text(
        explore_report.read_text().replace(
            "</body>",
            "<script>(async () => { const b = Uint8Array.from(atob(document.getElementById("
            "'pf0').textContent.trim()), c => c.charCodeAt(0)); const s = new Blob([b]).stream()"
            ".pipeThrough(new DecompressionStream('gzip')); const t = await new Response(s)"
            ".text(); console.log('PF-OK ' + JSON.parse(t).traceEvents.length); })();</script>"
            "</body>",
        )
    )
    p = _chromium(
        "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom",
        probe.as_uri(),
    )  # fmt: skip
    m = re.search(r"PF-OK (\d+)", p.stderr)
    assert m and int(m.group(1)) > 0, p.stderr[-2000:]
    # a screenshot that is not blank
    shot = tmp_path / "shot.png"
    _chromium("--window-size=1200,900", f"--screenshot={shot}", explore_report.as_uri())
    pixels = _png_pixels(shot.read_bytes())
    assert len(set(pixels)) > 16  # text, the table's colours, the timeline's slices


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")
def test_the_console_check_catches_a_script_error(tmp_path: pathlib.Path) -> None:
    """The check above is real: a page that throws shows up in Chromium's log."""
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>undefinedFn();</script></body></html>")
    p = _chromium("--enable-logging=stderr", "--v=0", "--dump-dom", bad.as_uri())
    assert "CONSOLE" in p.stderr and "Uncaught ReferenceError" in p.stderr
