"""Torch-free foundations every stage shares: user errors, the Measurement value object, atomic files, plots."""
