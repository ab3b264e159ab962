"""cream: one-shot NAS by prioritized path distillation. Importing it registers ``cream_*`` models in timm.

From Python (``cream.api``): ``cream.search``, ``cream.retrain``, ``cream.test`` and ``cream.export`` do what the
commands do and return typed results; ``cream.create_model`` builds a net, ``cream.load_supernet`` reads a search.
"""

import types

import cream.search as _search_package  # the package of the search code (its __init__ imports nothing)
from cream import api as _api
from cream.api import (  # noqa: F401  (the Python API)
    ExportResult,
    RetrainResult,
    SearchResult,
    TestResult,
    create_model,
    export,
    load_supernet,
    retrain,
    test,
)
from cream.space import zoo as _zoo  # noqa: F401  (registers the paper models in timm)

__version__ = "0.1.0"


class _CallableSearchPackage(types.ModuleType):
    """``cream.search`` names the package of the search code, and importing any of its modules binds that name to
    the package again; so the package itself, called, is the API's ``search``."""

    def __call__(self, *args, **kwargs) -> SearchResult:
        return _api.search(*args, **kwargs)

    __call__.__doc__ = _api.search.__doc__


_search_package.__class__ = _CallableSearchPackage
