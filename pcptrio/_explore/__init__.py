"""L3 — exploration: single runs and tokens, campaigns, shrinking, the hazard matrix."""

from ._run import RunSpec as RunSpec
from ._run import make_run_spec as make_run_spec
from ._run import replay as replay
from ._run import replay_token as replay_token
from ._run import run_spec as run_spec
from ._run import run_spec_async as run_spec_async
from ._run import spec_from_token as spec_from_token
from ._run import token_of as token_of
