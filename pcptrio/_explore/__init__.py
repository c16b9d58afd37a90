"""L3 — exploration: single runs and tokens, campaigns, shrinking, the hazard matrix."""

from ._bench import BenchCell as BenchCell
from ._bench import BenchResult as BenchResult
from ._bench import run_bench as run_bench
from ._campaign import SCHEDULERS as SCHEDULERS
from ._campaign import CampaignConfig as CampaignConfig
from ._campaign import CampaignResult as CampaignResult
from ._campaign import Failure as Failure
from ._campaign import explore as explore
from ._campaign import schedule_seed as schedule_seed
from ._matrix import Cell as Cell
from ._matrix import MatrixResult as MatrixResult
from ._matrix import run_matrix as run_matrix
from ._run import RunSpec as RunSpec
from ._run import make_run_spec as make_run_spec
from ._run import replay as replay
from ._run import replay_token as replay_token
from ._run import run_spec as run_spec
from ._run import run_spec_async as run_spec_async
from ._run import spec_from_token as spec_from_token
from ._run import token_of as token_of
from ._shrink import ShrinkResult as ShrinkResult
from ._shrink import shrink as shrink
