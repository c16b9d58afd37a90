"""L1 — the machine: CPUs and hotplug, zones and the buddy, PCPs, the allocator slow path,
percpu allocation, IPIs and workqueues.  Knows nothing about which drain design runs.

Re-exports only; ``_machine.py`` documents the kernel API designs are written against.
"""

from ._alloc import MAX_RECLAIM_RETRIES as MAX_RECLAIM_RETRIES
from ._alloc import PageCache as PageCache
from ._alloc import Shrinker as Shrinker
from ._costs import Costs as Costs
from ._drainstats import DrainCall as DrainCall
from ._features import HOTPLUG_LOCKS as HOTPLUG_LOCKS
from ._features import KERNEL_410 as KERNEL_410
from ._features import KernelFeatures as KernelFeatures
from ._gfp import GFP_ATOMIC as GFP_ATOMIC
from ._gfp import GFP_KERNEL as GFP_KERNEL
from ._gfp import GFP_NOWAIT as GFP_NOWAIT
from ._gfp import MIGRATE_MOVABLE as MIGRATE_MOVABLE
from ._gfp import MIGRATE_PCPTYPES as MIGRATE_PCPTYPES
from ._gfp import MIGRATE_RECLAIMABLE as MIGRATE_RECLAIMABLE
from ._gfp import MIGRATE_UNMOVABLE as MIGRATE_UNMOVABLE
from ._gfp import PF_KTHREAD as PF_KTHREAD
from ._gfp import PF_MEMALLOC as PF_MEMALLOC
from ._gfp import PF_WQ_WORKER as PF_WQ_WORKER
from ._gfp import Gfp as Gfp
from ._gfp import Protection as Protection
from ._machine import INITCALL_LEVELS as INITCALL_LEVELS
from ._machine import DrainDesignFn as DrainDesignFn
from ._machine import Machine as Machine
from ._machine import MachineStatistics as MachineStatistics
from ._pagemap import PCP_PAGE as PCP_PAGE
from ._pagemap import PageError as PageError
from ._params import MAX_CPUS as MAX_CPUS
from ._params import MAX_PAGES as MAX_PAGES
from ._params import MachineParams as MachineParams
from ._params import ZoneSpec as ZoneSpec
from ._params import pcp_high as pcp_high
from ._params import zone_batchsize as zone_batchsize
from ._pcp import PerCpuPages as PerCpuPages
from ._percpu import PercpuArea as PercpuArea
from ._task import TaskStruct as TaskStruct
from ._task import task_of as task_of
from ._workqueue import CREATE_COOLDOWN as CREATE_COOLDOWN
from ._workqueue import MAYDAY_INITIAL_TIMEOUT as MAYDAY_INITIAL_TIMEOUT
from ._workqueue import MAYDAY_INTERVAL as MAYDAY_INTERVAL
from ._workqueue import WQ_CPU_INTENSIVE as WQ_CPU_INTENSIVE
from ._workqueue import WQ_FREEZABLE as WQ_FREEZABLE
from ._workqueue import WQ_HIGHPRI as WQ_HIGHPRI
from ._workqueue import WQ_MEM_RECLAIM as WQ_MEM_RECLAIM
from ._workqueue import WQ_UNBOUND as WQ_UNBOUND
from ._workqueue import Worker as Worker
from ._workqueue import WorkerPool as WorkerPool
from ._workqueue import Workqueue as Workqueue
from ._workqueue import WorkStruct as WorkStruct
from ._workqueue import debug_check_no_obj_freed as debug_check_no_obj_freed
from ._workqueue import destroy_work_on_stack as destroy_work_on_stack
from ._zone import Zone as Zone
