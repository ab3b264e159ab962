"""Data: Fashion-MNIST in memory, ImageFolder trees, deterministic splits, and loaders for every purpose."""

from cream.data.loaders import DataBundle, build_data, normalisation

__all__ = ["DataBundle", "build_data", "normalisation"]
