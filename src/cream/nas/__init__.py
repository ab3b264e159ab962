"""The search: path sampling, the prioritized board, meta-matching, supernet training, final selection."""
