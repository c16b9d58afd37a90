"""Finding designs by name: the nine built-ins, user registrations, ``pkg.module:attr``.

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
import re
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
from ._wq_411_next import WQ_411_NEXT
from ._wq_411_rc1 import WQ_411_RC1
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
    WQ_411_RC1,
    WQ_411_NEXT,
    WQ_411,
    WQ_50,
    REMOTE_60,
    REMOTE_611,
)

_registry: dict[str, DrainDesign] = {d.name: d for d in BUILTIN_DESIGNS}
#: ``module:attr`` references this process resolved with full permission (the user named
#: them: ``--design``, a library call): a token naming one of them resolves to the same
#: design without importing or calling anything.  Process configuration, like the registry.
_resolved: dict[str, DrainDesign] = {}


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


def _from_object(spec: str, obj: Any, *, call_factories: bool) -> DrainDesign:
    """The design ``obj`` is (or, with ``call_factories``, makes)."""
    if isinstance(obj, DrainDesign):
        return obj
    if inspect.iscoroutinefunction(obj):
        try:
            inspect.signature(obj).bind(None, None, False)
        except (TypeError, ValueError):
            raise BadInput(
                f"{spec} does not take (m, zone, force_all_cpus); a design is "
                "'async def drain_all_pages(m, zone, force_all_cpus)'"
            ) from None
        try:
            eras = tuple(
                Protection(e) for e in getattr(obj, "eras", ("irq", "preempt", "spinlock"))
            )
        except (TypeError, ValueError):
            raise BadInput(
                f"{spec}: its eras attribute must name protection eras "
                "('irq', 'preempt', 'spinlock')"
            ) from None
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
    if callable(obj) and call_factories:
        try:
            made = obj()
        except (Exception, SystemExit) as exc:
            raise BadInput(
                f"{spec}: calling it to make a design raised {type(exc).__name__}: {exc}"
            ) from None
        if isinstance(made, DrainDesign):
            return made
        raise BadInput(f"{spec}() returned {type(made).__name__}, not a DrainDesign")
    if callable(obj):
        raise BadInput(
            f"{spec} is not a design (a DrainDesign or an 'async def drain_all_pages(m, zone, "
            "force_all_cpus)'); a token never calls anything else"
        )
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


_REF = re.compile(r"^([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)*):([A-Za-z_][\w]*)(\(\))?$")


def _import_design_module(spec: str, mod_name: str, allow_import: bool) -> Any:
    mod = sys.modules.get(mod_name)
    if mod is not None:
        return mod
    if not allow_import:
        raise BadInput(
            f"design {spec!r} lives in module {mod_name!r}, which is not imported; loading "
            f"it would run that module's code.  If you trust it, pass --allow-import (library: "
            f"allow_import=True) or --design {spec}"
        )
    try:
        try:
            return importlib.import_module(mod_name)
        except ModuleNotFoundError as first:
            # A design file in the current directory, as `python -m` would find it.
            cwd = os.getcwd()
            if cwd in sys.path or first.name != mod_name.split(".", maxsplit=1)[0]:
                raise
            sys.path.append(cwd)
            try:
                return importlib.import_module(mod_name)
            finally:
                sys.path.remove(cwd)
    except ImportError as exc:
        raise BadInput(f"cannot import design module {mod_name!r}: {exc}") from None
    except (Exception, SystemExit) as exc:
        raise BadInput(
            f"importing design module {mod_name!r} raised {type(exc).__name__}: {exc}"
        ) from None


def resolve_design(
    spec: str | DrainDesign, *, allow_import: bool = True, call_factories: bool = True
) -> DrainDesign:
    """The design named ``spec``: a registered name or ``package.module:attribute``.

    ``attribute`` may be a :class:`DrainDesign`, a bare ``async def drain_all_pages``, or —
    with ``call_factories`` — a function returning a design (``module:factory`` or
    ``module:factory()``).  What a replay token names is resolved with
    ``allow_import=False, call_factories=False``: a pasted token never imports a module that
    is not loaded yet, and never calls anything but the design.

    Registered designs and module attributes come back as the very object; a design built
    here (from a bare function or a factory) carries ``ref`` so :func:`design_ref` finds it
    again."""
    if isinstance(spec, DrainDesign):
        return spec
    if not isinstance(spec, str):
        raise BadInput(f"a design is a name or 'module:attr', not {type(spec).__name__}")
    d = _registry.get(spec) or _resolved.get(spec)
    if d is not None:
        return d
    if ":" in spec:
        m = _REF.match(spec)
        if m is None:
            raise BadInput(
                f"design reference {spec!r} is not 'package.module:attribute' "
                "(identifiers, e.g. my_design:MINE)"
            )
        mod_name, attr, call = m.group(1), m.group(2), bool(m.group(3))
        mod = _import_design_module(spec, mod_name, allow_import)
        if not hasattr(mod, attr):
            raise BadInput(f"module {mod_name!r} has no attribute {attr!r}")
        obj = getattr(mod, attr)
        if call and not call_factories:
            raise BadInput(
                f"{spec} calls a factory; a token never calls one (pass --design {spec})"
            )
        if call and not callable(obj):
            raise BadInput(f"{spec}: {mod_name}.{attr} is not callable")
        found = _from_object(spec, obj, call_factories=call_factories)
        if found.ref is None and _module_ref(found) is None:
            # Made here: a bare function's ref is itself; a factory's design that no module
            # attribute holds can only be found again by calling the factory.
            made = not isinstance(obj, DrainDesign) and not inspect.iscoroutinefunction(obj)
            ref = f"{mod_name}:{attr}()" if made else spec
            found = attrs.evolve(found, ref=ref)
        if allow_import and call_factories:
            _resolved[spec] = found
            _resolved[design_ref(found)] = found
        return found
    close = difflib.get_close_matches(spec, list(_registry), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise BadInput(
        f"unknown design {spec!r}{hint} (known: {', '.join(_registry)}; or pkg.module:function)"
    )
