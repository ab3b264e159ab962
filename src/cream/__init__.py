"""cream: one-shot NAS by prioritized path distillation. Importing it registers ``cream_*`` models in timm."""

from cream.space import zoo as _zoo  # noqa: F401  (registers the paper models in timm)

__version__ = "0.1.0"
