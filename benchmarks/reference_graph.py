"""The reference FusionINN (FrEIA's modules, the original graph and training loss): ``fusioninn.bench.reference``.

Kept at this path for scripts that import ``reference_graph`` from ``benchmarks/``.
"""

from fusioninn.bench.reference import *  # noqa: F403
from fusioninn.bench.reference import __all__  # noqa: F401
