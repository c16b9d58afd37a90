"""L2 — drain_all_pages() designs, one module per kernel era, and a registry.

Designs use only the machine's kernel API (L1); they know nothing of oracles or scenarios.
"""

from ._base import DrainDesign as DrainDesign
from ._base import DrainFn as DrainFn
from ._base import install_design as install_design
from ._common import CpuMask as CpuMask
from ._common import build_cpus_with_pcps as build_cpus_with_pcps
from ._common import flush_in_nursery as flush_in_nursery
from ._registry import BUILTIN_DESIGNS as BUILTIN_DESIGNS
from ._registry import design_names as design_names
from ._registry import design_ref as design_ref
from ._registry import register_design as register_design
from ._registry import resolve_design as resolve_design
