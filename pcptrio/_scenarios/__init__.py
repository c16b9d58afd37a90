"""L3 — scenarios: one per hazard, plain workloads, and user scenarios from TOML."""

from ._actors import ACTOR_KINDS as ACTOR_KINDS
from ._actors import run_actor as run_actor
from ._demo import DEMO_NAME as DEMO_NAME
from ._demo import demo_spec as demo_spec
from ._demo import lost_update_run as lost_update_run
from ._hazards import HAZARDS as HAZARDS
from ._hazards import Hazard as Hazard
from ._registry import builtin_scenarios as builtin_scenarios
from ._registry import hazard_scenarios as hazard_scenarios
from ._registry import resolve_scenario as resolve_scenario
from ._registry import scenario_names as scenario_names
from ._scenario import COMMON_PARAMS as COMMON_PARAMS
from ._scenario import NotApplicable as NotApplicable
from ._scenario import ScenarioDef as ScenarioDef
from ._scenario import parse_scenario as parse_scenario
from ._toml import load_toml_scenario as load_toml_scenario
from ._toml import parse_toml_scenario as parse_toml_scenario
