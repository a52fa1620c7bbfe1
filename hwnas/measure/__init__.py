"""Measuring ops on devices: artifacts, backend plugins, device presets, the SQLite store and the profiler."""
