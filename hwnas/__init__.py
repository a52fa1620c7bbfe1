"""hwnas: hardware-aware neural architecture search with measured per-op latency tables."""

__version__ = "0.1.0"

from hwnas import _moved

_moved.install()  # old import paths of plugins keep working, with a DeprecationWarning
