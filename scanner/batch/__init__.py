"""Many releases in one run: `provscan batch TARGETS_FILE --out DIR [--scheduler ADDRESS]`.

targets.py: the targets file and each target's folder name; unit.py: the work unit (one
target audited and its reports rendered, in a worker); engines.py: a local process pool, or
a Dask distributed cluster; results.py: the results in the store; index_page.py: the HTML
index; run.py: the whole run, resumable. docs/batch.md says how it scales out.
"""

from .engines import DaskCluster, Engine, LocalPool
from .run import BatchOutcome, run_batch
from .targets import BatchError, read_targets
from .unit import UnitOptions, UnitResult

__all__ = [
    "BatchError",
    "BatchOutcome",
    "DaskCluster",
    "Engine",
    "LocalPool",
    "UnitOptions",
    "UnitResult",
    "read_targets",
    "run_batch",
]
