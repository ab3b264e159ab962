"""cream: one-shot NAS by prioritized path distillation. Importing it registers ``cream_*`` models in timm.

From Python (``cream.api``): ``cream.search``, ``cream.retrain``, ``cream.test``, ``cream.export``, ``cream.arch``,
``cream.latency_table``, ``cream.subset``, ``cream.rankcorr``, ``cream.report`` and ``cream.select`` do what the
commands do and return typed results (``cream.api.space`` plans a space: ``cream.space`` is the search space's package);
``cream.create_model`` builds a net, ``cream.load_supernet`` reads a search. The search's own code lives in the
package ``cream.nas``.

Layers, bottom to top: errors < config < engine < space, data < settings_from_data < nas, train < analysis <
reporting < official < assemble < api < cli. A module imports from its own package and from layers below it, never
from one above or from a sibling on its layer (nas and train stand apart); only this file imports upward
(tests/test_layering.py reads this line and checks every import of the package against it).
"""

from importlib.metadata import PackageNotFoundError, version

from cream import nas as _nas  # noqa: F401  (registers the built-in search rules and their config keys)
from cream.api import (  # noqa: F401  (the Python API)
    ExportResult,
    LatencyTableResult,
    RankCorrResult,
    ReportResult,
    RetrainResult,
    SearchResult,
    SelectResult,
    SpaceResult,
    SubsetResult,
    TestResult,
    arch,
    create_model,
    export,
    latency_table,
    load_supernet,
    rankcorr,
    report,
    retrain,
    search,
    select,
    subset,
    test,
)
from cream.space import zoo as _zoo  # noqa: F401  (registers the paper models in timm)

try:
    __version__ = version("cream")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
