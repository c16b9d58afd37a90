"""The code fingerprint: which pcptrio (and which user design module) made a result.

``code_fingerprint()`` is pcptrio's version and a hash of its sources
(``0.1.0+68b046109b25f121``); with a user design's reference (``module:attr``) a hash of that
module's source follows (``…+68b0…+3f2a9c01d4e7``).  Campaign files and matrix shards record
it and are refused by other code rather than mixed; a cluster's workers are checked against
the driver's; tokens carry it, so ``replay`` can say when the code changed since.  Computed
once per process (sources do not change under a running one).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import pathlib
import sys

from .._version import __version__

__all__ = ["code_fingerprint"]


@functools.cache
def _package_hash() -> str:
    root = pathlib.Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@functools.cache
def _module_hash(module: str) -> str | None:
    """A hash of ``module``'s source file, None when it has none (a built-in name, a design
    made in ``__main__``) or cannot be found."""
    mod = sys.modules.get(module)
    origin = getattr(mod, "__file__", None) if mod is not None else None
    if origin is None:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            return None
        origin = spec.origin if spec is not None else None
    if not origin or not origin.endswith(".py"):
        return None
    try:
        return hashlib.sha256(pathlib.Path(origin).read_bytes()).hexdigest()[:12]
    except OSError:
        return None


def code_fingerprint(design: str | None = None) -> str:
    """pcptrio's version and source hash, and the source hash of ``design``'s module when
    it is a user design's ``module:attr`` reference."""
    fp = f"{__version__}+{_package_hash()}"
    if design is not None and ":" in design:
        h = _module_hash(design.split(":", 1)[0])
        if h is not None:
            fp += f"+{h}"
    return fp
