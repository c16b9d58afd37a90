"""Replay tokens: one printable line that reruns a run exactly.

Format: ``pcptrio1:`` + base64url (no padding) of a zlib-compressed body.  The body is a JSON
object with exactly four keys::

    {"check": "<16 hex digits>", "decisions": {"d": [...], "labels": [...]},
     "format": 2, "spec": {...}}

``spec`` is whatever the caller needs to rebuild the run (scenario, design, parameters, and
under ``"pcptrio"`` the version that made it); the decisions are packed as a label table plus
a flat integer list ``[label_index, n, choice, ...]``.  The JSON is sorted and ``check`` is a
sha256 of the rest, so a token changed by one character, truncated, or made by another
program is refused with a :class:`~pcptrio._core.TokenError` that says which of these it is.

Why so strict
-------------
A token is pasted from bug reports, mails and chat: it is untrusted input.  Decoding refuses
anything malformed with *one* ``TokenError`` (a ``BadInput``: the CLI prints one line and
exits 2), never another exception, and reads a token in bounded memory and time:

- the text is at most :data:`MAX_TOKEN_CHARS` characters, strictly base64url (the stdlib
  decoder skips stray characters; a token wrapped across lines in a mail would decode to
  something else or fail far from the cause), canonical, without ``=`` padding;
- the body inflates to at most :data:`MAX_BODY_BYTES` (``decompressobj`` with a
  ``max_length``: a zip bomb stops there) and the zlib stream ends exactly where the data
  does (bytes after it are refused, not ignored);
- the JSON nests at most :data:`MAX_DEPTH` deep and holds at most :data:`MAX_CONTAINERS`
  arrays and objects, counted by a linear pre-scan of the text before ``json.loads`` builds
  anything (``json.loads`` itself recurses: a 562-byte ``[[[[…`` used to raise RecursionError);
- no NaN / Infinity, no duplicate keys, and every field has its type: ``format`` the integer
  this code reads (``True`` is not ``1``), each decision's ``n`` an ``int >= 1`` and its
  ``choice`` an ``int`` in ``[0, n)``.

How the caps were chosen (measured with pcptrio 0.1.0): the largest built-in run,
``pcptrio run bench-drain --design wq-4.11 --cpus 512``, makes a 59,569-character token that
inflates to 193,016 bytes (25,042 decisions); with ``--param rounds=10`` it is 146,749
characters / 533,475 bytes (70,394 decisions).  A 1024-CPU engine would about double these.
bench-drain's own step budget (2,000,000 steps, about 2.6 inflated bytes per step) bounds a
run of it at about 5.2 MB inflated / 1.4 M characters.  The caps sit above all of these; the
price is that a run recording more than about a million decisions (7-8 inflated bytes each)
makes a token this decoder refuses, and the refusal says so.  At the caps, the costliest
token that passes (8 MB of decisions ``[0,1,0,...]``, 1.4 M of them, correctly re-signed)
decodes in about 4 s with a peak of about 210 MB RSS; a 2 MB zip bomb that would inflate to
1.5 GB is refused in 0.06 s, a ``[[[[…`` nesting bomb at once.  A real 512-CPU token decodes
in 0.05 s.

Only the token *format* is checked: a token written by another pcptrio version replays if
its format matches.  The version that wrote it is ``spec["pcptrio"]`` (a string when
present); callers that care compare it themselves.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import operator
import re
import zlib
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn

from ._errors import TokenError
from ._values import Decision

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_CONTAINERS",
    "MAX_DEPTH",
    "MAX_TOKEN_CHARS",
    "TOKEN_PREFIX",
    "decode_token",
    "encode_token",
    "pack_decisions",
    "unpack_decisions",
]

TOKEN_PREFIX = "pcptrio1:"
#: 2 since engine 2 (local clocks): a run takes fewer decisions, so format-1 decision lists
#: (pcptrio 0.1) would replay as another run; they are refused with that reason.
_FORMAT = 2
_BODY_KEYS = frozenset({"check", "decisions", "format", "spec"})
_PACKED_KEYS = frozenset({"d", "labels"})

#: Longest token :func:`decode_token` reads, in characters (surrounding whitespace aside):
#: 70x the 512-CPU bench-drain token, 3x the bound of a bench-drain run at its step budget.
MAX_TOKEN_CHARS = 4 * 1024 * 1024
#: Most bytes a token's body may inflate to: 40x the 512-CPU bench-drain body, 1.6x the
#: bound of a bench-drain run at its step budget.
MAX_BODY_BYTES = 8 * 1024 * 1024
#: Deepest nesting of JSON arrays and objects in a body.  A token of a built-in scenario
#: nests 3 deep, one carrying a small TOML scenario 8; the scenario's table sits 4 deep and
#: the scenario parser caps its own nesting at 32 levels, so a legal token stays within 35.
MAX_DEPTH = 64
#: Most JSON arrays and objects in a body (each costs ~60 bytes of memory for 2-3 of text;
#: a run spec has a few hundred at most, the decisions two).
MAX_CONTAINERS = 100_000

_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
_NOT_ALPHABET = re.compile(r"[^A-Za-z0-9_-]")
# A JSON string, or what is left of an unterminated one: the match never fails once it
# has started at a quote, so stripping strings stays linear on hostile text.
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")


def pack_decisions(decisions: Iterable[Decision | tuple[str, int, int]]) -> dict[str, Any]:
    """The decisions (:class:`Decision` values, or the engine's raw ``(label, n, choice)``
    tuples) as ``{"labels": [...], "d": [label_index, n, choice, ...]}``."""
    raw = [d if type(d) is tuple else (d.label, d.n, d.choice) for d in decisions]  # type: ignore[union-attr]
    # Labels in order of first use; the flat list filled a field at a time (slice
    # assignment: a quarter faster than a nested comprehension on a long run's decisions).
    index = {label: i for i, label in enumerate(dict.fromkeys([d[0] for d in raw]))}
    flat = [0] * (3 * len(raw))
    flat[0::3] = map(index.__getitem__, [d[0] for d in raw])
    flat[1::3] = [d[1] for d in raw]
    flat[2::3] = [d[2] for d in raw]
    return {"labels": list(index), "d": flat}


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_text(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _short(v: object) -> str:
    """``repr(v)``, cut to fit in a one-line error message."""
    r = repr(v)
    return r if len(r) <= 40 else r[:37] + "..."


def unpack_decisions(packed: Any) -> list[Decision]:
    """The inverse of :func:`pack_decisions`; a :class:`TokenError` naming the bad entry."""

    def bad(what: str) -> NoReturn:
        raise TokenError(f"replay token has a malformed decision list ({what})")

    if not isinstance(packed, dict):
        bad(f"expected an object with 'labels' and 'd', got {type(packed).__name__}")
    if packed.keys() != _PACKED_KEYS:
        missing = sorted(_PACKED_KEYS - packed.keys())
        extra = sorted(packed.keys() - _PACKED_KEYS)
        bad(f"missing keys {missing}" if missing else f"unknown keys {_short(extra)}")
    labels, flat = packed["labels"], packed["d"]
    if not isinstance(labels, list) or not all(isinstance(s, str) for s in labels):
        bad("'labels' is not a list of strings")
    if not all(_is_text(s) for s in labels):
        bad("a label is not valid Unicode text (a lone surrogate)")
    if len(set(labels)) != len(labels):
        bad("'labels' repeats a label")
    if not isinstance(flat, list) or len(flat) % 3:
        bad("'d' is not a list of [label index, n, choice] triples")
    lis, ns, cs = flat[0::3], flat[1::3], flat[2::3]
    # A tight pass (in C: every entry an exact int, then each field's range); the slower
    # walk below only runs to name the bad entry.
    if flat and not (
        set(map(type, flat)) == {int}
        and min(lis) >= 0
        and max(lis) < len(labels)
        and min(ns) >= 1
        and min(cs) >= 0
        and min(map(operator.sub, ns, cs)) >= 1
    ):
        for i, (li, n, c) in enumerate(zip(lis, ns, cs, strict=True)):
            if not (_is_int(li) and 0 <= li < len(labels)):
                bad(f"decision {i}: label index {_short(li)} is not in [0, {len(labels)})")
            if not (_is_int(n) and n >= 1):
                bad(f"decision {i}: n = {_short(n)} is not an integer >= 1")
            if not (_is_int(c) and 0 <= c < n):
                bad(f"decision {i}: choice {_short(c)} is not an integer in [0, {n})")
    # Decisions are frozen values and a run repeats few distinct ones: make each once.
    made: dict[tuple[int, int, int], Decision] = {}
    out: list[Decision] = []
    add = out.append
    for t in zip(lis, ns, cs, strict=True):
        d = made.get(t)
        if d is None:
            d = made[t] = Decision(labels[t[0]], t[1], t[2])
        add(d)
    return out


def _digest(body: dict[str, Any]) -> str:
    raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def encode_token(spec: dict[str, Any], decisions: Sequence[Decision | tuple[str, int, int]]) -> str:
    """The token for a run built from ``spec`` that took ``decisions``.

    >>> encode_token({"toy": 1}, [Decision("sched", 2, 1)])[:9]
    'pcptrio1:'
    """
    body = {"format": _FORMAT, "spec": spec, "decisions": pack_decisions(decisions)}
    unsigned = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    check = hashlib.sha256(unsigned).hexdigest()[:16]
    # The signed body, sorted, is the unsigned one with "check" (the first key) in front:
    # what json.dumps of the body with its check would write, without writing it twice.
    raw = b'{"check":"' + check.encode() + b'",' + unsigned[1:]
    # Level 6: a tenth of level 9's time on a long run's decisions (8 ms against 78 ms for
    # 37,585 decisions), for a token about 17% longer; decoding reads any level.
    packed = zlib.compress(raw, 6)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(packed).decode().rstrip("=")


def _corrupted(why: str) -> TokenError:
    return TokenError(f"replay token is corrupted ({why})")


def _payload_bytes(payload: str) -> bytes:
    """The compressed bytes of the text after the prefix: strict base64url, no padding."""
    if not payload:
        raise _corrupted(f"nothing follows {TOKEN_PREFIX!r}; was it truncated?")
    if not _ALPHABET.fullmatch(payload):
        m = _NOT_ALPHABET.search(payload)
        assert m is not None
        at = len(TOKEN_PREFIX) + m.start()
        if m.group().isspace():
            raise _corrupted(
                f"whitespace at character {at}; was it wrapped across lines? "
                "join the pieces without spaces"
            )
        if m.group() == "=":
            raise _corrupted(f"'=' at character {at}; tokens are base64url without padding")
        raise _corrupted(
            f"character {at} is {m.group()!r}, not base64url (A-Z a-z 0-9 - _); was it edited?"
        )
    if len(payload) % 4 == 1:
        raise _corrupted("its length is impossible for base64; was it truncated?")
    try:
        packed = base64.b64decode(payload + "=" * (-len(payload) % 4), b"-_", validate=True)
    except (binascii.Error, ValueError):  # pragma: no cover - the alphabet is checked above
        raise _corrupted("it is not base64url") from None
    if base64.urlsafe_b64encode(packed).decode().rstrip("=") != payload:
        raise _corrupted("its last character carries stray bits; was it edited?")
    return packed


def _inflate(packed: bytes) -> bytes:
    """The body's bytes, at most :data:`MAX_BODY_BYTES`, with nothing after the stream."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(packed, MAX_BODY_BYTES + 1)
    except zlib.error:
        raise _corrupted("it does not decompress; was it truncated or edited?") from None
    if len(raw) > MAX_BODY_BYTES:
        raise TokenError(
            f"replay token inflates to more than {MAX_BODY_BYTES} bytes, the most pcptrio "
            "reads (a zip bomb, or a run of over a million decisions)"
        )
    if not inflater.eof:
        raise _corrupted("its compressed data ends early; was it truncated?")
    if inflater.unused_data:
        raise _corrupted(f"{len(inflater.unused_data)} bytes follow its compressed data")
    return raw


def _check_shape(text: str) -> None:
    """Refuse JSON text nested deeper than MAX_DEPTH or with more than MAX_CONTAINERS
    arrays and objects, before ``json.loads`` builds (and recurses into) any of it."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    opens = brackets.count("[") + brackets.count("{")
    if opens > MAX_CONTAINERS or len(brackets) - opens > MAX_CONTAINERS:
        raise TokenError(
            f"replay token's body has more than {MAX_CONTAINERS} arrays and objects, "
            "the most pcptrio reads"
        )
    depth = 0
    for ch in brackets:
        depth += 1 if ch in "[{" else -1
        if depth > MAX_DEPTH:
            raise TokenError(
                f"replay token's body nests deeper than {MAX_DEPTH} levels, the most pcptrio reads"
            )


def _no_constant(name: str) -> NoReturn:
    name = name if len(name) <= 24 else name[:21] + "..."
    raise TokenError(f"replay token's body holds {name}, which is not a number pcptrio reads")


def _finite(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        _no_constant(text)
    return v


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise TokenError(f"replay token's body repeats the key {_short(k)} in one object")
            seen.add(k)
    return out


def _parse(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _corrupted("its body is not UTF-8 text") from None
    _check_shape(text)
    try:
        return json.loads(
            text, parse_constant=_no_constant, parse_float=_finite, object_pairs_hook=_object
        )
    except (ValueError, RecursionError):
        raise _corrupted("its body is not valid JSON; was it edited?") from None


def decode_token(token: str) -> tuple[dict[str, Any], list[Decision]]:
    """``(spec, decisions)`` from a token, or a :class:`TokenError` saying what is wrong.

    Surrounding whitespace is ignored; anything else :func:`encode_token` would not have
    written is refused (see the module docstring for the rules and the size caps).
    ``spec.get("pcptrio")`` is the version that wrote the token; it is not checked.

    >>> spec, decisions = decode_token(encode_token({"toy": 1}, [Decision("sched", 2, 1)]))
    >>> spec, decisions
    ({'toy': 1}, [Decision(label='sched', n=2, choice=1)])
    """
    if not isinstance(token, str):
        raise TokenError(f"a replay token is text, not {type(token).__name__}")
    token = token.strip()
    if not token:
        raise TokenError(
            f"not a pcptrio replay token (it is empty; expected {TOKEN_PREFIX!r} and more)"
        )
    if not token.startswith(TOKEN_PREFIX):
        head = token.split(":", 1)[0] if ":" in token[:40] else token[:12]
        raise TokenError(
            f"not a pcptrio replay token (expected it to start with {TOKEN_PREFIX!r}, "
            f"got {head!r}...)"
        )
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenError(
            f"replay token is {len(token)} characters long, more than the {MAX_TOKEN_CHARS} "
            "pcptrio reads (a run of over a million decisions, or not a real token)"
        )
    body = _parse(_inflate(_payload_bytes(token[len(TOKEN_PREFIX) :])))
    if not isinstance(body, dict):
        raise _corrupted(f"its body is a JSON {type(body).__name__}, not an object")
    fmt = body.get("format")
    if _is_int(fmt) and fmt == 1:
        raise TokenError(
            "replay token has format 1: it was made by pcptrio 0.1, whose engine took a "
            "decision at every step; this engine (local clocks) takes fewer, so the token "
            "cannot replay its run here. Rerun the campaign or the run to get a new token"
        )
    if not (_is_int(fmt) and fmt == _FORMAT):
        raise TokenError(
            f"replay token has format {_short(fmt)}; this pcptrio reads format {_FORMAT} "
            "(was it made by a much newer or older pcptrio?)"
        )
    if body.keys() != _BODY_KEYS:
        missing = sorted(_BODY_KEYS - body.keys())
        extra = sorted(body.keys() - _BODY_KEYS)
        raise _corrupted(f"missing keys {missing}" if missing else f"unknown keys {_short(extra)}")
    check = body.pop("check")
    if not isinstance(check, str) or check != _digest(body):
        raise _corrupted("its checksum does not match")
    spec = body["spec"]
    if not isinstance(spec, dict):
        raise TokenError("replay token carries no run spec (its 'spec' is not an object)")
    if not isinstance(spec.get("pcptrio", ""), str):
        raise TokenError("replay token's pcptrio version is not a string")
    return spec, unpack_decisions(body["decisions"])
