"""L2 — oracles: named judges of a run, independent of any design."""

from ._base import Oracle as Oracle
from ._probes import PROBES as PROBES
from ._probes import ProbeSet as ProbeSet
from ._probes import attach_probes as attach_probes
from ._probes import probe_names as probe_names
from ._registry import ALWAYS_ON as ALWAYS_ON
from ._registry import ORACLES as ORACLES
from ._registry import attach_oracles as attach_oracles
from ._registry import make_oracle as make_oracle
from ._registry import oracle_names as oracle_names
