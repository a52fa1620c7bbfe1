"""hwnas: hardware-aware neural architecture search with measured per-op latency tables."""

__version__ = "0.1.0"
