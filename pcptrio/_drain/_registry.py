"""Finding designs by name: the seven built-ins, user registrations, ``pkg.module:attr``.

``resolve_design("wq-4.11")`` returns a built-in; ``resolve_design("mypkg.designs:mine")``
imports ``mypkg.designs`` and takes ``mine``: a :class:`DrainDesign`, a function returning
one, or a bare ``async def drain_all_pages(m, zone, force_all_cpus)`` (then usable in every
era unless it has an ``eras`` attribute).  Unknown names are :class:`~pcptrio.BadInput` with
the closest known name suggested.

The registry of user designs is process configuration (like an entry-point table), not model
state: runs never write to it.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
import sys
from typing import Any

import attrs

from .._core import BadInput
from .._kernel import Protection
from ._base import DrainDesign
from ._ipi import IPI
from ._remote import REMOTE_60, REMOTE_611
from ._wq_50 import WQ_50
from ._wq_411 import WQ_411
from ._wq_hotplug import WQ_HOTPLUG
from ._wq_rfc import WQ_RFC

__all__ = [
    "BUILTIN_DESIGNS",
    "design_names",
    "design_ref",
    "register_design",
    "resolve_design",
]

#: The designs of ``docs/hazards.md``, in kernel-history order.
BUILTIN_DESIGNS: tuple[DrainDesign, ...] = (
    IPI,
    WQ_RFC,
    WQ_HOTPLUG,
    WQ_411,
    WQ_50,
    REMOTE_60,
    REMOTE_611,
)

_registry: dict[str, DrainDesign] = {d.name: d for d in BUILTIN_DESIGNS}


def design_names() -> list[str]:
    return list(_registry)


def register_design(design: DrainDesign, *, replace: bool = False) -> DrainDesign:
    """Make ``design`` available by name everywhere (API, CLI, tokens in this process)."""
    if design.name in _registry and not replace and _registry[design.name] is not design:
        raise BadInput(f"a design named {design.name!r} is already registered")
    if not design.eras:
        raise BadInput(f"design {design.name!r} declares no protection era")
    _registry[design.name] = design
    return design


def _from_object(spec: str, obj: Any) -> DrainDesign:
    if isinstance(obj, DrainDesign):
        return obj
    if inspect.iscoroutinefunction(obj):
        eras = tuple(Protection(e) for e in getattr(obj, "eras", ("irq", "preempt", "spinlock")))
        return DrainDesign(spec, obj, eras=eras, kernel="user design", summary=obj.__doc__ or "")
    if inspect.isfunction(obj) and any(
        p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        for p in inspect.signature(obj).parameters.values()
    ):
        raise BadInput(
            f"{spec} is a plain function; a design must be written "
            "'async def drain_all_pages(m, zone, force_all_cpus)'"
        )
    if callable(obj):
        try:
            made = obj()
        except Exception as exc:
            raise BadInput(
                f"{spec}: calling it to make a design raised {type(exc).__name__}: {exc}"
            ) from None
        if isinstance(made, DrainDesign):
            return made
    raise BadInput(
        f"{spec} is neither a DrainDesign, a function returning one, nor an "
        "'async def drain_all_pages(m, zone, force_all_cpus)'"
    )


def _module_ref(d: DrainDesign) -> str | None:
    """``module:attr`` of an importable module attribute holding ``d``, if there is one."""
    mod_name = getattr(d.drain_all_pages, "__module__", None)
    mod = sys.modules.get(mod_name) if mod_name else None
    if mod is not None and mod_name != "__main__":
        for attr, value in vars(mod).items():
            if value is d:
                return f"{mod_name}:{attr}"
    return None


def design_ref(d: DrainDesign) -> str:
    """A reference that resolves ``d`` again, in another process too (tokens and worker
    processes use it): a built-in's name, the design's ``ref``, or ``module:attr`` of the
    importable module attribute that holds it — also when it is registered by name.  Only a
    design that no importable module holds (one made in ``__main__``, say) falls back to its
    registered name, valid in this process and its forked workers only."""
    if d in BUILTIN_DESIGNS:
        return d.name
    if d.ref is not None:
        return d.ref
    found = _module_ref(d)
    if found is not None:
        return found
    if _registry.get(d.name) is not d:
        register_design(d)
    return d.name


def resolve_design(spec: str | DrainDesign) -> DrainDesign:
    """The design named ``spec``: a registered name or ``package.module:attribute``.

    Registered designs and module attributes come back as the very object; a design built
    here (from a bare function or a factory) carries ``ref`` so :func:`design_ref` finds it
    again."""
    if isinstance(spec, DrainDesign):
        return spec
    d = _registry.get(spec)
    if d is not None:
        return d
    if ":" in spec:
        mod_name, _, attr = spec.partition(":")
        try:
            mod = importlib.import_module(mod_name)
        except ImportError as first:
            # A design file in the current directory, as `python -m` would find it.
            cwd = os.getcwd()
            if cwd in sys.path:
                raise BadInput(f"cannot import design module {mod_name!r}: {first}") from None
            sys.path.append(cwd)
            try:
                mod = importlib.import_module(mod_name)
            except ImportError as exc:
                raise BadInput(f"cannot import design module {mod_name!r}: {exc}") from None
            finally:
                sys.path.remove(cwd)
        if not hasattr(mod, attr):
            raise BadInput(f"module {mod_name!r} has no attribute {attr!r}")
        found = _from_object(spec, getattr(mod, attr))
        if found.ref is None and _module_ref(found) is None:
            found = attrs.evolve(found, ref=spec)
        return found
    close = difflib.get_close_matches(spec, list(_registry), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise BadInput(
        f"unknown design {spec!r}{hint} (known: {', '.join(_registry)}; or pkg.module:function)"
    )
