"""Replay tokens: one printable line that reruns a run exactly.

Format: ``pcptrio1:`` + base64url (no padding) of a zlib-compressed body.  The body is a JSON
object with the run spec (whatever the caller needs to rebuild the run: scenario, design,
parameters, version) and the decisions, packed as a label table plus a flat integer list
``[label_index, n, choice, ...]``.  The JSON is sorted and the body carries a sha256 check of
itself, so a token changed by one character, truncated, or made by another program is refused
with a :class:`~pcptrio._core.TokenError` that says which of these it is.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zlib
from collections.abc import Sequence
from typing import Any

from ._errors import TokenError
from ._values import Decision

__all__ = ["TOKEN_PREFIX", "decode_token", "encode_token", "pack_decisions", "unpack_decisions"]

TOKEN_PREFIX = "pcptrio1:"
_FORMAT = 1


def pack_decisions(decisions: Sequence[Decision]) -> dict[str, Any]:
    labels: list[str] = []
    index: dict[str, int] = {}
    flat: list[int] = []
    for d in decisions:
        li = index.get(d.label)
        if li is None:
            li = index[d.label] = len(labels)
            labels.append(d.label)
        flat += (li, d.n, d.choice)
    return {"labels": labels, "d": flat}


def unpack_decisions(packed: Any) -> list[Decision]:
    try:
        labels = packed["labels"]
        flat = packed["d"]
        if not isinstance(labels, list) or not isinstance(flat, list) or len(flat) % 3:
            raise ValueError("bad shape")
        out = []
        for i in range(0, len(flat), 3):
            li, n, c = flat[i], flat[i + 1], flat[i + 2]
            if not (isinstance(li, int) and isinstance(n, int) and isinstance(c, int)):
                raise ValueError("non-integer")
            if not (0 <= li < len(labels) and 0 <= c < n):
                raise ValueError("out of range")
            out.append(Decision(str(labels[li]), n, c))
        return out
    except (KeyError, TypeError, ValueError) as exc:
        raise TokenError(f"replay token has a malformed decision list ({exc})") from None


def _digest(body: dict[str, Any]) -> str:
    raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def encode_token(spec: dict[str, Any], decisions: Sequence[Decision]) -> str:
    """The token for a run built from ``spec`` that took ``decisions``."""
    body = {"format": _FORMAT, "spec": spec, "decisions": pack_decisions(decisions)}
    body["check"] = _digest(body)
    raw = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    packed = zlib.compress(raw, 9)
    return TOKEN_PREFIX + base64.urlsafe_b64encode(packed).decode().rstrip("=")


def decode_token(token: str) -> tuple[dict[str, Any], list[Decision]]:
    """``(spec, decisions)`` from a token, or a :class:`TokenError` saying what is wrong."""
    token = token.strip()
    if not token.startswith(TOKEN_PREFIX):
        head = token.split(":", 1)[0] if ":" in token else token[:12]
        raise TokenError(
            f"not a pcptrio replay token (expected it to start with {TOKEN_PREFIX!r}, "
            f"got {head!r}...)"
        )
    payload = token[len(TOKEN_PREFIX) :]
    try:
        packed = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        raw = zlib.decompress(packed)
        body = json.loads(raw)
    except (binascii.Error, ValueError, zlib.error):
        raise TokenError(
            "replay token is corrupted (it does not decode; was it truncated or edited?)"
        ) from None
    if not isinstance(body, dict) or body.get("format") != _FORMAT:
        got = body.get("format") if isinstance(body, dict) else None
        raise TokenError(f"replay token has format {got!r}; this pcptrio reads format {_FORMAT}")
    check = body.pop("check", None)
    if check != _digest(body):
        raise TokenError("replay token is corrupted (its checksum does not match)")
    spec = body.get("spec")
    if not isinstance(spec, dict):
        raise TokenError("replay token carries no run spec")
    return spec, unpack_decisions(body.get("decisions"))
