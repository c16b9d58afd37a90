"""Replay tokens are untrusted input: decoding refuses anything malformed with one TokenError.

A token is pasted from bug reports, so ``decode_token`` either returns a valid
``(spec, decisions)`` or raises :class:`TokenError` (a ``BadInput``: one line, exit 2), in
bounded memory and time.  Hypothesis throws random text, random bytes, mutations of the
README's token and re-signed bodies with edited fields at it; the explicit tests pin each
hole an adversarial review found (nesting bomb, zip bomb, trailing bytes, lenient base64,
unchecked format, untyped fields, NaN, duplicate keys).
"""

from __future__ import annotations

import base64
import hashlib
import json
import pathlib
import re
import time
import tracemalloc
import zlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pcptrio import Decision, TokenError, decode_token, encode_token
from pcptrio._core import (
    MAX_BODY_BYTES,
    MAX_CONTAINERS,
    MAX_DEPTH,
    MAX_TOKEN_CHARS,
    TOKEN_PREFIX,
    BadInput,
    pack_decisions,
    unpack_decisions,
)
from pcptrio.cli import main

ROOT = pathlib.Path(__file__).resolve().parent.parent
_found = re.search(r"pcptrio1:[A-Za-z0-9_-]+", (ROOT / "README.md").read_text())
assert _found is not None
#: A real token: the one the README shows (shared-mask-race × wq-rfc).
REAL = _found.group()
REAL_SPEC, REAL_DECISIONS = decode_token(REAL)

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_FUZZ = settings(max_examples=300, deadline=None)


# -- building tokens, good and bad -----------------------------------------------------------


def _b64(packed: bytes) -> str:
    return TOKEN_PREFIX + base64.urlsafe_b64encode(packed).decode().rstrip("=")


def _raw_token(raw: bytes) -> str:
    """A token whose body is ``raw`` as is (no checksum added)."""
    return _b64(zlib.compress(raw, 9))


def _canonical(body: Any) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _signed(body: dict[str, Any]) -> str:
    """A token of ``body`` with a checksum that matches it, as a forger would make one."""
    body = {k: v for k, v in body.items() if k != "check"}
    body["check"] = hashlib.sha256(_canonical(body)).hexdigest()[:16]
    return _raw_token(_canonical(body))


def _body(token: str) -> dict[str, Any]:
    """The JSON body of a good token."""
    payload = token[len(TOKEN_PREFIX) :]
    raw = zlib.decompress(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body: dict[str, Any] = json.loads(raw)
    return body


def _packed(token: str) -> bytes:
    payload = token[len(TOKEN_PREFIX) :]
    return base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))


def _refused(token: str) -> str:
    """The message of the TokenError ``decode_token`` must raise for ``token``."""
    with pytest.raises(TokenError) as info:
        decode_token(token)
    msg = str(info.value)
    assert msg and "\n" not in msg and len(msg) < 300, msg
    return msg


def _decodes_or_refuses(token: str) -> tuple[dict[str, Any], list[Decision]] | None:
    """The property every input must have: a valid result, or one TokenError."""
    try:
        spec, decisions = decode_token(token)
    except TokenError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg and len(msg) < 300, msg
        return None
    assert isinstance(spec, dict)
    for d in decisions:
        assert isinstance(d, Decision)
        assert type(d.label) is str and type(d.n) is int and type(d.choice) is int
        assert d.n >= 1 and 0 <= d.choice < d.n
    assert decode_token(encode_token(spec, decisions)) == (spec, decisions)
    return spec, decisions


# -- property tests --------------------------------------------------------------------------

_json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
)
_json = st.recursive(
    _json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=16,
)


@_FUZZ
@given(st.text(max_size=200))
def test_random_text_is_decoded_or_refused(text: str) -> None:
    """Any text at all, with or without the prefix, decodes or raises TokenError."""
    _decodes_or_refuses(text)
    _decodes_or_refuses(TOKEN_PREFIX + text)


@_FUZZ
@given(st.text(alphabet=_ALPHABET + "=+/. \n\t", max_size=200))
def test_random_base64ish_text_is_decoded_or_refused(text: str) -> None:
    """Text close to the token alphabet gets past the first checks and is still refused."""
    _decodes_or_refuses(TOKEN_PREFIX + text)


@_FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_are_decoded_or_refused(data: bytes) -> None:
    """Random bytes, as base64 or as a compressed body, decode or raise TokenError."""
    _decodes_or_refuses(data.decode("latin-1"))
    _decodes_or_refuses(_b64(data))
    _decodes_or_refuses(_raw_token(data))


@_FUZZ
@given(_json)
def test_random_json_bodies_are_decoded_or_refused(value: Any) -> None:
    """Any JSON value as a body, as a spec, or as the decisions (all re-signed) is handled."""
    _decodes_or_refuses(_raw_token(json.dumps(value).encode()))
    good = _body(REAL)
    _decodes_or_refuses(_signed({**good, "spec": value}))
    _decodes_or_refuses(_signed({**good, "decisions": value}))
    _decodes_or_refuses(_signed({**good, "format": value}))
    _decodes_or_refuses(_signed({**good, "decisions": {"labels": ["sched"], "d": value}}))


@st.composite
def _mutations(draw: st.DrawFn) -> str:
    """The README token with characters flipped, inserted or deleted."""
    tok = REAL
    chars = st.sampled_from(_ALPHABET + "=+/.:!é\x00 \n") | st.characters()
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete"]))
        i = draw(st.integers(0, len(tok)))
        if op == "insert":
            tok = tok[:i] + draw(chars) + tok[i:]
        elif op == "delete":
            tok = tok[:i] + tok[i + 1 :]
        else:
            tok = tok[:i] + draw(chars) + tok[i + 1 :]
    return tok


@_FUZZ
@given(_mutations())
def test_mutated_tokens_are_refused_or_unchanged(token: str) -> None:
    """An edited real token is refused, or it still stands for the same run: whitespace
    around it, or a flip of the padding bits zlib ignores after the last deflate block."""
    got = _decodes_or_refuses(token)
    assert got is None or got == (REAL_SPEC, REAL_DECISIONS), token


_WRONG = st.sampled_from(
    [None, True, False, 0, -1, 1.5, 2**64, "", "x", "1", [], [0], {}, {"a": 1}, 1e308]
)


def _valid_body(body: dict[str, Any]) -> bool:
    """A second, plain statement of what decode_token accepts (given a matching checksum)."""
    dec, spec, fmt = body.get("decisions"), body.get("spec"), body.get("format")
    if set(body) != {"check", "decisions", "format", "spec"} or type(fmt) is not int or fmt != 2:
        return False
    if not isinstance(spec, dict) or not isinstance(spec.get("pcptrio", ""), str):
        return False
    if not isinstance(dec, dict) or set(dec) != {"labels", "d"}:
        return False
    labels, d = dec["labels"], dec["d"]
    if not isinstance(labels, list) or not all(isinstance(s, str) for s in labels):
        return False
    if len(set(labels)) != len(labels) or not isinstance(d, list) or len(d) % 3:
        return False
    if not all(type(x) is int for x in d):
        return False
    return all(
        0 <= li < len(labels) and n >= 1 and 0 <= c < n
        for li, n, c in zip(d[0::3], d[1::3], d[2::3], strict=True)
    )


@st.composite
def _edited_bodies(draw: st.DrawFn) -> tuple[list[Any], Any]:
    """A path into the README token's body and a wrong-typed value to put there."""
    body = _body(REAL)
    n_labels, n_d = len(body["decisions"]["labels"]), len(body["decisions"]["d"])
    paths: list[list[Any]] = [
        ["format"],
        ["check"],
        ["spec"],
        ["spec", "pcptrio"],
        ["decisions"],
        ["decisions", "labels"],
        ["decisions", "d"],
        ["decisions", "labels", draw(st.integers(0, n_labels - 1))],
        ["decisions", "d", draw(st.integers(0, n_d - 1))],
    ]
    return draw(st.sampled_from(paths)), draw(_WRONG)


@_FUZZ
@given(_edited_bodies())
def test_resigned_tokens_with_edited_fields_decode_only_if_still_valid(
    edit: tuple[list[Any], Any],
) -> None:
    """A forger who edits a field to another type and re-signs the body gets a TokenError,
    unless the edited body is still one encode_token could have written."""
    path, value = edit
    body = _body(REAL)
    where: Any = body
    for key in path[:-1]:
        where = where[key]
    where[path[-1]] = value
    if path == ["check"]:
        assert _decodes_or_refuses(_raw_token(_canonical(body))) is None
        return
    got = _decodes_or_refuses(_signed(body))
    assert (got is not None) == _valid_body(body), (path, value)


# -- the review's findings, one by one --------------------------------------------------------


def test_real_tokens_decode_and_reencode_byte_for_byte() -> None:
    """The README's token still decodes, and re-encoding it gives the same text."""
    assert REAL_SPEC["scenario"] == "shared-mask-race"
    assert encode_token(REAL_SPEC, REAL_DECISIONS) == REAL
    assert decode_token(f"  {REAL}\n") == (REAL_SPEC, REAL_DECISIONS)


def test_caps_sit_well_above_the_largest_real_token() -> None:
    """A token like a 1024-CPU bench-drain run (twice the 25,042 decisions measured at 512
    CPUs, with four-digit n) decodes with ten times headroom under every cap."""
    decisions = [Decision("sched", 1024, i % 1024) for i in range(2 * 25_042)]
    token = encode_token({**REAL_SPEC, "params": {"cpus": 1024}}, decisions)
    assert decode_token(token)[1] == decisions
    assert len(token) * 10 < MAX_TOKEN_CHARS
    assert len(_canonical(_body(token))) * 10 < MAX_BODY_BYTES
    assert MAX_DEPTH >= 35  # a legal TOML scenario nests its table at most 32 deep


def test_nesting_bomb_is_refused() -> None:
    """A few hundred bytes of ``[[[[…`` are refused with a TokenError, not a RecursionError."""
    token = _raw_token(b"[" * 100_000)
    assert len(token) < 600
    assert "nests deeper than" in _refused(token)
    deep: Any = 0
    for _ in range(MAX_DEPTH - 1):  # the body and the spec are two levels
        deep = [deep]
    assert "nests deeper than" in _refused(_signed({**_body(REAL), "spec": {"x": deep}}))
    fine: Any = 0
    for _ in range(MAX_DEPTH - 2):
        fine = [fine]
    assert decode_token(_signed({**_body(REAL), "spec": {"x": fine}}))[0]["x"] == fine


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    """A spec whose strings hold brackets and quotes decodes: the pre-scan skips strings."""
    spec = {"x": "[" * 1000 + '\\"{' * 100, "y": ["]\\", '"'], "z": "\\"}
    assert decode_token(_signed({**_body(REAL), "spec": spec}))[0] == spec
    assert "not valid JSON" in _refused(_raw_token(b'{"a": "' + b'\\"[' * 50_000))


def test_too_many_containers_are_refused() -> None:
    """More than MAX_CONTAINERS arrays and objects are refused before json.loads builds them."""
    spec: dict[str, list[list[int]]] = {"x": [[] for _ in range(MAX_CONTAINERS + 1)]}
    assert "arrays and objects" in _refused(_signed({**_body(REAL), "spec": spec}))


def _bomb(size: int, head: bytes = b'{"format":1,"spec":{"x":"') -> bytes:
    """zlib of ``head`` and ``size`` bytes of ``a``, compressed in chunks (never held whole)."""
    z = zlib.compressobj(9)
    out = [z.compress(head)]
    chunk = b"a" * (1 << 20)
    for _ in range(size >> 20):
        out.append(z.compress(chunk))
    out.append(z.flush())
    return b"".join(out)


def test_zip_bomb_is_refused_in_bounded_memory() -> None:
    """A token that would inflate to 8x the cap is refused, holding about the cap in memory."""
    token = _b64(_bomb(8 * MAX_BODY_BYTES))
    assert len(token) < MAX_TOKEN_CHARS // 10
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        assert "inflates to more than" in _refused(token)
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * MAX_BODY_BYTES + len(token) * 2
    assert elapsed < 5
    assert "inflates to more than" in _refused(_raw_token(b"[" * (MAX_BODY_BYTES + 1)))


def test_overlong_token_text_is_refused_before_decoding() -> None:
    """A token longer than MAX_TOKEN_CHARS is refused by its length alone."""
    assert "characters long" in _refused(TOKEN_PREFIX + "A" * MAX_TOKEN_CHARS)


def test_bytes_after_the_zlib_stream_are_refused() -> None:
    """Data after the end of the compressed body is refused, not ignored."""
    packed = _packed(REAL)
    assert "follow its compressed data" in _refused(_b64(packed + b"\x00"))
    assert "follow its compressed data" in _refused(_b64(packed + packed))
    assert "ends early" in _refused(_b64(packed[:-4]))
    assert "does not decompress" in _refused(_b64(b"\x00" + packed))


@pytest.mark.parametrize(
    ("make", "expect"),
    [
        (lambda t: t[:20] + "!" + t[20:], "not base64url"),
        (lambda t: t[:20] + "+" + t[21:], "not base64url"),
        (lambda t: t[:20] + "/" + t[21:], "not base64url"),
        (lambda t: t[:20] + "é" + t[21:], "not base64url"),
        (lambda t: t[:20] + "\x00" + t[21:], "not base64url"),
        (lambda t: t + "==", "padding"),
        (lambda t: t[:20] + " " + t[20:], "whitespace"),
        (lambda t: t[:40] + "\n" + t[40:], "whitespace"),
        (lambda t: t[:40] + "\t" + t[40:], "whitespace"),
        (lambda t: t + "A" * ((1 - len(t) + len(TOKEN_PREFIX)) % 4 or 4), "length"),
    ],
    ids=["bang", "plus", "slash", "non-ascii", "nul", "padding", "space", "newline", "tab", "len"],
)
def test_characters_outside_base64url_are_refused(make: Callable[[str], str], expect: str) -> None:
    """The stdlib decoder skips stray characters; decode_token names them instead."""
    assert expect in _refused(make(REAL))


def test_stray_bits_in_the_last_character_are_refused() -> None:
    """Two texts for one body are not both accepted: the base64 must be canonical."""
    # A real token whose base64 ends mid-quantum (its last character carries unused bits).
    for extra in range(8):
        token = encode_token(REAL_SPEC, [*REAL_DECISIONS, *[Decision("pad", 2, 0)] * extra])
        payload = token[len(TOKEN_PREFIX) :]
        if len(payload) % 4 in (2, 3):
            break
    assert len(payload) % 4 in (2, 3)
    last = _ALPHABET.index(payload[-1])
    twin = TOKEN_PREFIX + payload[:-1] + _ALPHABET[last ^ 1]
    assert _packed(twin) == _packed(token)
    assert "stray bits" in _refused(twin)


@pytest.mark.parametrize(
    ("token", "expect"),
    [
        ("", "not a pcptrio replay token"),
        ("   \n", "not a pcptrio replay token"),
        ("pcptrio1:", "nothing follows"),
        ("pcptrio2:" + REAL[len(TOKEN_PREFIX) :], "not a pcptrio replay token"),
        ("x" * 10_000, "not a pcptrio replay token"),
    ],
    ids=["empty", "blank", "prefix-only", "other-prefix", "long-garbage"],
)
def test_empty_and_foreign_tokens_are_refused(token: str, expect: str) -> None:
    """No token, only the prefix, or another program's token: one clear message."""
    assert expect in _refused(token)


def test_a_token_that_is_not_text_is_refused() -> None:
    """Bytes where text is expected are a TokenError too."""
    with pytest.raises(TokenError):
        decode_token(REAL.encode())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "raw",
    [b"[1,2]", b'"x"', b"3", b"null", b"\xff\xfe", b"{", b""],
    ids=["list", "string", "number", "null", "not-utf8", "unterminated", "empty"],
)
def test_bodies_that_are_not_a_json_object_are_refused(raw: bytes) -> None:
    """A body must be a JSON object."""
    _refused(_raw_token(raw))


@pytest.mark.parametrize("constant", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_refused(constant: float) -> None:
    """NaN and ±Infinity are not JSON numbers; a token holding one is refused."""
    assert "not a number" in _refused(_signed({**_body(REAL), "spec": {"x": constant}}))
    overflow = _raw_token(_canonical(_body(REAL)).replace(b'"spec":{', b'"spec":{"y":1e400,'))
    assert "not a number" in _refused(overflow)


def test_duplicate_keys_are_refused() -> None:
    """An object that names a key twice is refused, whichever copy the checksum covers."""
    body = _body(REAL)
    body["spec"] = {"a": 2}
    body["check"] = hashlib.sha256(
        _canonical({k: v for k, v in body.items() if k != "check"})
    ).hexdigest()[:16]
    raw = _canonical(body).replace(b'{"a":2}', b'{"a":1,"a":2}')
    assert "repeats the key 'a'" in _refused(_raw_token(raw))


@pytest.mark.parametrize("fmt", [3, 0, "2", 2.0, True, None, [2]])
def test_a_foreign_format_is_refused(fmt: Any) -> None:
    """The body's format must be the integer 2 (``True`` and ``2.0`` are not)."""
    assert "format" in _refused(_signed({**_body(REAL), "format": fmt}))
    body = {k: v for k, v in _body(REAL).items() if k != "format"}
    assert "format None" in _refused(_signed(body))


def test_a_format_1_token_is_refused_with_the_reason() -> None:
    """A token of pcptrio 0.1 (format 1) took a decision at every step: it is refused and the
    message says why (not 'corrupted')."""
    msg = _refused(_signed({**_body(REAL), "format": 1}))
    assert "format 1" in msg and "pcptrio 0.1" in msg and "new token" in msg, msg


def test_another_pcptrio_version_decodes_and_says_which() -> None:
    """A token of another pcptrio version with the same format decodes; the version is the
    spec's ``pcptrio`` (a string)."""
    spec = {**REAL_SPEC, "pcptrio": "9.9.9"}
    assert decode_token(encode_token(spec, REAL_DECISIONS))[0]["pcptrio"] == "9.9.9"
    assert "version" in _refused(encode_token({**REAL_SPEC, "pcptrio": 1}, REAL_DECISIONS))


@pytest.mark.parametrize(
    ("edit", "expect"),
    [
        (lambda b: b.pop("decisions"), "missing keys ['decisions']"),
        (lambda b: b.pop("spec"), "missing keys ['spec']"),
        (lambda b: b.update(extra=1), "unknown keys ['extra']"),
        (lambda b: b.update(spec=[1]), "no run spec"),
        (lambda b: b.update(check=123), "checksum"),
    ],
    ids=["no-decisions", "no-spec", "extra-key", "spec-list", "check-int"],
)
def test_the_body_has_exactly_its_four_fields(
    edit: Callable[[dict[str, Any]], Any], expect: str
) -> None:
    """format, spec, decisions and check, each of its type; nothing more."""
    body = _body(REAL)
    edit(body)
    token = _signed(body) if expect != "checksum" else _raw_token(_canonical(body))
    assert expect in _refused(token)


def _with_decisions(labels: Any, d: Any) -> str:
    return _signed({**_body(REAL), "decisions": {"labels": labels, "d": d}})


@pytest.mark.parametrize(
    ("labels", "d", "expect"),
    [
        (["sched"], [0, 2, True], "choice True"),
        (["sched"], [0, True, 0], "n = True"),
        (["sched"], [True, 2, 0], "label index True"),
        (["sched"], [0, 2, 2], "choice 2 is not an integer in [0, 2)"),
        (["sched"], [0, 2, -1], "choice -1"),
        (["sched"], [0, 0, 0], "n = 0"),
        (["sched"], [0, 2.0, 1], "n = 2.0"),
        (["sched"], [0, 2, 1.0], "choice 1.0"),
        (["sched"], [1, 2, 0], "label index 1"),
        (["sched"], [-1, 2, 0], "label index -1"),
        (["sched"], [0, 2], "triples"),
        (["sched"], "0,2,1", "triples"),
        ([5], [0, 2, 1], "list of strings"),
        ("sched", [0, 2, 1], "list of strings"),
        (["sched", "sched"], [0, 2, 1], "repeats a label"),
        (["\ud800"], [0, 2, 1], "lone surrogate"),
    ],
)
def test_decision_fields_are_type_checked(labels: Any, d: Any, expect: str) -> None:
    """Each decision's label is a string, n an int >= 1, choice an int in [0, n); no bools."""
    assert expect in _refused(_with_decisions(labels, d))


def test_decisions_round_trip_and_n_of_one_is_allowed() -> None:
    """pack/unpack are inverses; a one-option decision (n=1) is valid."""
    decisions = [Decision("sched", 3, 2), Decision("timer", 1, 0), Decision("sched", 2, 0)]
    assert unpack_decisions(pack_decisions(decisions)) == decisions
    assert decode_token(_with_decisions(["t"], [0, 1, 0]))[1] == [Decision("t", 1, 0)]
    with pytest.raises(TokenError, match="unknown keys"):
        unpack_decisions({**pack_decisions(decisions), "x": 1})
    with pytest.raises(TokenError, match="expected an object"):
        unpack_decisions([0, 2, 1])


# -- through the command line -----------------------------------------------------------------


_CLI_BAD: dict[str, Callable[[], str]] = {
    "nesting-bomb": lambda: _raw_token(b"[" * 100_000),
    "zip-bomb": lambda: _b64(_bomb(2 * MAX_BODY_BYTES)),
    "trailing-bytes": lambda: _b64(_packed(REAL) + b"junk"),
    "bad-alphabet": lambda: REAL[:30] + "!" + REAL[31:],
    "wrapped": lambda: REAL[:30] + "\n" + REAL[30:],
    "nan": lambda: _signed({**_body(REAL), "spec": {**REAL_SPEC, "x": float("nan")}}),
    "format-true": lambda: _signed({**_body(REAL), "format": True}),
    "choice-bool": lambda: _with_decisions(["sched"], [0, 2, True]),
    "prefix-only": lambda: TOKEN_PREFIX,
    "empty": lambda: "",
}


@pytest.mark.parametrize("name", sorted(_CLI_BAD))
def test_cli_replay_of_a_bad_token_is_one_error_line(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """``pcptrio replay BAD`` exits 2 with exactly one ``pcptrio: error:`` line, no traceback."""
    assert issubclass(TokenError, BadInput)
    bad = _CLI_BAD[name]()
    capsys.readouterr()
    rc = main(["replay", bad])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert rc == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pcptrio: error:")
