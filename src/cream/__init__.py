"""cream: one-shot NAS by prioritized path distillation. Importing it registers ``cream_*`` models in timm.

From Python (``cream.api``): ``cream.search``, ``cream.retrain``, ``cream.test``, ``cream.export`` and
``cream.select`` do what the commands do and return typed results; ``cream.create_model`` builds a net,
``cream.load_supernet`` reads a search.
The search's own code lives in the package ``cream.nas``.
"""

from importlib.metadata import PackageNotFoundError, version

from cream.api import (  # noqa: F401  (the Python API)
    ExportResult,
    RetrainResult,
    SearchResult,
    SelectResult,
    TestResult,
    create_model,
    export,
    load_supernet,
    retrain,
    search,
    select,
    test,
)
from cream.space import zoo as _zoo  # noqa: F401  (registers the paper models in timm)

try:
    __version__ = version("cream")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
