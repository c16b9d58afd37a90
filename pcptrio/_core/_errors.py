"""Errors the engine raises, split by who should see them.

:class:`BadInput` (and its subclasses) is the user's fault: an unknown name, an impossible
parameter, a malformed or foreign replay token.  The CLI turns it into one line on stderr and
exit code 2.  :class:`ModelError` is a bug in model code (blocking on a raw trio primitive,
sleeping in atomic context); it ends a run with outcome ``error``.
"""

from __future__ import annotations

__all__ = [
    "BadInput",
    "ForeignBlockError",
    "ModelError",
    "PcptrioError",
    "ReplayDrift",
    "TokenError",
]


class PcptrioError(Exception):
    """Base class of every error pcptrio raises on purpose."""


class BadInput(PcptrioError):
    """The user asked for something that cannot be done; the message says what and why."""


class TokenError(BadInput):
    """A replay token is malformed, corrupted, or was made by another program or version."""


class ReplayDrift(PcptrioError):
    """A strict replay reached a decision that no longer matches the recorded one."""

    def __init__(self, step: int, expected: str, got: str) -> None:
        super().__init__(f"replay drift at step {step}: expected {expected}, got {got}")
        self.step = step
        self.expected = expected
        self.got = got


class ModelError(PcptrioError):
    """Model code broke a rule of the engine (the run ends with outcome ``error``)."""


class ForeignBlockError(ModelError):
    """An actor blocked on a trio primitive the engine cannot see."""
