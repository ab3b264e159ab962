"""The search: path sampling, the prioritized board, meta-matching, supernet training, final selection.

Importing it registers the built-in training rules (``search.algorithm``); each is one module.
"""

from cream.nas import fairnas, prioritized, sandwich, spos  # noqa: F401  (each registers its rule)
